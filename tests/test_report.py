"""Report rendering (pure) and collection from a small fake results tree; plots from fake scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iacsieve.reporting.report import (
    PUBLISHED,
    ReportData,
    champion_metrics,
    collect_report,
    render_report,
    run_row,
    seed_spread,
    write_report,
)
from iacsieve.steps.metrics import HEADLINE_KEYS

SETS = ("combined", "ansible", "chef", "puppet")


def _metrics(f1: float) -> dict:
    return {
        "f1": f1,
        "precision": f1,
        "recall": f1,
        "fp_reduction": f1 - 0.1,
        "tp_retention": f1 + 0.05,
        "f1_ci95": {"lo": f1 - 0.05, "hi": f1 + 0.05},
    }


def _summary(
    run: str, family: str, val: float, test: float, *, seed: int = 42, threshold: float = 0.5
) -> dict:
    return {
        "run": run,
        "family": family,
        "threshold": threshold,
        "threshold_source": "argmax",
        "config": {
            "family": family,
            "learning_rate": 0.0005,
            "batch_size": 16,
            "epochs": 3,
            "weight_decay": 0.0,
            "seed": seed,
        },
        "val": _metrics(val),
        "test": {s: _metrics(test - 0.01 * i) for i, s in enumerate(SETS)},
        "wall_time_s": 12.5,
    }


def _write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


@pytest.fixture()
def tree(tmp_path) -> Path:
    """results/stage1 (2 runs), stage4 (3 seeds), selections and a champion.json."""
    res = tmp_path / "results"
    _write(
        res / "stage1/classical_lr0.0005_bs16_ep3_wd0/summary.json",
        _summary("classical_lr0.0005_bs16_ep3_wd0", "classical", 0.88, 0.74),
    )
    _write(
        res / "stage1/tiny-t5_lr0.0005_bs16_ep3_wd0/summary.json",
        _summary("tiny-t5_lr0.0005_bs16_ep3_wd0", "tiny-t5", 0.70, 0.60),
    )
    _write(res / "selection/stage1/selection.json", {"selected": {"run": "classical_lr0.0005_bs16_ep3_wd0"}})
    for seed, (v, t) in {1: (0.80, 0.70), 2: (0.84, 0.72), 3: (0.86, 0.78)}.items():
        name = f"champion_seed{seed}"
        _write(
            res / f"stage4/{name}/summary.json", _summary(name, "classical", v, t, seed=seed, threshold=0.45)
        )
    _write(
        res / "selection/stage4/selection.json",
        {"selected": {"run": "champion_seed2", "results_dir": str(res / "stage4/champion_seed2")}},
    )
    _write(
        tmp_path / "champion/champion.json",
        {
            "run": "champion_seed2",
            "family": "classical",
            "threshold": 0.45,
            "threshold_source": "frozen:x",
            "data_md5": "abc",
            "val_f1": 0.84,
            "test": _summary("x", "classical", 0.84, 0.72)["test"],
        },
    )
    return tmp_path


def test_collect_and_render(tree):
    data = collect_report(tree / "results", tree / "champion", ablation=tree / "none.md")
    assert [r.name for r in data.stages[1]] == [
        "classical_lr0.0005_bs16_ep3_wd0",
        "tiny-t5_lr0.0005_bs16_ep3_wd0",
    ]
    assert [r.selected for r in data.stages[1]] == [True, False]
    assert data.stages[4][0].resolved == "classical_lr0.0005_bs16_ep3_wd0_seed1"
    text = render_report(data)
    assert (
        "| classical_lr0.0005_bs16_ep3_wd0 ★ | classical_lr0.0005_bs16_ep3_wd0 | 0.880 | 0.740 | 0.730 | 0.720 | 0.710 |"
        in text
    )
    assert "Mean ± std over 3 seeds: val F1 0.833 ± 0.031; test F1 combined 0.733 ± 0.042" in text
    assert "**champion_seed2** (classical), threshold 0.45" in text
    assert "| val | 0.840 | [0.790, 0.890] |" in text  # the champion run's own summary, with its CI
    assert f"| {next(iter(PUBLISHED['model_f1']))} | 0.794 | 0.780 (our best run by test F1" in text
    assert "| ansible | 0.741 / 0.977 / 0.843 | 0.878 | 0.710 |" in text
    assert "## Ablation" not in text
    assert "No runs." in text  # stages 2 and 3 are empty here


def test_prefix_filter_and_ablation(tree):
    ablation = tree / "ablation.md"
    ablation.write_text("| variant | val F1 |\n| --- | --- |\n| no features | 0.8 |\n", encoding="utf-8")
    data = collect_report(tree / "results", tree / "champion", prefix="tiny", ablation=ablation)
    assert [r.family for r in data.stages[1]] == ["tiny-t5"]
    assert data.stages[4] == []
    text = render_report(data)
    assert "Runs filtered by name prefix `tiny`" in text and "| no features | 0.8 |" in text


def test_seed_spread_and_champion_metrics(tree):
    data = collect_report(tree / "results", tree / "champion", ablation=tree / "none.md")
    spread = seed_spread(data.stages[4])
    assert spread["val_f1"] == pytest.approx((0.8333333, 0.0305505), abs=1e-6)
    metrics = champion_metrics(data)
    assert metrics["val_f1"] == 0.84 and metrics["test_f1_lo"] == pytest.approx(0.67)
    assert metrics["test_f1_std"] == pytest.approx(0.0416333, abs=1e-6)
    # one flat row of a few headline numbers, the stage metrics' shape: `dvc metrics show` fits a terminal
    assert set(metrics) == set(HEADLINE_KEYS) | {"val_f1_std", "test_f1_std"}


def test_render_without_champion_is_explicit():
    text = render_report(ReportData(stages={1: [run_row(1, _summary("a", "classical", 0.5, 0.4))]}))
    assert "No champion yet" in text and "| a | classical_lr0.0005_bs16_ep3_wd0 | 0.500 | 0.400 |" in text


def test_write_report_writes_markdown_and_metrics(tree):
    out = write_report(
        tree / "results",
        tree / "champion",
        tree / "reports/summary.md",
        metrics_file=tree / "reports/metrics.json",
    )
    assert out.read_text(encoding="utf-8").startswith("# iacsieve — pipeline report")
    written = json.loads((tree / "reports/metrics.json").read_text())
    assert (
        written == champion_metrics(collect_report(tree / "results", tree / "champion"))
        and written["val_f1"] == 0.84
    )


def test_plots_render_pngs(tree):
    import numpy as np

    from iacsieve.reporting.plots import (
        plot_confusion_matrix,
        plot_pr_curve,
        plot_seed_spread,
        plot_threshold_sweep,
    )

    out = tree / "plots"
    curve = [
        {"threshold": t, "f1": 1 - abs(t - 0.45), "precision": 0.5, "recall": 0.6} for t in (0.3, 0.45, 0.6)
    ]
    rows = [{"label": int(i % 2), "score": (i % 10) / 10, "smell": "x"} for i in range(40)]
    written = plot_threshold_sweep({"curve": curve, "best_threshold": 0.45, "best_f1": 1.0}, out)
    written += plot_pr_curve({"val": rows, "test": rows}, 0.45, out)
    written += plot_confusion_matrix(
        np.array([r["label"] for r in rows]), np.array([r["score"] for r in rows]), 0.45, out
    )
    selection = json.loads((tree / "results/selection/stage4/selection.json").read_text())
    selection["runs"] = [
        {"run": f"champion_seed{s}", "val_f1": 0.8, "test": {"combined": {"f1": 0.7}}} for s in (1, 2)
    ]
    written += plot_seed_spread(selection, out)
    assert {p.name for p in written} >= {
        "threshold_sweep.png",
        "pr_curve.png",
        "confusion_matrix.png",
        "seed_spread.png",
    }
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written if p.suffix == ".png")
    assert (out / "threshold_sweep.csv").read_text().splitlines()[0] == "threshold,f1,precision,recall"


def _with_counts(tree: Path, *, same_seeds: bool) -> None:
    """The champion's summary with real confusion counts (51/66 real smells kept, 90/106 false alarms
    removed: the measured champion), and stage-4 seeds that differ or are identical."""
    counts = {"tp": 51, "fn": 15, "tn": 90, "fp": 16}
    for seed in (1, 2, 3):
        path = tree / f"results/stage4/champion_seed{seed}/summary.json"
        summary = json.loads(path.read_text())
        if same_seeds:
            summary.update(val=_metrics(0.84), test={s: _metrics(0.72) for s in SETS})
        summary["test"]["combined"].update(
            confusion_matrix=counts, fp_reduction=90 / 106, tp_retention=51 / 66
        )
        _write(path, summary)


def test_report_opens_with_f1_fp_reduction_and_tp_retention_with_cis(tree):
    _with_counts(tree, same_seeds=False)
    text = render_report(collect_report(tree / "results", tree / "champion", ablation=tree / "none.md"))
    headline = text.index("## What the filter does")
    assert headline < text.index("## Champion") < text.index("## Stage 1")
    top = text[headline : text.index("## Champion")]
    assert "| F1 | **0.720** | [0.670, 0.770] | 0.794 best run; 0.727 ± 0.056 over five seeds |" in top
    assert (
        "| FP reduction (false alarms removed) | 0.849 | [0.769, 0.905] | not published |" in top
    )  # Wilson 90/106
    assert (
        "| TP retention (real smells kept) | 0.773 | [0.658, 0.857] | not published |" in top
    )  # Wilson 51/66
    assert "**The filter drops 15 of 66 real smells (23%, TP retention 0.773)**" in top
    # the seeds differ: their spread is set beside the published one
    assert "Over 3 seeds: test F1 0.733 ± 0.042 (published: 0.727 ± 0.056)." in top


def test_identical_seeds_are_not_compared_with_the_published_spread(tree):
    _with_counts(tree, same_seeds=True)
    text = render_report(collect_report(tree / "results", tree / "champion", ablation=tree / "none.md"))
    note = "The 3 seeds gave identical results: the classical family does not vary with its seed"
    assert text.count(note) == 2  # in the headline and under the stage-4 table
    assert "Over 3 seeds" not in text and "0.720 ± 0.000 (our champion" not in text
    assert (
        "| CodeT5+ 220M, five seeds (mean) | 0.727 ± 0.056 | 0.720 (our champion; its 3 seeds gave the same "
        "results: no spread to compare) |" in text
    )


def test_bench_prints_the_champion_and_its_sets(tree, tmp_path):
    """`make bench`'s champion section reads the same report data (per set F1, interval, FP/TP)."""
    from iacsieve.reporting.bench import champion_card, format_bench

    data = collect_report(tree / "results", tree / "champion", ablation=tmp_path / "none.md")
    card = champion_card(data)
    text = format_bench(
        {
            "profile": "local",
            "timings": {},
            "champion": card,
            "published": PUBLISHED,
            "operating_points": None,
            "learning_curve": None,
        }
    )
    assert f"== champion {card['run']}" in text and "combined" in text and "3 seeds" in text
    assert card["sets"]["val"]["f1"] == 0.84


@pytest.mark.parametrize("command", ["report", "plots"])
def test_cluster_report_and_plots_without_a_pulled_champion_refuse_in_one_line(
    command, tmp_path, monkeypatch, capsys
):
    """Before, `report --cluster` wrote reports/cluster-champion/summary.md from this repo's own runs,
    saying "No champion yet (run `make repro`)"."""
    from iacsieve.cli.app import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "stage1").mkdir(parents=True)  # this repo's runs: never the cluster's
    assert main([command, "--cluster"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "models/cluster-champion" in err and "kfp pull-champion" in err
    assert not (tmp_path / "reports").exists()
