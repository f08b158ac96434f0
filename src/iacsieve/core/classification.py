"""Labels + scores -> classification metrics: the bottom-layer arithmetic every layer shares.

Decision rule everywhere: a warning is kept (predicted real, 1) when its score — P(real smell) —
is >= the threshold. With threshold 0.5 this is the argmax of a two-class softmax.

Filter vocabulary on top of the usual classification metrics:
- `fp_reduction`: share of false alarms (label 0) the filter removes (predicts 0) = specificity;
- `tp_retention`: share of real smells (label 1) the filter keeps (predicts 1) = recall.

It sits below `models/` (whose Trainer picks the best epoch by this F1) and `steps/` (whose
`steps.metrics` adds bootstrap intervals and score-file reading on top).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from iacsieve.core.errors import IacsieveError


def predict(scores: Sequence[float] | np.ndarray, threshold: float) -> np.ndarray:
    """0/1 predictions: 1 (keep the warning) where score >= threshold."""
    return (np.asarray(scores, dtype=float) >= float(threshold)).astype(int)


def compute_metrics(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    threshold: float,
    *,
    smells: Sequence[str] | None = None,
) -> dict:
    """Precision, recall, F1, accuracy, confusion matrix, FP reduction and TP retention.

    Computed with scikit-learn (`zero_division=0`) so every step reports the same numbers. With
    `smells` (one per row) the result also holds `per_smell`: the same metrics for each smell.
    """
    y_true = np.asarray(labels, dtype=int)
    y_score = np.asarray(scores, dtype=float)
    if y_true.ndim != 1 or y_true.shape != y_score.shape:
        raise IacsieveError(f"labels and scores differ in shape: {y_true.shape} vs {y_score.shape}")
    if y_true.size == 0:
        raise IacsieveError("cannot compute metrics over zero rows")
    if not np.isin(y_true, (0, 1)).all():
        raise IacsieveError("labels must be 0 (false alarm) or 1 (real smell)")
    from sklearn.metrics import (
        confusion_matrix,
        precision_recall_fscore_support,
    )  # lazy: keeps the CLI start fast

    y_pred = predict(y_score, threshold)
    # One pass for both classes: class 1's recall is TP retention, class 0's recall is FP reduction.
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=[0, 1], average=None, zero_division=0
    )
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel())
    result = {
        "precision": float(precision[1]),
        "recall": float(recall[1]),
        "f1": float(f1[1]),
        "accuracy": (tp + tn) / int(y_true.size),
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "support": int(y_true.size),
        "n_real": tp + fn,
        "n_false_alarm": tn + fp,
        "fp_reduction": float(recall[0]),  # of the false alarms (label 0), the share the filter removes
        "tp_retention": float(recall[1]),  # of the real smells (label 1), the share the filter keeps
    }
    if smells is not None:
        smell_arr = np.asarray(smells, dtype=object)
        if smell_arr.shape != y_true.shape:
            raise IacsieveError(f"smells and labels differ in length: {smell_arr.size} vs {y_true.size}")
        result["per_smell"] = {
            str(smell): compute_metrics(y_true[smell_arr == smell], y_score[smell_arr == smell], threshold)
            for smell in sorted(set(smell_arr.tolist()))
        }
    return result
