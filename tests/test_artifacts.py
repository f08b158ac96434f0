"""The typed JSON artifacts: the writer checks the whole shape, the reader names file and key,
and docs/INTERFACES.md is the page generated from the definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iacsieve.core import artifacts
from iacsieve.core.errors import IacsieveError

REPO = Path(__file__).resolve().parents[1]
WINNER = {
    "stage": "stage2",
    "run": "classical_lr0.001_bs16_ep10_wd0",
    "family": "classical",
    "config": {"family": "classical"},
    "threshold": 0.5,
    "threshold_source": "argmax",
    "val_f1": 0.9,
}


def test_interfaces_page_is_generated():
    page = (REPO / "docs" / "INTERFACES.md").read_text(encoding="utf-8")
    assert page == artifacts.reference(), "docs/INTERFACES.md is stale: run make interfaces"


def test_every_artifact_is_on_the_page_with_its_keys():
    page = artifacts.reference()
    for artifact in artifacts.ARTIFACTS:
        assert f"## {artifact.shape.__name__}" in page
        assert all(f"| `{key}` |" in page for key in artifacts.required_keys(artifact.shape))


def test_write_then_read_gives_the_same_value_and_sorted_json(tmp_path):
    path = artifacts.write_artifact(artifacts.WINNER, tmp_path / "winner.json", WINNER)
    assert artifacts.read_artifact(artifacts.WINNER, path) == WINNER
    assert path.read_text() == json.dumps(WINNER, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"val_f1": "high"}, "key 'val_f1': expected number, got 'high'"),
        ({"threshold": True}, "key 'threshold': expected number"),
        ({"surprise": 1}, "unknown key 'surprise' (not in Winner)"),
        ({"stage": 2}, "key 'stage': expected string or null"),
    ],
)
def test_the_writer_refuses_a_drifted_producer(tmp_path, change, message):
    with pytest.raises(
        IacsieveError, match=rf"winner.json: {message}".replace("(", r"\(").replace(")", r"\)")
    ):
        artifacts.write_artifact(artifacts.WINNER, tmp_path / "winner.json", {**WINNER, **change})
    assert not (tmp_path / "winner.json").exists()


def test_the_writer_wants_every_required_key(tmp_path):
    partial = {k: v for k, v in WINNER.items() if k != "config"}
    with pytest.raises(IacsieveError, match="missing key 'config'"):
        artifacts.write_artifact(artifacts.WINNER, tmp_path / "w.json", partial)


def test_an_open_shape_takes_a_familys_own_keys(tmp_path):
    log = {"run": "r", "family": "classical", "kind": "classical", "device": "cpu", "epochs": []}
    log |= {"best_epoch": 1, "stopped_early": False, "C": 1.0}
    artifacts.write_artifact(artifacts.TRAIN_LOG, tmp_path / "train_log.json", log)
    with pytest.raises(IacsieveError, match="key 'best_epoch': expected integer or null"):
        artifacts.write_artifact(artifacts.TRAIN_LOG, tmp_path / "train_log.json", {**log, "best_epoch": "1"})


def test_the_reader_names_the_file_and_the_nested_key(tmp_path):
    path = tmp_path / "selection.json"
    path.write_text(json.dumps({"mode": "best", "runs": [{"run": "a", "test": {"combined": {"f1": "x"}}}]}))
    with pytest.raises(
        IacsieveError, match=r"selection.json: key 'runs\[0\].test.combined.f1': expected number"
    ):
        artifacts.read_artifact(artifacts.SELECTION, path)
    with pytest.raises(IacsieveError, match="selection.json: missing key 'selected.run'"):
        artifacts.read_artifact(artifacts.SELECTION, path, needs=["selected.run"])


def test_the_reader_keeps_keys_a_newer_producer_added(tmp_path):
    path = tmp_path / "winner.json"
    path.write_text(json.dumps({**WINNER, "added_later": [1]}))
    assert artifacts.read_artifact(artifacts.WINNER, path)["added_later"] == [1]
