"""The champion's plots as PNG (matplotlib, Agg: offline, no CDN) plus their data as CSV for `dvc plots`.

- threshold_sweep: validation F1 (and P/R) vs threshold of the stage-3 champion, the chosen one marked;
- pr_curve: precision-recall of the final champion on val and test, its operating point marked;
- confusion_matrix: the final champion on the combined test set at its frozen threshold;
- seed_spread: val / test F1 of every stage-4 seed, mean line, the selected (median) seed marked.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from iacsieve.core import layout
from iacsieve.core.classification import compute_metrics
from iacsieve.core.errors import IacsieveError
from iacsieve.core.extras import require
from iacsieve.core.layout import SWEEP_FILE
from iacsieve.io.atomic import atomic_write_text
from iacsieve.method.plan import FINAL_STAGE, champion_dir, sweep_stage
from iacsieve.steps.metrics import load_scores, score_arrays

SWEEP_CHAMPION = champion_dir(sweep_stage())  # the frozen champion whose run swept the threshold
PLOT_NAMES: tuple[str, ...] = ("threshold_sweep", "pr_curve", "confusion_matrix", "seed_spread")


@functools.cache
def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (offline), imported when a figure is drawn: a refusal
    (no prepared data, another data version) comes before ~1.5 s of matplotlib and scikit-learn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IacsieveError(f"{path}: not found; run the pipeline first (make repro)") from None


def save_figure(fig: Any, path: Path) -> Path:
    """Write a figure as PNG atomically, without a timestamp, so the same plot is the same bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
    return path


