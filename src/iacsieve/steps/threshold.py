"""Threshold sweep: pick the decision threshold that maximises validation F1 (never test)."""

from __future__ import annotations

import logging
from pathlib import Path

from iacsieve.core.artifacts import SWEEP, write_artifact
from iacsieve.core.classification import compute_metrics
from iacsieve.core.settings import parse_block
from iacsieve.steps.metrics import load_scores, score_arrays
from iacsieve.steps.settings import SweepSettings

log = logging.getLogger(__name__)

TIE_CENTRE = 0.5
_DECIMALS = 6  # thresholds are rounded to 1e-6 (as `SweepSettings.grid` builds them)
_F1_TOLERANCE = 1e-12  # F1s equal up to float noise count as tied


_DEFAULT = SweepSettings()  # the declared defaults (params.yaml `threshold_sweep:`)


def threshold_grid(
    start: float = _DEFAULT.start, stop: float = _DEFAULT.stop, step: float = _DEFAULT.step
) -> list[float]:
    """Thresholds start, start+step, ..., up to and including stop, checked as params.yaml's
    `threshold_sweep:` block is (one declaration: `SweepSettings`)."""
    sweep = parse_block(
        SweepSettings, {"start": start, "stop": stop, "step": step}, SweepSettings.block, source="sweep"
    )
    return sweep.grid()


def best_point(curve: list[dict]) -> dict:
    """The curve point with the highest F1; ties go to the threshold nearest 0.5, then the lower."""
    top = max(point["f1"] for point in curve)
    tied = [p for p in curve if p["f1"] >= top - _F1_TOLERANCE]
    return min(tied, key=lambda p: (round(abs(p["threshold"] - TIE_CENTRE), _DECIMALS), p["threshold"]))


def sweep_threshold(
    val_scores: str | Path,
    out_file: str | Path,
    start: float = _DEFAULT.start,
    stop: float = _DEFAULT.stop,
    step: float = _DEFAULT.step,
) -> dict:
    """F1 / precision / recall on validation scores at each threshold of the grid; the best one.

    Writes `out_file` (normally `<run>/threshold_sweep_results.json`) atomically with the full curve,
    which DVC can plot (x = threshold, y = f1).
    """
    grid = threshold_grid(start, stop, step)
    labels, scores, _ = score_arrays(load_scores(val_scores))
    curve = []
    for threshold in grid:
        m = compute_metrics(labels, scores, threshold)
        curve.append(
            {"threshold": threshold, "f1": m["f1"], "precision": m["precision"], "recall": m["recall"]}
        )
    best = best_point(curve)
    result = {
        "best_threshold": best["threshold"],
        "best_f1": best["f1"],
        "start": float(start),
        "stop": float(stop),
        "step": float(step),
        "tie_rule": "highest F1, then nearest 0.5, then lower threshold",
        "n": int(labels.size),
        "val_scores": Path(
            val_scores
        ).name,  # the file name: a path could be a temp dir (DVC hashes this file)
        "curve": curve,
    }
    write_artifact(SWEEP, out_file, result)
    log.info(
        "threshold sweep over %d points: best %.2f (val F1 %.4f)", len(grid), best["threshold"], best["f1"]
    )
    return result
