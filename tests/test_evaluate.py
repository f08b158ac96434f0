"""evaluate: five sets written, the threshold each rule picks, errors naming missing files.

`make_run` builds a run directory by hand (no training), and is reused by the select/freeze/CLI tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from iacsieve.core.classification import compute_metrics
from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.steps.evaluate import evaluate
from iacsieve.steps.threshold import sweep_threshold

TECHS = ("ansible", "chef", "puppet")
SMELLS = ("hard_coded_secret", "suspicious_comment", "use_of_http", "weak_crypto")


def score_rows(labels, scores, *, techs=None):
    techs = techs or [TECHS[i % 3] for i in range(len(labels))]
    return [
        {
            "file": f"{t}/f{i}",
            "line": i + 1,
            "smell": SMELLS[i % 4],
            "tech": t,
            "label": int(ln),
            "score": float(s),
        }
        for i, (ln, s, t) in enumerate(zip(labels, scores, techs))
    ]


def noisy_scores(labels, quality, seed):
    """Scores that separate the labels better as `quality` grows (0 = random)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    return np.clip(0.5 + quality * (labels - 0.5) + rng.normal(0, 0.2, labels.size), 0, 1).round(4)


def make_run(
    root: Path,
    name: str = "tiny-roberta_lr0.0005_bs16_ep3_wd0",
    *,
    family: str = "tiny-roberta",
    val_quality: float = 0.6,
    test_quality: float = 0.6,
    seed: int = 0,
    n: int = 36,
    wall_time_s: float = 12.5,
    use_context: bool = False,
) -> Path:
    """A complete run directory as `iacsieve train` writes it, with a fake safetensors model."""
    run = Path(root) / name
    (run / "model").mkdir(parents=True)
    labels = [int(i % 3 != 0) if i % 2 else int(i % 5 == 0) for i in range(n)]
    (run / "val_scores.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in score_rows(labels, noisy_scores(labels, val_quality, seed)))
    )
    (run / "test_scores.jsonl").write_text(
        "".join(
            json.dumps(r) + "\n" for r in score_rows(labels, noisy_scores(labels, test_quality, seed + 1))
        )
    )
    config = {
        "family": family,
        "learning_rate": 0.0005,
        "batch_size": 16,
        "epochs": 3,
        "weight_decay": 0.0,
        "seed": seed,
        "use_context": use_context,
    }
    (run / "config_used.yaml").write_text(yaml.safe_dump(config))
    (run / "train_log.json").write_text(
        json.dumps(
            {
                "epochs": [{"epoch": 1, "loss": 0.6, "val_f1": 0.7}],
                "wall_time_s": wall_time_s,
                "samples_per_s": 100.0,
            }
        )
    )
    (run / "model" / "model_meta.json").write_text(
        json.dumps({"kind": "tiny", "family": family, "use_context": use_context})
    )
    (run / "model" / "model.safetensors").write_bytes(b"weights-" + name.encode())
    return run


