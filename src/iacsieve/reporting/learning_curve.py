"""How much does a person's hour buy? F1 against the number of human labels (a report-only experiment).

Cross-fitting over the human-labelled test split: the test rows are cut into k stratified folds; for
each fold, n "reviews" come from the other k-1 folds and the score from the held-out fold. A
throwaway classical model is trained on the LLM-labelled train split plus the n reviewed rows (the
pipeline's `human.train: add`, via `iacsieve.human.apply_human_labels`) and scored at the champion's
threshold. n = 0 is the LLM-only champion itself. Two ways to pick the n rows: `random`, and
`uncertainty` (the review queue's own rule, `iacsieve.review.pick_for_review`, on the LLM-only
model's scores). Held-out predictions of all folds are pooled into one F1 per n (and per-fold F1s
give the spread).

This reuses test rows, so it is never a headline figure and never feeds a champion: every model here
is discarded. It answers one question — how fast do human labels pay off — on the only human labels
this repository has.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from iacsieve.core import layout
from iacsieve.core.classification import compute_metrics
from iacsieve.core.errors import IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.human import HumanLabel, apply_human_labels, record_key
from iacsieve.data.records import WarningRecord, load_prepared
from iacsieve.filtering.review import candidate_for_record, pick_for_review
from iacsieve.io.atomic import atomic_write_json, atomic_write_text
from iacsieve.models import FAMILIES, Scorer, family_of, load_scorer

log = logging.getLogger(__name__)

DEFAULT_SIZES: tuple[int, ...] = (0, 25, 50, 100)
THROWAWAY = "classical"  # the curve's family where the champion's own does not refit cheaply
STRATEGIES: tuple[str, ...] = ("random", "uncertainty")
CAVEAT = (
    "Report-only experiment, not a headline figure: it reuses the human-labelled test split. Reviews come "
    "from k-1 folds and F1 from the held-out fold, so no model is scored on a row it saw, but the same rows "
    "serve as simulated reviews and as the yardstick. The models are throwaway (classical family); none is "
    "selected, frozen or shipped."
)


def _base(champion_dir: str | Path | None) -> tuple[TrainConfig, float, Scorer | None]:
    """(throwaway config, threshold, scorer of the n = 0 point or None to train it).

    A champion whose family refits cheaply (`ModelFamily.refits_cheaply`: classical) is its own
    n = 0 point and lends its config. Another family's champion lends only its threshold: the n = 0
    point is then a `THROWAWAY`-family LLM-only model, so every point of the curve compares the same family.
    """
    if champion_dir is None:
        return TrainConfig(family=THROWAWAY), 0.5, None
    from iacsieve.steps.freeze import load_champion

    card = load_champion(champion_dir)
    if card["family"] not in FAMILIES or not family_of(card["family"]).refits_cheaply:
        return TrainConfig(family=THROWAWAY), float(card["threshold"]), None
    return TrainConfig.from_dict(card["config"]), float(card["threshold"]), load_scorer(champion_dir)


def _fit_scores(
    config: TrainConfig, train: list[WarningRecord], val: list[WarningRecord], score: list[WarningRecord]
) -> np.ndarray:
    family = family_of(config.family)
    with tempfile.TemporaryDirectory(prefix="iacsieve-lc-") as tmp:
        family.fit(config, train, val, Path(tmp) / "model")
        return family.score(family.load(Path(tmp) / "model"), score)


def pick_reviews(
    pool: Sequence[WarningRecord],
    pool_scores: np.ndarray,
    n: int,
    strategy: str,
    threshold: float,
    rng: np.random.Generator,
) -> list[WarningRecord]:
    """The n pool rows a reviewer labels first under a strategy (random draw, or the review queue's rule)."""
    if n == 0:
        return []
    if strategy == "random":
        return [pool[i] for i in rng.permutation(len(pool))[:n]]
    if strategy == "uncertainty":
        by_key = {record_key(r): r for r in pool}
        picked = pick_for_review(
            [candidate_for_record(r, float(s), threshold) for r, s in zip(pool, pool_scores)], n
        )
        return [by_key[c.row.key] for c in picked]
    raise IacsieveError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def learning_curve(
    prepared_dir: str | Path,
    out_dir: str | Path,
    *,
    champion_dir: str | Path | None = None,
    sizes: Sequence[int] = DEFAULT_SIZES,
    folds: int = 5,
    seed: int = 0,
    repeats: int = 2,
    strategies: Sequence[str] = STRATEGIES,
) -> dict:
    """Run the experiment; write learning_curve.{json,csv,md,png} into `out_dir`; return the result.

    Long because the experiment is one nest of loops (strategy x repeat x fold x size) filling two
    shared accumulators (pooled scores, per-fold F1); split, each part would take them all as arguments.
    """
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise IacsieveError(f"--folds must be >= 2, got {folds}")
    if repeats < 1:
        raise IacsieveError(f"--repeats must be >= 1, got {repeats}")
    for strategy in strategies:
        if strategy not in STRATEGIES:
            raise IacsieveError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    train, val = load_prepared(prepared_dir, "train"), load_prepared(prepared_dir, "val")
    test = load_prepared(prepared_dir, "test")
    config, threshold, champion = _base(champion_dir)
    labels = np.array([r.label for r in test], dtype=int)
    zero = (
        np.asarray(champion.predict_proba(test), dtype=float)
        if champion is not None
        else _fit_scores(config, train, val, test)
    )
    pool_size = len(test) - -(-len(test) // folds)  # the smallest k-1 folds
    grid = sorted({int(n) for n in sizes if 0 <= int(n) <= pool_size} | {0, pool_size})
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_index = list(splitter.split(np.zeros(len(test)), labels))
    runs = {s: (repeats if s == "random" else 1) for s in strategies}
    total = sum(runs.values()) * folds * (len(grid) - 1)
    done = 0
    pooled: dict[tuple[str, int, int], np.ndarray] = {}
    per_fold: dict[tuple[str, int], list[float]] = {}
    for strategy, reps in runs.items():
        for rep in range(reps):
            for n in grid:
                pooled[(strategy, n, rep)] = zero.copy() if n == 0 else np.full(len(test), np.nan)
            for f, (pool_idx, held_idx) in enumerate(fold_index):
                rng = np.random.default_rng([seed, rep, f])
                pool = [test[i] for i in pool_idx]
                held = [test[i] for i in held_idx]
                for n in grid:
                    if n == 0:
                        scores = zero[held_idx]
                    else:
                        reviews = pick_reviews(
                            pool, zero[pool_idx], min(n, len(pool)), strategy, threshold, rng
                        )
                        human = {record_key(r): _as_human(r) for r in reviews}
                        scores = _fit_scores(
                            config, apply_human_labels(train, human, mode="add", val_fraction=0.0), val, held
                        )
                        pooled[(strategy, n, rep)][held_idx] = scores
                        done += 1
                        log.info(
                            "learning curve %d/%d: %s n=%d fold %d/%d", done, total, strategy, n, f + 1, folds
                        )
                    if n or rep == 0:  # the n = 0 point is the same model in every repeat
                        per_fold.setdefault((strategy, n), []).append(
                            compute_metrics(labels[held_idx], scores, threshold)["f1"]
                        )
    points = []
    for strategy, reps in runs.items():
        for n in grid:
            pooled_f1 = [
                compute_metrics(labels, pooled[(strategy, n, rep)], threshold)["f1"] for rep in range(reps)
            ]
            fold_f1 = per_fold[(strategy, n)]
            points.append(
                {
                    "strategy": strategy,
                    "n_labels": n,
                    "f1": float(np.mean(pooled_f1)),
                    "f1_fold_mean": float(np.mean(fold_f1)),
                    "f1_fold_std": float(np.std(fold_f1, ddof=1)),
                    "runs": reps,
                }
            )
    result = {
        "caveat": CAVEAT,
        "folds": folds,
        "seed": seed,
        "repeats_random": repeats,
        "threshold": threshold,
        "family": config.family,
        "config": config.to_dict(),
        "zero_point": "LLM-only champion" if champion else f"LLM-only {config.family} model",
        "test_rows": len(test),
        "pool_size": pool_size,
        "points": points,
    }
    write_outputs(result, out_dir)
    return result


def _as_human(record: WarningRecord) -> HumanLabel:
    """A test row's oracle label as if a reviewer had given it (the experiment's simulated review)."""
    return HumanLabel(
        key=record_key(record),
        tech=record.tech,
        smell=record.smell,
        file=record.file,
        line=record.line,
        content=record.content,
        label=int(record.label),  # type: ignore[arg-type]  # prepared rows are labelled
        reviewer="oracle",
        date="",
        with_context=record.with_context,
    )


def markdown(result: dict, *, image: str = layout.LEARNING_CURVE_PNG) -> str:
    """The experiment as a Markdown section (the caveat first); `image`: the PNG's path from the reader."""
    lines = [
        "## How much does a person's hour buy? (learning curve)",
        "",
        f"> {result['caveat']}",
        "",
        f"{result['folds']}-fold cross-fitting over the {result['test_rows']} human-labelled test rows "
        f"(at most {result['pool_size']} reviews per fold), threshold {result['threshold']:.2f}; n = 0 is the "
        f"{result['zero_point']}. F1 pools the held-out predictions of all folds"
        f" (random draws: mean over {result['repeats_random']} repeats); ± = std of per-fold F1.",
        "",
        "| human labels | " + " | ".join(f"F1 ({s})" for s in _strategies(result)) + " |",
        "| ---: | " + " | ".join("---:" for _ in _strategies(result)) + " |",
    ]
    by = {(p["strategy"], p["n_labels"]): p for p in result["points"]}
    for n in sorted({p["n_labels"] for p in result["points"]}):
        cells = [f"{by[(s, n)]['f1']:.3f} ± {by[(s, n)]['f1_fold_std']:.3f}" for s in _strategies(result)]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", f"![learning curve]({image})", ""]
    return "\n".join(lines)


def _strategies(result: dict) -> list[str]:
    return list(dict.fromkeys(p["strategy"] for p in result["points"]))


def write_outputs(result: dict, out_dir: str | Path) -> None:
    """learning_curve.json / .csv / .md and the PNG figure (matplotlib, offline)."""
    from iacsieve.reporting.plots import pyplot, save_figure

    out_dir = Path(out_dir)
    atomic_write_json(out_dir / layout.LEARNING_CURVE_JSON, result)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(result["points"][0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(result["points"])
    atomic_write_text(out_dir / layout.LEARNING_CURVE_CSV, buffer.getvalue())
    atomic_write_text(out_dir / layout.LEARNING_CURVE_MD, markdown(result))
    fig, ax = pyplot().subplots(figsize=(6, 4))
    strategies = _strategies(result)
    for i, strategy in enumerate(strategies):
        pts = [p for p in result["points"] if p["strategy"] == strategy]
        shift = (i - (len(strategies) - 1) / 2) * 1.5  # side by side, so the error bars stay readable
        x = [p["n_labels"] + shift for p in pts]
        ax.errorbar(
            x,
            [p["f1"] for p in pts],
            yerr=[p["f1_fold_std"] for p in pts],
            marker="o",
            capsize=3,
            label=f"{strategy} reviews",
        )
    ax.set_xlabel("human labels added to the LLM-labelled train split")
    ax.set_ylabel("F1 on held-out human labels")
    ax.set_title(
        "F1 vs human labels (cross-fitted on the test split;\nreport-only, not a headline figure)", fontsize=9
    )
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, out_dir / layout.LEARNING_CURVE_PNG)
