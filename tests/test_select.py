"""select: ranks by validation only (test metrics never choose), median across seeds, the ranking files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_evaluate import make_run

from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.steps.evaluate import evaluate
from iacsieve.steps.selection import select_runs


def write_summary(
    root: Path, run: str, val_f1: float, test_f1: float, *, fp_red: float = 0.5, cost: int = 100
) -> Path:
    """A results dir holding only what select reads (summary.json)."""
    res = root / run
    res.mkdir(parents=True)
    test = {
        s: {"f1": test_f1, "fp_reduction": 0.5, "tp_retention": 0.9}
        for s in ("combined", "ansible", "chef", "puppet")
    }
    (res / "summary.json").write_text(
        json.dumps(
            {
                "run": run,
                "family": "classical",
                "run_dir": f"runs/{run}",
                "config": {"family": "classical"},
                "threshold": 0.5,
                "threshold_source": "argmax",
                "samples_seen": cost,
                "val": {"f1": val_f1, "fp_reduction": fp_red, "tp_retention": 0.8},
                "test": test,
            }
        )
    )
    return res


def test_choice_follows_val_even_when_test_strongly_disagrees(tmp_path):
    # Run "valgood": separates validation well, test badly; "testgood": the opposite.
    valgood = make_run(tmp_path / "runs", "valgood", val_quality=0.9, test_quality=-0.9, seed=1)
    testgood = make_run(tmp_path / "runs", "testgood", val_quality=0.1, test_quality=0.9, seed=1)
    res = [tmp_path / "res" / "valgood", tmp_path / "res" / "testgood"]
    a = evaluate(valgood, res[0], bootstrap_samples=20)
    b = evaluate(testgood, res[1], bootstrap_samples=20)
    assert a["val"]["f1"] > b["val"]["f1"] and a["test"]["combined"]["f1"] < b["test"]["combined"]["f1"] - 0.3
    sel = select_runs(res, tmp_path / "sel", mode="best")
    assert sel["selected"]["run"] == "valgood" and sel["selected"]["run_dir"] == str(valgood)
    assert [r["run"] for r in sel["runs"]] == ["valgood", "testgood"]
    assert sel["selected"]["test"] == a["test"]  # test metrics carried along for the report


def test_swapping_test_metrics_does_not_change_choice(tmp_path):
    dirs = [
        write_summary(tmp_path, "a", 0.80, 0.10),
        write_summary(tmp_path, "b", 0.70, 0.95),
        write_summary(tmp_path, "c", 0.60, 0.99),
    ]
    first = select_runs(dirs, tmp_path / "s1")["selected"]["run"]
    for d, test_f1 in zip(dirs, (0.99, 0.10, 0.50)):
        s = json.loads((d / "summary.json").read_text())
        s["test"] = {k: {**v, "f1": test_f1} for k, v in s["test"].items()}
        (d / "summary.json").write_text(json.dumps(s))
    assert select_runs(dirs, tmp_path / "s2")["selected"]["run"] == first == "a"
    assert select_runs(list(reversed(dirs)), tmp_path / "s3")["selected"]["run"] == "a"  # order-independent


def test_median_mode_with_five_seeds(tmp_path):
    vals = {"seed1": 0.90, "seed2": 0.50, "seed3": 0.70, "seed4": 0.60, "seed5": 0.80}
    dirs = [write_summary(tmp_path, run, f1, test_f1=1.0 - f1) for run, f1 in vals.items()]
    sel = select_runs(dirs, tmp_path / "sel", mode="median")
    assert sel["selected"]["run"] == "seed3" and sel["median_val_f1"] == 0.70 and sel["mode"] == "median"
    assert select_runs(dirs, tmp_path / "sel_best", mode="best")["selected"]["run"] == "seed1"


def test_median_of_even_count_is_the_lower_one(tmp_path):
    dirs = [write_summary(tmp_path, r, f1, 0.5) for r, f1 in (("a", 0.9), ("b", 0.6), ("c", 0.7), ("d", 0.8))]
    assert select_runs(dirs, tmp_path / "sel", mode="median")["selected"]["run"] == "c"


def test_ties_on_val_f1_go_to_fp_reduction_then_training_cost_then_name(tmp_path):
    """Deterministic: no wall time anywhere (the same runs always give the same choice)."""
    dirs = [
        write_summary(tmp_path, "a-costly", 0.8, 0.5, fp_red=0.6, cost=990),
        write_summary(tmp_path, "z-cheap", 0.8, 0.5, fp_red=0.6, cost=50),
        write_summary(tmp_path, "b-cheap", 0.8, 0.5, fp_red=0.6, cost=50),
        write_summary(tmp_path, "lowfp", 0.8, 0.9, fp_red=0.4, cost=1),
    ]
    sel = select_runs(dirs, tmp_path / "sel")
    assert [r["run"] for r in sel["runs"]] == ["b-cheap", "z-cheap", "a-costly", "lowfp"]
    assert "wall_time_s" not in (tmp_path / "sel" / "selection.json").read_text()
    winner = json.loads((tmp_path / "sel" / "winner.json").read_text())
    assert winner["run"] == "b-cheap" and set(winner) == {
        "stage",
        "run",
        "family",
        "config",
        "threshold",
        "threshold_source",
        "val_f1",
    }


def test_ranking_files_have_one_row_per_run(tmp_path):
    dirs = [write_summary(tmp_path, r, f1, 0.3) for r, f1 in (("a", 0.7), ("b", 0.9), ("c", 0.8))]
    select_runs(dirs, tmp_path / "sel", stage="1")
    rows = list(csv.DictReader((tmp_path / "sel" / "ranking.csv").open()))
    assert [r["run"] for r in rows] == ["b", "c", "a"] and [r["rank"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["selected"] == "True" and rows[0]["test_f1_puppet"] == "0.3" and rows[0]["val_f1"] == "0.9"
    md = (tmp_path / "sel" / "ranking.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert len(table) == 3 and "**selected**" in table[0] and "| b |" in table[0]
    for column in (
        "val F1",
        "test F1 combined",
        "test F1 puppet",
        "FP reduction",
        "TP retention",
        "training cost",
        "threshold",
    ):
        assert column in md
    assert json.loads((tmp_path / "sel" / "selection.json").read_text())["stage"] == "1"


def test_errors(tmp_path):
    with pytest.raises(IacsieveError, match="no results"):
        select_runs([], tmp_path / "sel")
    with pytest.raises(IacsieveError, match="nothere.summary.json: not found"):
        select_runs([tmp_path / "nothere"], tmp_path / "sel")
    d = write_summary(tmp_path, "a", 0.5, 0.5)
    with pytest.raises(ConfigError, match="mode"):
        select_runs([d], tmp_path / "sel", mode="mean")
    s = json.loads((d / "summary.json").read_text())
    del s["val"]
    (d / "summary.json").write_text(json.dumps(s))
    with pytest.raises(IacsieveError, match="summary.json: missing or malformed key 'val'"):
        select_runs([d], tmp_path / "sel")