def write_champion(path: Path, threshold: float, **extra) -> Path:
    champion = {
        "threshold": threshold,
        "threshold_source": "sweep:x",
        "family": "tiny-roberta",
        "run": "r",
        "config": {"family": "tiny-roberta"},
        "data_md5": "0" * 32,
        "val_f1": 0.8,
        "test": {},
        "use_context": False,
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(champion))
    return path


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_argmax_writes_five_sets_and_summary(tmp_path):
    run = make_run(tmp_path / "runs")
    summary = evaluate(run, tmp_path / "res", rule="argmax", bootstrap_samples=200)
    for name in ("val", "combined", "ansible", "chef", "puppet"):
        meta = json.loads((tmp_path / "res" / name / "evaluation_metadata.json").read_text())
        assert meta["threshold"] == 0.5 and meta["threshold_source"] == "argmax" and meta["set"] == name
        assert meta["f1_ci95"]["lo"] <= meta["f1"] <= meta["f1_ci95"]["hi"]
        assert set(meta["per_smell"]) <= set(SMELLS)
        for key in ("precision", "recall", "accuracy", "confusion_matrix", "fp_reduction", "tp_retention"):
            assert key in meta
    test_rows = read_rows(run / "test_scores.jsonl")
    chef = [r for r in test_rows if r["tech"] == "chef"]
    chef_meta = json.loads((tmp_path / "res" / "chef" / "evaluation_metadata.json").read_text())
    expected = compute_metrics([r["label"] for r in chef], [r["score"] for r in chef], 0.5)
    assert chef_meta["n"] == len(chef) and chef_meta["f1"] == expected["f1"]
    assert chef_meta["confusion_matrix"] == expected["confusion_matrix"]
    on_disk = json.loads((tmp_path / "res" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert set(summary["test"]) == {"combined", "ansible", "chef", "puppet"}
    assert summary["test"]["combined"]["support"] == len(test_rows)
    assert (
        summary["run"] == run.name and summary["family"] == "tiny-roberta" and summary["run_dir"] == str(run)
    )
    assert "wall_time_s" not in summary and summary["config"]["learning_rate"] == 0.0005


def test_threshold_rule_uses_the_runs_sweep(tmp_path):
    run = make_run(tmp_path / "runs", val_quality=0.3)
    sweep = sweep_threshold(run / "val_scores.jsonl", run / "threshold_sweep_results.json")
    summary = evaluate(run, tmp_path / "res", rule="threshold", bootstrap_samples=50)
    assert summary["threshold"] == sweep["best_threshold"]
    assert summary["threshold_source"] == f"sweep:{run / 'threshold_sweep_results.json'}"
    assert summary["val"]["f1"] == pytest.approx(sweep["best_f1"])
    # An explicit sweep file wins over the run's own.
    other = tmp_path / "other_sweep.json"
    other.write_text(json.dumps({"best_threshold": 0.42}))
    assert (
        evaluate(run, tmp_path / "res2", rule="threshold", sweep_file=other, bootstrap_samples=50)[
            "threshold"
        ]
        == 0.42
    )


def test_frozen_rule_reads_the_champion_threshold(tmp_path):
    run = make_run(tmp_path / "runs")
    champion = write_champion(tmp_path / "champ" / "champion.json", 0.37)
    summary = evaluate(run, tmp_path / "res", rule="frozen", champion_file=champion, bootstrap_samples=50)
    assert summary["threshold"] == 0.37 and summary["threshold_source"] == f"frozen:{champion}"
    labels = [r["label"] for r in read_rows(run / "test_scores.jsonl")]
    scores = [r["score"] for r in read_rows(run / "test_scores.jsonl")]
    assert summary["test"]["combined"]["f1"] == compute_metrics(labels, scores, 0.37)["f1"]
    # The champion folder works as well as the file.
    assert (
        evaluate(run, tmp_path / "res2", rule="frozen", champion_file=champion.parent, bootstrap_samples=50)[
            "threshold"
        ]
        == 0.37
    )


def test_frozen_rule_errors(tmp_path):
    run = make_run(tmp_path / "runs")
    with pytest.raises(ConfigError, match="champion"):
        evaluate(run, tmp_path / "res", rule="frozen")
    bad = tmp_path / "bad" / "champion.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"family": "x"}))
    with pytest.raises(IacsieveError, match="missing key 'threshold'"):
        evaluate(run, tmp_path / "res", rule="frozen", champion_file=bad)
    with pytest.raises(ConfigError, match="unknown decision rule"):
        evaluate(run, tmp_path / "res", rule="best")


@pytest.mark.parametrize(
    "missing", ["val_scores.jsonl", "test_scores.jsonl", "config_used.yaml", "train_log.json"]
)
def test_missing_file_is_named(tmp_path, missing):
    run = make_run(tmp_path / "runs")
    (run / missing).unlink()
    with pytest.raises(IacsieveError, match=missing.replace(".", r"\.")):
        evaluate(run, tmp_path / "res", bootstrap_samples=10)
    assert not (tmp_path / "res" / "summary.json").exists()


def test_threshold_rule_without_sweep_says_what_to_run(tmp_path):
    run = make_run(tmp_path / "runs")
    with pytest.raises(
        IacsieveError, match="threshold_sweep_results.json: not found; run `iacsieve sweep-threshold`"
    ):
        evaluate(run, tmp_path / "res", rule="threshold")


def test_same_inputs_give_identical_results(tmp_path):
    run = make_run(tmp_path / "runs")
    evaluate(run, tmp_path / "a", bootstrap_samples=100, bootstrap_seed=1)
    evaluate(run, tmp_path / "b", bootstrap_samples=100, bootstrap_seed=1)
    for name in ("summary.json", "puppet/evaluation_metadata.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
