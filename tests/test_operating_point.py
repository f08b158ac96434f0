"""Operating points: the champion's validation curve, `filter --min-retention / --max-fp-rate` (issue #13)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from iacsieve.cli.app import main
from iacsieve.core.classification import compute_metrics
from iacsieve.core.errors import IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.steps.freeze import freeze
from iacsieve.steps.metrics import load_scores, score_arrays
from iacsieve.steps.operating_point import (
    CURVE_FILE,
    choose_threshold,
    load_val_curve,
    score_curve,
    tradeoff_markdown,
    tradeoff_table,
)
from iacsieve.steps.train import train

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "glitch-puppet"


def synthetic_scores(n=200, seed=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
    return labels, scores


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95, 0.99, 1.0])
def test_min_retention_meets_the_retention_on_val_and_is_the_highest_such_threshold(target):
    labels, scores = synthetic_scores()
    curve = {"points": score_curve(labels, scores), "n": len(labels)}
    choice = choose_threshold(curve, min_retention=target)
    kept = compute_metrics(labels, scores, choice["threshold"])
    assert kept["tp_retention"] >= target and kept["tp_retention"] == pytest.approx(choice["tp_retention"])
    higher = scores[scores > choice["threshold"]]
    if higher.size:  # the next distinct score up would lose too many real smells
        assert compute_metrics(labels, scores, higher.min())["tp_retention"] < target


@pytest.mark.parametrize("limit", [0.05, 0.2, 0.5])
def test_max_fp_rate_keeps_at_most_that_share_of_false_alarms(limit):
    labels, scores = synthetic_scores()
    choice = choose_threshold({"points": score_curve(labels, scores), "n": 200}, max_fp_rate=limit)
    kept = compute_metrics(labels, scores, choice["threshold"])
    assert 1 - kept["fp_reduction"] <= limit + 1e-12
    lower = scores[scores < choice["threshold"]]
    if lower.size:
        assert 1 - compute_metrics(labels, scores, lower.max())["fp_reduction"] > limit


def test_choice_arguments_are_checked():
    curve = {"points": score_curve([0, 1], [0.2, 0.8]), "n": 2}
    with pytest.raises(IacsieveError, match="exactly one"):
        choose_threshold(curve)
    with pytest.raises(IacsieveError, match="--min-retention must be in"):
        choose_threshold(curve, min_retention=1.5)
    with pytest.raises(IacsieveError, match="no threshold keeps"):
        choose_threshold({"points": score_curve([0, 1], [0.9, 0.2]), "n": 2}, max_fp_rate=0.0)


@pytest.fixture(scope="module")
def frozen_champion(prepared_small, tmp_path_factory):
    """A classical run frozen by the real `freeze` (which writes val_curve.json)."""
    root = tmp_path_factory.mktemp("op")
    run_dir = train(TrainConfig(family="classical"), prepared_small, root / "run")
    selection = root / "selection.json"
    selection.write_text(
        json.dumps(
            {
                "mode": "best",
                "selected": {
                    "run": "r",
                    "family": "classical",
                    "run_dir": str(run_dir),
                    "config": {"family": "classical"},
                    "threshold": 0.5,
                    "threshold_source": "argmax",
                    "val_f1": 0.5,
                    "test": {},
                },
            }
        )
    )
    return freeze(selection, root / "champion", prepared_small), run_dir


def test_freeze_stores_the_validation_curve(frozen_champion):
    champion, run_dir = frozen_champion
    curve = load_val_curve(champion)
    labels, scores, _ = score_arrays(load_scores(run_dir / "val_scores.jsonl"))
    assert curve["n"] == labels.size and curve["points"] == score_curve(labels, scores)


def test_filter_min_retention_picks_on_val_and_says_so(frozen_champion, tmp_path, capsys):
    champion, run_dir = frozen_champion
    out = tmp_path / "kept.jsonl"
    assert (
        main(
            [
                "filter",
                "--model",
                str(champion),
                "--detections",
                str(FIXTURE / "glitch-puppet.csv"),
                "--scripts",
                str(FIXTURE / "scripts"),
                "--out",
                str(out),
                "--min-retention",
                "0.95",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    choice = choose_threshold(load_val_curve(champion), min_retention=0.95)
    labels, scores, _ = score_arrays(load_scores(run_dir / "val_scores.jsonl"))
    assert compute_metrics(labels, scores, choice["threshold"])["tp_retention"] >= 0.95
    assert (
        f"operating point (val TP retention >= 0.95, on {labels.size} validation warnings): threshold "
        f"{choice['threshold']:.4g}" in err
    )
    assert "(operating point: val TP retention >= 0.95)" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    scored = [r for r in rows if r["score"] is not None]
    assert scored and all(r["keep"] == (r["score"] >= round(choice["threshold"], 6) - 1e-6) for r in scored)


def test_filter_operating_point_needs_the_curve(frozen_champion, tmp_path, capsys):
    champion, _ = frozen_champion
    old = tmp_path / "old-champion"
    shutil.copytree(champion, old)
    (old / CURVE_FILE).unlink()
    assert (
        main(
            [
                "filter",
                "--model",
                str(old),
                "--detections",
                str(FIXTURE / "glitch-puppet.csv"),
                "--scripts",
                str(FIXTURE / "scripts"),
                "--out",
                str(tmp_path / "k.csv"),
                "--max-fp-rate",
                "0.2",
            ]
        )
        == 2
    )
    assert "val_curve.json: not found" in capsys.readouterr().err


def test_tradeoff_table_reads_thresholds_from_val_only(frozen_champion):
    _, run_dir = frozen_champion
    val, test = load_scores(run_dir / "val_scores.jsonl"), load_scores(run_dir / "test_scores.jsonl")
    rows = tradeoff_table(val, test, 0.5)
    flipped = [{**r, "label": 1 - r["label"]} for r in test]  # test labels never move a threshold
    assert [r["threshold"] for r in tradeoff_table(val, flipped, 0.5)] == [r["threshold"] for r in rows]
    assert rows[0]["rule"].startswith("frozen") and rows[0]["threshold"] == 0.5
    assert all(r["val_tp_retention"] >= t for r, t in zip(rows[1:], (0.90, 0.95, 0.99)))
    assert "| val TP retention >= 0.95 |" in tradeoff_markdown(rows)


def test_report_shows_operating_points_and_the_learning_curve(frozen_champion, tmp_path):
    from iacsieve.reporting.learning_curve import CAVEAT
    from iacsieve.reporting.report import collect_report, render_report

    champion, _ = frozen_champion
    curve = tmp_path / "learning_curve.json"
    curve.write_text(
        json.dumps(
            {
                "caveat": CAVEAT,
                "folds": 5,
                "test_rows": 172,
                "pool_size": 137,
                "threshold": 0.45,
                "zero_point": "LLM-only champion",
                "repeats_random": 2,
                "points": [
                    {"strategy": "random", "n_labels": n, "f1": f, "f1_fold_std": 0.05}
                    for n, f in ((0, 0.7), (25, 0.8))
                ],
            }
        )
    )
    text = render_report(
        collect_report(tmp_path / "results", champion, ablation=tmp_path / "none.md", learning_curve=curve)
    )
    assert "### Operating points" in text and "| val TP retention >= 0.95 |" in text
    assert CAVEAT in text and "| 25 | 0.800 ± 0.050 |" in text
    assert "![learning curve](learning_curve/learning_curve.png)" in text
