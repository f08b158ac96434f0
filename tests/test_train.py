"""The train step: run dir contents, early stopping, determinism, atomicity (issue #3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from iacsieve.core.errors import ConfigError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import load_prepared
from iacsieve.models import load_scorer, tiny
from iacsieve.steps.train import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "num_layers": 2, "vocab_size": 400}


def small_config(family: str = "tiny-roberta", **overrides) -> TrainConfig:
    values = {
        "family": family,
        "epochs": 1,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "max_length": 64,
        "fp16": False,
        "options": dict(SMALL),
    }
    values.update(overrides)
    return TrainConfig(**values)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def scores_of(run_dir: Path) -> tuple[list[float], list[float]]:
    return (
        [r["score"] for r in read_jsonl(run_dir / "val_scores.jsonl")],
        [r["score"] for r in read_jsonl(run_dir / "test_scores.jsonl")],
    )


@pytest.fixture(scope="module")
def roberta_run(prepared_small, tmp_path_factory) -> Path:
    return train(small_config(), prepared_small, tmp_path_factory.mktemp("runs") / "tiny-roberta")


def test_run_dir_holds_config_model_scores_and_log(roberta_run, prepared_small):
    assert sorted(p.name for p in roberta_run.iterdir()) == [
        "config_used.yaml",
        "model",
        "test_scores.jsonl",
        "train_log.json",
        "val_scores.jsonl",
    ]
    assert (
        TrainConfig.from_dict(yaml.safe_load((roberta_run / "config_used.yaml").read_text()))
        == small_config()
    )
    for split, name in (("val", "val_scores.jsonl"), ("test", "test_scores.jsonl")):
        records = load_prepared(prepared_small, split)
        rows = read_jsonl(roberta_run / name)
        assert [(r["file"], r["line"], r["smell"], r["tech"], r["label"]) for r in rows] == [
            (r.file, r.line, r.smell, r.tech, r.label) for r in records
        ]  # the split's order
        assert all(0.0 <= r["score"] <= 1.0 for r in rows)
    log = json.loads((roberta_run / "train_log.json").read_text())
    assert [set(e) for e in log["epochs"]] == [{"epoch", "loss", "val_f1"}]
    assert log["best_epoch"] == 1 and log["stopped_early"] is False and log["device"] == "cpu"
    assert "wall_time_s" not in log and "samples_per_s" not in log  # DVC hashes the run dir: no timings


def test_timings_are_handed_back_not_written(prepared_small, tmp_path):
    timings: dict = {}
    run = train(small_config(), prepared_small, tmp_path / "run", timings=timings)
    assert timings["wall_time_s"] > 0 and timings["samples_per_s"] > 0
    assert json.loads((run / "train_log.json").read_text())["run"] == "run"


def test_saved_model_reproduces_the_written_scores(roberta_run, prepared_small):
    val = load_prepared(prepared_small, "val")
    scores = load_scorer(roberta_run / "model").predict_proba(val, batch_size=3)
    assert np.allclose(scores, scores_of(roberta_run)[0], atol=1e-6)


def test_same_seed_gives_identical_scores_and_another_seed_does_not(roberta_run, prepared_small, tmp_path):
    again = train(small_config(), prepared_small, tmp_path / "again")
    assert scores_of(again) == scores_of(roberta_run)
    other = train(small_config(seed=7), prepared_small, tmp_path / "other")
    assert scores_of(other) != scores_of(roberta_run)


def test_early_stopping_stops_a_run_whose_f1_stalls(prepared_small, tmp_path):
    # learning_rate 0: the weights never move, val F1 is constant -> patience runs out.
    config = small_config(learning_rate=0.0, epochs=8, early_stopping_patience=2)
    log = json.loads((train(config, prepared_small, tmp_path / "stall") / "train_log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [1, 2, 3]  # patience + 1 epochs
    assert len({e["val_f1"] for e in log["epochs"]}) == 1
    assert log["stopped_early"] is True and log["best_epoch"] == 1


def test_failed_fit_leaves_an_existing_run_dir_untouched(prepared_small, tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "tiny-roberta"
    run_dir.mkdir(parents=True)
    (run_dir / "train_log.json").write_text('{"previous": true}')

    def broken_fit(config, train_records, val_records, model_dir):
        Path(model_dir).mkdir(parents=True)
        (Path(model_dir) / "model.safetensors").write_text("half-written")
        raise RuntimeError("killed mid-training")

    monkeypatch.setattr(tiny, "fit", broken_fit)
    with pytest.raises(RuntimeError, match="killed"):
        train(small_config(), prepared_small, run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["train_log.json"]
    assert (run_dir / "train_log.json").read_text() == '{"previous": true}'
    assert [p.name for p in run_dir.parent.iterdir()] == ["tiny-roberta"]  # no partial dir left beside it


def test_bad_settings_fail_before_anything_is_written(prepared_small, tmp_path):
    with pytest.raises(ConfigError, match="family"):
        train(TrainConfig(family="bert-huge"), prepared_small, tmp_path / "run")
    with pytest.raises(ConfigError, match="options.depth"):
        train(small_config(options={"depth": 3}), prepared_small, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_tiny_t5_end_to_end(prepared_small, tmp_path):
    run_dir = train(small_config("tiny-t5", epochs=2), prepared_small, tmp_path / "tiny-t5")
    log = json.loads((run_dir / "train_log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [1, 2] and log["kind"] == "tiny"
    scorer = load_scorer(run_dir / "model")
    assert type(scorer.model).__name__ == "T5ForSequenceClassification"
    test = load_prepared(prepared_small, "test")
    one_by_one = scorer.predict_proba(test, batch_size=1)  # padding must not change a row's score
    assert np.allclose(one_by_one, scores_of(run_dir)[1], atol=1e-5)
