"""Evaluate one run under a decision rule: metrics on validation and on each test set.

Rules (where the threshold comes from):
- `argmax`: 0.5 (the two-class softmax argmax);
- `threshold`: the run's own validation sweep (`threshold_sweep_results.json`);
- `frozen`: the `threshold` of a champion file (stage 4 reads stage 3's champion by declared path).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iacsieve.core import layout
from iacsieve.core.artifacts import EVALUATION, RUN_SUMMARY, SWEEP, TRAIN_LOG, read_artifact, write_artifact
from iacsieve.core.classification import compute_metrics, predict
from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.layout import (
    EVAL_FILE,
    EVAL_SETS,
    SUMMARY_FILE,
    SWEEP_FILE,
    TECHS,
    TEST_SETS,
)
from iacsieve.core.run_config import read_run_settings
from iacsieve.core.settings import parse_block
from iacsieve.steps.freeze import load_champion
from iacsieve.steps.metrics import bootstrap_f1_ci, load_scores, score_arrays
from iacsieve.steps.settings import EvaluationSettings

log = logging.getLogger(__name__)

RULES = layout.RULES
_DEFAULT = EvaluationSettings()  # the declared defaults (params.yaml `evaluation:`)


def resolve_threshold(
    run_dir: Path, rule: str, sweep_file: str | Path | None = None, champion_file: str | Path | None = None
) -> tuple[float, str]:
    """(threshold, source) for a rule; the source says where the number came from."""
    if rule == "argmax":
        return 0.5, "argmax"
    if rule == "threshold":
        path = Path(sweep_file) if sweep_file is not None else run_dir / SWEEP_FILE
        sweep = read_artifact(
            SWEEP, path, hint="run `iacsieve step sweep-threshold` first", needs=["best_threshold"]
        )
        value = sweep["best_threshold"]
        if not 0.0 <= value <= 1.0:
            raise IacsieveError(f"{path}: 'best_threshold' must be a number in [0, 1], got {value!r}")
        return float(value), f"sweep:{path}"
    if rule == "frozen":
        if champion_file is None:
            raise ConfigError(
                "champion_file", "rule 'frozen' needs a champion file (champion.json)", source="evaluate"
            )
        champion = load_champion(champion_file)
        return float(champion["threshold"]), f"frozen:{champion_file}"
    raise ConfigError(
        "rule", f"unknown decision rule {rule!r} (known: {', '.join(RULES)})", source="evaluate"
    )


def evaluate_rows(
    rows: list[dict],
    threshold: float,
    *,
    bootstrap_samples: int = _DEFAULT.bootstrap_samples,
    bootstrap_seed: int = _DEFAULT.bootstrap_seed,
) -> dict:
    """Metrics (with per-smell breakdown) of score rows at a threshold, plus a bootstrap F1 interval."""
    _check_bootstrap(bootstrap_samples, bootstrap_seed)
    labels, scores, smells = score_arrays(rows)
    metrics = compute_metrics(labels, scores, threshold, smells=smells)
    lo, hi = bootstrap_f1_ci(labels, predict(scores, threshold), bootstrap_samples, bootstrap_seed)
    metrics["f1_ci95"] = {"lo": lo, "hi": hi, "samples": bootstrap_samples, "seed": bootstrap_seed}
    return metrics


def _check_bootstrap(samples: int, seed: int) -> None:
    """The bounds of params.yaml's `evaluation:` block, for every caller (one declaration)."""
    values = {"bootstrap_samples": samples, "bootstrap_seed": seed}
    parse_block(EvaluationSettings, values, EvaluationSettings.block, source="evaluate")


def evaluate(
    run_dir: str | Path,
    results_dir: str | Path,
    rule: str = "argmax",
    sweep_file: str | Path | None = None,
    champion_file: str | Path | None = None,
    bootstrap_samples: int = _DEFAULT.bootstrap_samples,
    bootstrap_seed: int = _DEFAULT.bootstrap_seed,
) -> dict:
    """Write `<results_dir>/<set>/evaluation_metadata.json` for val + each test set, and `summary.json`.

    Reads only the run's score files, config and train log (no model is loaded). `summary.json` is
    written last, so its presence means the evaluation is complete. Returns the summary.
    """
    run_dir, results_dir = Path(run_dir), Path(results_dir)
    if not run_dir.is_dir():
        raise IacsieveError(f"{run_dir}: run directory not found")
    config = _read_config(run_dir / layout.CONFIG_FILE)
    train_log = read_artifact(TRAIN_LOG, run_dir / layout.TRAIN_LOG, hint="is the run complete?")
    val_rows = load_scores(run_dir / layout.VAL_SCORES)
    test_rows = load_scores(run_dir / layout.TEST_SCORES)
    threshold, source = resolve_threshold(run_dir, rule, sweep_file, champion_file)

    by_set = rows_by_set(run_dir, val_rows, test_rows)

    header = {
        "run": train_log.get("run") or run_dir.name,
        "family": config["family"],
        "rule": rule,
        "threshold": threshold,
        "threshold_source": source,
    }
    per_set: dict[str, dict] = {}
    for name in EVAL_SETS:
        metrics = evaluate_rows(
            by_set[name], threshold, bootstrap_samples=bootstrap_samples, bootstrap_seed=bootstrap_seed
        )
        per_set[name] = metrics
        evaluation = {**header, "set": name, "n": len(by_set[name]), **metrics}
        write_artifact(EVALUATION, results_dir / name / EVAL_FILE, evaluation)

    summary = {
        **header,
        "run_dir": str(run_dir),
        "config": config,
        "use_context": bool(config.get("use_context", False)),
        "val": per_set["val"],
        "test": {name: per_set[name] for name in TEST_SETS},
        "samples_seen": training_cost(train_log),
    }
    write_artifact(RUN_SUMMARY, results_dir / SUMMARY_FILE, summary)
    log.info(
        "%s (%s, threshold %.2f): val F1 %.4f, test F1 %.4f",
        run_dir.name,
        rule,
        threshold,
        per_set["val"]["f1"],
        per_set["combined"]["f1"],
    )
    return summary


def rows_by_set(run_dir: Path, val_rows: list[dict], test_rows: list[dict]) -> dict[str, list[dict]]:
    """Score rows per evaluation set: val, combined test, and each tech's share of test."""
    by_set = {"val": val_rows, "combined": test_rows}
    for tech in TECHS:
        by_set[tech] = [r for r in test_rows if r.get("tech") == tech]
        if not by_set[tech]:
            raise IacsieveError(f"{run_dir / layout.TEST_SCORES}: no rows with tech {tech!r}")
    return by_set


def _read_config(path: Path) -> dict:
    config = read_run_settings(path, hint="is the run complete?")
    if "family" not in config:
        raise ConfigError("family", "missing (expected a mapping of run settings)", source=path)
    return config


def training_cost(train_log: Mapping[str, Any]) -> int:
    """Deterministic training cost for tie-breaks: training rows times epochs run (wall time varies)."""
    epochs = train_log.get("epochs_run") or len(train_log.get("epochs") or []) or 1
    return int(train_log.get("n_train") or 0) * int(epochs)
