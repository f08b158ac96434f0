"""The step commands: one-line summaries, one-line errors (no traceback), flags -> TrainConfig, --help."""

from __future__ import annotations

import json

import pytest
import yaml
from test_evaluate import make_run
from test_freeze import prepared

import iacsieve.steps.train
from iacsieve.cli.app import main
from iacsieve.core.run_config import TrainConfig


def one_line_error(capsys, argv) -> str:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc != 0
    assert "Traceback" not in captured.err and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("iacsieve: error: ")
    return captured.err


def test_sweep_evaluate_select_freeze_chain(tmp_path, capsys):
    run = make_run(tmp_path / "runs", "r1")
    assert main(["sweep-threshold", str(run), "--step", "0.05"]) == 0
    out = capsys.readouterr().out
    sweep = json.loads((run / "threshold_sweep_results.json").read_text())
    assert (
        out.count("\n") == 1
        and f"best threshold {sweep['best_threshold']:.2f}" in out
        and "over 9 thresholds" in out
    )

    assert (
        main(
            [
                "evaluate",
                str(run),
                "--results",
                str(tmp_path / "res"),
                "--rule",
                "threshold",
                "--bootstrap-samples",
                "20",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "res" / "summary.json").read_text())
    assert out.count("\n") == 1 and f"val F1 {summary['val']['f1']:.4f}" in out and "sweep:" in out

    assert main(["select", str(tmp_path / "res"), "--out", str(tmp_path / "sel"), "--mode", "median"]) == 0
    assert capsys.readouterr().out.startswith("selected r1 (median")

    data = prepared(tmp_path)
    assert (
        main(
            [
                "freeze",
                str(tmp_path / "sel" / "selection.json"),
                "--out",
                str(tmp_path / "champ"),
                "--data",
                str(data),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("froze r1 (threshold ") and out.count("\n") == 1
    assert json.loads((tmp_path / "champ" / "champion.json").read_text())["threshold"] == summary["threshold"]

    assert (
        main(
            [
                "evaluate",
                str(run),
                "--results",
                str(tmp_path / "res4"),
                "--rule",
                "frozen",
                "--champion",
                str(tmp_path / "champ" / "champion.json"),
                "--bootstrap-samples",
                "20",
            ]
        )
        == 0
    )
    assert f"frozen:{tmp_path / 'champ' / 'champion.json'}" in capsys.readouterr().out


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert "nowhere: run directory not found" in one_line_error(
        capsys, ["evaluate", str(tmp_path / "nowhere"), "--results", str(tmp_path / "r")]
    )
    run = make_run(tmp_path / "runs")
    assert "threshold_sweep_results.json: not found" in one_line_error(
        capsys, ["evaluate", str(run), "--results", str(tmp_path / "r"), "--rule", "threshold"]
    )
    assert "needs a champion file" in one_line_error(
        capsys, ["evaluate", str(run), "--results", str(tmp_path / "r"), "--rule", "frozen"]
    )
    assert "threshold.start" in one_line_error(
        capsys, ["sweep-threshold", str(run), "--start", "0.8", "--stop", "0.2"]
    )
    assert "summary.json: not found" in one_line_error(
        capsys, ["select", str(tmp_path / "x"), "--out", str(tmp_path / "s")]
    )
    assert "selection.json: not found" in one_line_error(
        capsys, ["freeze", str(tmp_path / "selection.json"), "--out", str(tmp_path / "c")]
    )
    assert "family" in one_line_error(capsys, ["train", "--out", str(tmp_path / "t")])


@pytest.fixture
def fake_train(monkeypatch):
    calls = []

    def train(config, prepared_dir, run_dir):
        calls.append((config, str(prepared_dir), str(run_dir)))
        return run_dir

    monkeypatch.setattr(iacsieve.steps.train, "train", train)
    return calls


def test_train_flags_build_the_config(tmp_path, capsys, fake_train):
    assert (
        main(
            [
                "train",
                "--family",
                "tiny-roberta",
                "--lr",
                "5e-4",
                "--batch-size",
                "8",
                "--epochs",
                "2",
                "--weight-decay",
                "0.01",
                "--seed",
                "7",
                "--max-length",
                "64",
                "--use-context",
                "--no-fp16",
                "--option",
                "hidden=32",
                "--data",
                "d/prepared",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    config, data, out = fake_train[0]
    assert config == TrainConfig(
        family="tiny-roberta",
        learning_rate=5e-4,
        batch_size=8,
        epochs=2,
        weight_decay=0.01,
        seed=7,
        max_length=64,
        use_context=True,
        fp16=False,
        options={"hidden": 32},
    )
    assert (data, out) == ("d/prepared", str(tmp_path / "run"))
    assert (
        capsys.readouterr().out
        == f"trained tiny-roberta_lr0.0005_bs8_ep2_wd0.01_seed7 -> {tmp_path / 'run'}\n"
    )


def test_train_config_file_overlaid_by_flags(tmp_path, capsys, fake_train, monkeypatch):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(TrainConfig(family="classical", seed=1, options={"C": 2.0}).to_dict()))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", str(cfg), "--seed", "9", "--option", "char_ngram_max=5"]) == 0
    config, data, out = fake_train[0]
    assert (
        config.family == "classical"
        and config.seed == 9
        and config.options == {"C": 2.0, "char_ngram_max": 5}
    )
    assert data == "data/prepared" and out == "models/experiments/adhoc/" + config.run_name(with_seed=True)
    capsys.readouterr()
    cfg.write_text(yaml.safe_dump({"family": "classical", "learnin_rate": 0.1}))
    assert "learnin_rate" in one_line_error(capsys, ["train", "--config", str(cfg)])
    assert "KEY=VALUE" in one_line_error(capsys, ["train", "--family", "classical", "--option", "oops"])


@pytest.mark.parametrize("command", ["train", "sweep-threshold", "evaluate", "select", "freeze"])
def test_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"iacsieve {command}" in text


@pytest.mark.slow
def test_end_to_end_with_the_classical_family(tmp_path, capsys, prepared_small):
    """train -> sweep -> evaluate -> select -> freeze on trimmed real data; the champion loads and scores."""
    from iacsieve.data.records import load_prepared
    from iacsieve.models import load_scorer
    from iacsieve.steps.freeze import load_champion
    from iacsieve.steps.metrics import load_scores

    run = tmp_path / "runs" / "classical"
    assert (
        main(
            [
                "train",
                "--family",
                "classical",
                "--seed",
                "1",
                "--data",
                str(prepared_small),
                "--out",
                str(run),
            ]
        )
        == 0
    )
    assert main(["sweep-threshold", str(run)]) == 0
    assert (
        main(
            [
                "evaluate",
                str(run),
                "--results",
                str(tmp_path / "res"),
                "--rule",
                "threshold",
                "--bootstrap-samples",
                "50",
            ]
        )
        == 0
    )
    assert main(["select", str(tmp_path / "res"), "--out", str(tmp_path / "sel")]) == 0
    assert (
        main(
            [
                "freeze",
                str(tmp_path / "sel" / "selection.json"),
                "--out",
                str(tmp_path / "champ"),
                "--data",
                str(prepared_small),
            ]
        )
        == 0
    )
    capsys.readouterr()
    # as the help shows: `select results/stage1/* --out results/stage1/_selection`, rerun, where the
    # glob also matches the earlier selection: that folder is not taken as a run
    before = (tmp_path / "sel" / "selection.json").read_text()
    assert main(["select", str(tmp_path / "res"), str(tmp_path / "sel"), "--out", str(tmp_path / "sel")]) == 0
    assert (tmp_path / "sel" / "selection.json").read_text() == before
    assert main(["select", str(tmp_path / "sel"), "--out", str(tmp_path / "sel")]) == 2
    assert "is the only RESULTS_DIR" in capsys.readouterr().err
    champion = load_champion(tmp_path / "champ")
    summary = json.loads((tmp_path / "res" / "summary.json").read_text())
    assert champion["threshold"] == summary["threshold"] and champion["family"] == "classical"
    scores = load_scorer(tmp_path / "champ").predict_proba(load_prepared(prepared_small, "val"))
    assert list(scores.round(6)) == [round(r["score"], 6) for r in load_scores(run / "val_scores.jsonl")]