def _csv(path: Path, rows: list[dict]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def plot_threshold_sweep(
    sweep: dict, out: Path, title: str = "Threshold sweep (stage-3 champion, validation)"
) -> list[Path]:
    """F1 / precision / recall vs threshold, the chosen threshold marked."""
    curve = sweep["curve"]
    x = [p["threshold"] for p in curve]
    fig, ax = pyplot().subplots(figsize=(6, 4))
    ax.plot(x, [p["f1"] for p in curve], label="F1", lw=2)
    ax.plot(x, [p["precision"] for p in curve], label="precision", lw=1, alpha=0.7)
    ax.plot(x, [p["recall"] for p in curve], label="recall", lw=1, alpha=0.7)
    best = sweep["best_threshold"]
    ax.axvline(best, color="k", ls="--", lw=1)
    ax.scatter(
        [best],
        [sweep["best_f1"]],
        color="k",
        zorder=3,
        label=f"chosen {best:.2f} (F1 {sweep['best_f1']:.3f})",
    )
    ax.set(xlabel="threshold", ylabel="validation", title=title)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return [
        save_figure(fig, out / "threshold_sweep.png"),
        _csv(
            out / "threshold_sweep.csv",
            [{k: p[k] for k in ("threshold", "f1", "precision", "recall")} for p in curve],
        ),
    ]


def plot_pr_curve(scores: dict[str, list[dict]], threshold: float, out: Path) -> list[Path]:
    """Precision-recall curves per split (val, test), each with the operating point at `threshold`."""
    from sklearn.metrics import precision_recall_curve

    fig, ax = pyplot().subplots(figsize=(5, 5))
    rows = []
    for split, score_rows in scores.items():
        labels, values, _ = score_arrays(score_rows)
        precision, recall, _ = precision_recall_curve(labels, values)
        ax.plot(recall, precision, label=split, lw=1.5)
        m = compute_metrics(labels, values, threshold)
        ax.scatter([m["recall"]], [m["precision"]], zorder=3, marker="o")
        rows += [
            {"split": split, "recall": round(float(r), 6), "precision": round(float(p), 6)}
            for r, p in zip(recall, precision)
        ]
    ax.set(
        xlabel="recall (TP retention)",
        ylabel="precision",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
        title=f"Champion precision-recall (dots: threshold {threshold:.2f})",
    )
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return [save_figure(fig, out / "pr_curve.png"), _csv(out / "pr_curve.csv", rows)]


def plot_confusion_matrix(
    labels: np.ndarray, values: np.ndarray, threshold: float, out: Path, title: str = "test (combined)"
) -> list[Path]:
    cm = compute_metrics(labels, values, threshold)["confusion_matrix"]
    grid = np.array([[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]])
    fig, ax = pyplot().subplots(figsize=(4, 3.6))
    ax.imshow(grid, cmap="Blues")
    for (i, j), v in np.ndenumerate(grid):
        ax.text(
            j,
            i,
            str(v),
            ha="center",
            va="center",
            color="white" if v > grid.max() / 2 else "black",
            fontsize=14,
        )
    ax.set_xticks([0, 1], ["filtered (0)", "kept (1)"])
    ax.set_yticks([0, 1], ["false alarm (0)", "real smell (1)"])
    ax.set(xlabel="prediction", ylabel="label", title=f"Champion, {title}, threshold {threshold:.2f}")
    return [save_figure(fig, out / "confusion_matrix.png")]


def plot_seed_spread(selection: dict, out: Path) -> list[Path]:
    """Val and test F1 of each stage-4 seed; the median (selected) seed highlighted."""
    runs = sorted(selection["runs"], key=lambda r: r["run"])
    names = [r["run"] for r in runs]
    val = [r["val_f1"] for r in runs]
    test = [r["test"]["combined"]["f1"] for r in runs]
    fig, ax = pyplot().subplots(figsize=(6, 3.5))
    x = np.arange(len(runs))
    ax.scatter(x, val, label="val F1", marker="o")
    ax.scatter(x, test, label="test F1 (combined)", marker="s")
    for values, style in ((val, "-"), (test, "--")):
        ax.axhline(float(np.mean(values)), ls=style, lw=1, color="gray")
    chosen = selection["selected"]["run"]
    if chosen in names:
        i = names.index(chosen)
        ax.scatter([i], [val[i]], s=160, facecolors="none", edgecolors="k", label="selected (median val F1)")
    ax.set_xticks(x, [n.replace("champion_", "") for n in names])
    ax.set(ylabel="F1", title="Stage 4: spread over seeds (frozen threshold)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    rows = [
        {"run": n, "val_f1": v, "test_f1": t, "selected": n == chosen} for n, v, t in zip(names, val, test)
    ]
    return [save_figure(fig, out / "seed_spread.png"), _csv(out / "seed_spread.csv", rows)]


def champion_scores(champion: Path, card: dict, data: str | Path) -> dict[str, list[dict]]:
    """The champion's val and test score rows: from its run dir when that is here, else by scoring the
    prepared data with the champion itself (a champion pulled from a cluster has no local run dir).

    Scoring checks first that `data` is the data the champion was frozen on (champion.json's data_md5).
    """
    run_dir = Path(card["run_dir"])
    files = {"val": run_dir / layout.VAL_SCORES, "test": run_dir / layout.TEST_SCORES}
    if all(path.is_file() for path in files.values()):
        return {split: load_scores(path) for split, path in files.items()}
    from iacsieve.data.records import load_prepared
    from iacsieve.models import load_scorer
    from iacsieve.steps.freeze import data_md5
    from iacsieve.steps.train import score_rows

    if data_md5(data) != card["data_md5"]:
        raise IacsieveError(
            f"{data}: not the data {champion} was frozen on (data_md5 {card['data_md5']}); "
            f"`dvc pull data.dvc && dvc repro prepare` at the champion's commit"
        )
    scorer = load_scorer(champion)
    scores = {}
    for split in files:
        records = load_prepared(data, split)
        scores[split] = score_rows(records, scorer.predict_proba(records))
    return scores


def _sweep(card: dict, stage3_champion: str | Path, val_rows: list[dict]) -> tuple[dict, str]:
    """The stage-3 threshold sweep when its run dir is here, else a sweep of the champion's own val scores."""
    import tempfile

    from iacsieve.steps.threshold import sweep_threshold

    stage3_card = Path(stage3_champion) / layout.CHAMPION_FILE
    for run_dir in ([Path(_read(stage3_card)["run_dir"])] if stage3_card.is_file() else []) + [
        Path(card["run_dir"])
    ]:
        if (run_dir / SWEEP_FILE).is_file():
            return _read(run_dir / SWEEP_FILE), "Threshold sweep (stage-3 champion, validation)"
    with tempfile.TemporaryDirectory(prefix="iacsieve-sweep-") as tmp:
        scores = Path(tmp) / layout.VAL_SCORES
        scores.write_text("".join(json.dumps(row) + "\n" for row in val_rows), encoding="utf-8")
        sweep = sweep_threshold(scores, Path(tmp) / SWEEP_FILE)
    return sweep, f"Threshold sweep (champion's val scores; its frozen threshold {card['threshold']:.2f})"


def render_plots(
    results: str | Path = layout.RESULTS_DIR,
    champion: str | Path = layout.CHAMPION_DIR,
    out: str | Path = layout.PLOTS_DIR,
    *,
    stage3_champion: str | Path = SWEEP_CHAMPION,
    data: str | Path = layout.PREPARED_DIR,
    selection: str | Path | None = None,
) -> list[Path]:
    """Render every plot from the pipeline's outputs; returns the files written.

    Without local run dirs (a champion pulled from a cluster) the scores come from scoring `data`
    with the champion, and the seed spread from `selection` (the pulled stage-4 selection.json),
    skipped when there is none.
    """
    require("matplotlib", "sklearn")  # a light install hears which extra first, not what is missing
    results, champion, out = Path(results), Path(champion), Path(out)
    card = _read(champion / layout.CHAMPION_FILE)
    threshold = float(card["threshold"])
    written: list[Path] = []

    scores = champion_scores(champion, card, data)
    sweep, title = _sweep(card, stage3_champion, scores["val"])
    written += plot_threshold_sweep(sweep, out, title)
    written += plot_pr_curve(scores, threshold, out)
    labels, values, _ = score_arrays(scores["test"])
    written += plot_confusion_matrix(labels, values, threshold, out)
    selection = (
        Path(selection)
        if selection
        else layout.selection_dir_in(results, FINAL_STAGE) / layout.SELECTION_FILE
    )
    if selection.is_file():
        written += plot_seed_spread(_read(selection), out)
    return written
