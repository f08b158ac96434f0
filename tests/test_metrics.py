"""compute_metrics matches scikit-learn; FP reduction / TP retention by hand; the bootstrap interval."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from iacsieve.core.classification import compute_metrics, predict
from iacsieve.core.errors import DataError, IacsieveError
from iacsieve.steps.metrics import bootstrap_f1_ci, load_scores, read_json_object

# 10 warnings: 4 real smells (1), 6 false alarms (0).
LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
SCORES = [0.9, 0.7, 0.5, 0.2, 0.8, 0.6, 0.4, 0.3, 0.1, 0.05]
SMELLS = ["a", "a", "b", "b", "a", "b", "a", "b", "a", "b"]


def test_metrics_equal_sklearn_on_hand_made_example():
    m = compute_metrics(LABELS, SCORES, 0.5)
    preds = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]  # score >= 0.5 (0.5 itself is kept)
    assert m["precision"] == pytest.approx(precision_score(LABELS, preds))
    assert m["recall"] == pytest.approx(recall_score(LABELS, preds))
    assert m["f1"] == pytest.approx(f1_score(LABELS, preds))
    assert m["accuracy"] == pytest.approx(accuracy_score(LABELS, preds))
    assert m["confusion_matrix"] == {"tn": 4, "fp": 2, "fn": 1, "tp": 3}
    assert (m["support"], m["n_real"], m["n_false_alarm"]) == (10, 4, 6)
    # By hand: P = 3/5, R = 3/4, F1 = 2PR/(P+R) = 2/3.
    assert m["precision"] == pytest.approx(0.6) and m["recall"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)


def test_fp_reduction_and_tp_retention_by_hand():
    m = compute_metrics(LABELS, SCORES, 0.5)
    # False alarms: scores 0.8, 0.6 kept; 0.4, 0.3, 0.1, 0.05 removed -> 4 of 6 removed.
    assert m["fp_reduction"] == pytest.approx(4 / 6)
    # Real smells: 0.9, 0.7, 0.5 kept; 0.2 dropped -> 3 of 4 kept.
    assert m["tp_retention"] == pytest.approx(3 / 4)
    strict = compute_metrics(LABELS, SCORES, 0.75)
    assert strict["fp_reduction"] == pytest.approx(5 / 6)  # only 0.8 survives
    assert strict["tp_retention"] == pytest.approx(1 / 4)  # only 0.9 survives


def test_per_smell_metrics():
    m = compute_metrics(LABELS, SCORES, 0.5, smells=SMELLS)
    assert set(m["per_smell"]) == {"a", "b"}
    a = [i for i, s in enumerate(SMELLS) if s == "a"]
    expected = compute_metrics([LABELS[i] for i in a], [SCORES[i] for i in a], 0.5)
    assert m["per_smell"]["a"] == expected
    assert sum(v["support"] for v in m["per_smell"].values()) == 10


def test_zero_division_gives_zero_not_error():
    m = compute_metrics([1, 0, 1], [0.1, 0.2, 0.3], 0.9)  # nothing kept
    assert m["precision"] == 0.0 and m["f1"] == 0.0 and m["tp_retention"] == 0.0 and m["fp_reduction"] == 1.0


def test_threshold_half_equals_softmax_argmax():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(200, 2))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert (predict(probs[:, 1], 0.5) == probs.argmax(axis=1)).all()


def test_bad_inputs_are_user_errors():
    with pytest.raises(IacsieveError):
        compute_metrics([1, 0], [0.5], 0.5)
    with pytest.raises(IacsieveError):
        compute_metrics([], [], 0.5)
    with pytest.raises(IacsieveError):
        compute_metrics([2, 0], [0.5, 0.5], 0.5)


def test_bootstrap_ci_is_deterministic_and_brackets_f1():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    preds = np.where(rng.random(300) < 0.8, labels, 1 - labels)
    f1 = f1_score(labels, preds)
    lo, hi = bootstrap_f1_ci(labels, preds, samples=500, seed=3)
    assert (lo, hi) == bootstrap_f1_ci(labels, preds, samples=500, seed=3)
    assert (lo, hi) != bootstrap_f1_ci(labels, preds, samples=500, seed=4)
    assert lo < f1 < hi and lo >= 0.0 and hi <= 1.0
    # Larger samples of the same classifier give a narrower interval.
    lo2, hi2 = bootstrap_f1_ci(np.tile(labels, 10), np.tile(preds, 10), samples=500, seed=3)
    assert hi2 - lo2 < hi - lo


def test_bootstrap_of_perfect_predictions_is_one():
    labels = [1, 0, 1, 1, 0] * 6  # enough rows that no resample lacks a real smell
    assert bootstrap_f1_ci(labels, labels, samples=200, seed=0) == (1.0, 1.0)


def test_load_scores_names_file_line_and_field(tmp_path):
    path = tmp_path / "val_scores.jsonl"
    path.write_text(
        json.dumps({"label": 1, "score": 0.4}) + "\n" + json.dumps({"label": "TP", "score": 0.4}) + "\n"
    )
    with pytest.raises(DataError, match=r"val_scores.jsonl:2: field 'label'"):
        load_scores(path)
    path.write_text(json.dumps({"label": 1, "score": 1.5}) + "\n")
    with pytest.raises(DataError, match=r":1: field 'score'"):
        load_scores(path)
    with pytest.raises(IacsieveError, match="missing.jsonl"):
        load_scores(tmp_path / "missing.jsonl")


def test_read_json_object_errors_name_the_path(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("[1]")
    with pytest.raises(IacsieveError, match="x.json: expected a JSON object"):
        read_json_object(bad)
