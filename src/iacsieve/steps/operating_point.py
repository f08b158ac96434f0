"""Operating points: trade false alarms for real smells without retraining, decided on validation.

At freeze time the champion gets `val_curve.json` (`write_val_curve`): for every distinct validation
score, the TP retention and FP reduction of keeping warnings scored >= it. `iacsieve filter
--min-retention R` then keeps the highest threshold whose validation TP retention is >= R (the most
false alarms removed while losing at most 1 - R of the real smells); `--max-fp-rate F` keeps the lowest
threshold whose validation FP rate (share of false alarms kept, 1 - FP reduction) is <= F. Test data
is never read here; `tradeoff_table` shows val and test side by side for the report only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from iacsieve.core import layout
from iacsieve.core.classification import compute_metrics
from iacsieve.core.errors import IacsieveError
from iacsieve.core.val_curve import CURVE_FILE as CURVE_FILE  # re-exported: its old home
from iacsieve.core.val_curve import choose_threshold as choose_threshold
from iacsieve.core.val_curve import describe_choice as describe_choice
from iacsieve.core.val_curve import load_val_curve as load_val_curve
from iacsieve.io.atomic import atomic_write_json
from iacsieve.steps.metrics import load_scores, score_arrays

RETENTION_TARGETS: tuple[float, ...] = (0.90, 0.95, 0.99)


def score_curve(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> list[dict]:
    """One point per distinct score t (descending): keeping score >= t gives tp/fp counts, retention, FP reduction."""
    from sklearn.metrics import roc_curve

    y, s = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    n_real, n_fa = int(y.sum()), int(y.size - y.sum())
    if n_real == 0 or n_fa == 0:
        raise IacsieveError("a score curve needs both real smells and false alarms in the validation rows")
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    points = []
    for f, t, thr in zip(fpr[1:], tpr[1:], thresholds[1:]):  # the first point (threshold inf) keeps nothing
        points.append(
            {
                "threshold": float(thr),
                "tp": int(round(t * n_real)),
                "fp": int(round(f * n_fa)),
                "tp_retention": float(t),
                "fp_reduction": float(1.0 - f),
            }
        )
    return points


def write_val_curve(champion_dir: str | Path, run_dir: str | Path) -> Path:
    """`<champion_dir>/val_curve.json` from the run's `val_scores.jsonl` (freeze calls this)."""
    labels, scores, _ = score_arrays(load_scores(Path(run_dir) / layout.VAL_SCORES))
    curve = {
        "source": "validation",
        "n": int(labels.size),
        "n_real": int(labels.sum()),
        "n_false_alarm": int(labels.size - labels.sum()),
        "rule": "keep when score >= threshold",
        "points": score_curve(labels, scores),
    }
    return atomic_write_json(Path(champion_dir) / CURVE_FILE, curve)


def tradeoff_table(
    val_rows: list[dict], test_rows: list[dict], frozen: float, targets: Sequence[float] = RETENTION_TARGETS
) -> list[dict]:
    """Rows (rule, threshold, FP reduction and TP retention on val and test): the frozen threshold, then
    the threshold each validation retention target picks. Thresholds come from val only."""
    val_labels, val_scores, _ = score_arrays(val_rows)
    test_labels, test_scores, _ = score_arrays(test_rows)
    curve = {"points": score_curve(val_labels, val_scores), "n": int(val_labels.size)}
    choices = [("frozen (best val F1)", frozen)]
    choices += [
        (f"val TP retention >= {t:g}", choose_threshold(curve, min_retention=t)["threshold"]) for t in targets
    ]
    rows = []
    for rule, threshold in choices:
        v = compute_metrics(val_labels, val_scores, threshold)
        t = compute_metrics(test_labels, test_scores, threshold)
        rows.append(
            {
                "rule": rule,
                "threshold": float(threshold),
                "val_fp_reduction": v["fp_reduction"],
                "val_tp_retention": v["tp_retention"],
                "val_f1": v["f1"],
                "test_fp_reduction": t["fp_reduction"],
                "test_tp_retention": t["tp_retention"],
                "test_f1": t["f1"],
            }
        )
    return rows


def tradeoff_markdown(rows: list[dict]) -> str:
    lines = [
        "| operating point | threshold | FP reduction (val) | TP retention (val) | FP reduction (test) "
        "| TP retention (test) | F1 (test) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['rule']} | {r['threshold']:.3f} | {r['val_fp_reduction']:.3f} | {r['val_tp_retention']:.3f} "
            f"| {r['test_fp_reduction']:.3f} | {r['test_tp_retention']:.3f} | {r['test_f1']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def tradeoff_for_run(run_dir: str | Path, frozen: float) -> list[dict]:
    """`tradeoff_table` over a run directory's val/test score files (the report calls this for the champion)."""
    run_dir = Path(run_dir)
    return tradeoff_table(
        load_scores(run_dir / layout.VAL_SCORES), load_scores(run_dir / layout.TEST_SCORES), frozen
    )
