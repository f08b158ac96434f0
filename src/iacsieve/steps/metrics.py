"""Metrics for the steps: bootstrap F1 intervals, score files, headline numbers.

The metric arithmetic itself (`compute_metrics`, `predict`) is `iacsieve.core.classification`, one layer
down, so the models layer can use it too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from iacsieve.core.errors import DataError, IacsieveError
from iacsieve.core.json_values import is_int, is_number
from iacsieve.io import reading
from iacsieve.io.limits import DEFAULT as DEFAULT_LIMITS
from iacsieve.io.limits import shorten
from iacsieve.steps.settings import EvaluationSettings

SCORE_FIELDS: tuple[str, ...] = ("file", "line", "smell", "tech", "label", "score")


def bootstrap_f1_ci(
    labels: Sequence[int] | np.ndarray,
    preds: Sequence[int] | np.ndarray,
    samples: int = EvaluationSettings().bootstrap_samples,
    seed: int = 0,
    *,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of F1 (resampling rows with replacement).

    Vectorised: all resamples' confusion counts come from one index matrix (in chunks to bound
    memory), so 1000 resamples of a test set take milliseconds. Same seed, same interval.
    F1 per resample is 2TP / (2TP + FP + FN), 0 where undefined (as sklearn's zero_division=0).
    """
    y_true = np.asarray(labels, dtype=bool)
    y_pred = np.asarray(preds, dtype=bool)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise IacsieveError(f"labels and predictions differ in shape: {y_true.shape} vs {y_pred.shape}")
    if samples < 1:
        raise IacsieveError(f"bootstrap samples must be >= 1, got {samples}")
    n = y_true.size
    if n == 0:
        raise IacsieveError("cannot bootstrap over zero rows")
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // n)
    f1s = np.empty(samples, dtype=float)
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        t, p = y_true[idx], y_pred[idx]
        tp = np.count_nonzero(t & p, axis=1)
        fp = np.count_nonzero(~t & p, axis=1)
        fn = np.count_nonzero(t & ~p, axis=1)
        denom = 2 * tp + fp + fn
        f1s[start:stop] = np.divide(2 * tp, denom, out=np.zeros(stop - start), where=denom > 0)
    tail = (1.0 - confidence) / 2 * 100
    lo, hi = np.percentile(f1s, [tail, 100 - tail])
    return float(lo), float(hi)


def load_scores(path: str | Path) -> list[dict]:
    """Read a run's `val_scores.jsonl` / `test_scores.jsonl` (rows `{file,line,smell,tech,label,score}`).

    Validates what metrics depend on (label 0|1, score a finite number in [0, 1]) and names the
    file, line and field of a bad row.
    """
    path = Path(path)
    text = reading.read_regular_text(path, max_bytes=DEFAULT_LIMITS.max_file_bytes, what="scores file")
    rows: list[dict] = []
    for line_no, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        row = reading.decode_json_line(raw, path=path, line_no=line_no)
        if not isinstance(row, dict):
            raise DataError(path, line_no, "<row>", "expected a JSON object")
        label, score = row.get("label"), row.get("score")
        if not is_int(label) or label not in (0, 1):
            raise DataError(path, line_no, "label", f"must be 0 or 1, got {shorten(label)}")
        if not is_number(score) or not 0.0 <= score <= 1.0 or not math.isfinite(score):
            raise DataError(path, line_no, "score", f"must be a number in [0, 1], got {shorten(score)}")
        rows.append(row)
    if not rows:
        raise IacsieveError(f"{path}: no score rows")
    return rows


def read_json_object(path: str | Path, *, hint: str = "") -> dict:
    """A step artifact (summary, sweep, selection, champion, train log) as a dict; errors name the path."""
    return reading.read_json_object(path, what="JSON", hint=hint)  # regular files only, size-capped


def score_arrays(rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(labels, scores, smells) of score rows, ready for `compute_metrics`."""
    labels = np.array([int(r["label"]) for r in rows], dtype=int)
    scores = np.array([float(r["score"]) for r in rows], dtype=float)
    smells = [str(r.get("smell", "unknown")) for r in rows]
    return labels, scores, smells


HEADLINE_KEYS: tuple[str, ...] = (
    "threshold",
    "val_f1",
    "test_f1",
    "test_f1_lo",
    "test_f1_hi",
    "fp_reduction",
    "tp_retention",
)


def headline(
    threshold: float | None, val: Mapping[str, Any] | None, test_combined: Mapping[str, Any] | None
) -> dict[str, float]:
    """The few numbers every DVC metrics file and the KFP UI show, in one shape: the threshold, val
    F1, and on the combined test set F1 with its 95% interval, FP reduction and TP retention (per
    tech and per smell: the report). One flat row each, so `dvc metrics show` fits a terminal."""
    val, test = val or {}, test_combined or {}
    ci = test.get("f1_ci95") or {}
    values = {
        "threshold": threshold,
        "val_f1": val.get("f1"),
        "test_f1": test.get("f1"),
        "test_f1_lo": ci.get("lo"),
        "test_f1_hi": ci.get("hi"),
        "fp_reduction": test.get("fp_reduction"),
        "tp_retention": test.get("tp_retention"),
    }
    return {k: float(v) for k, v in values.items() if is_number(v)}
