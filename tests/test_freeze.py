"""freeze: champion layout and champion.json, atomic swap, pickle refusal, load_champion validation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_evaluate import make_run

import iacsieve.steps.freeze as freeze_mod
from iacsieve.core.errors import IacsieveError
from iacsieve.steps.evaluate import evaluate
from iacsieve.steps.freeze import data_md5, freeze, load_champion
from iacsieve.steps.selection import select_runs


def prepared(root: Path) -> Path:
    """A minimal prepared-data folder (valid rows; train holds two smells, one under a dataset alias)."""
    data = root / "prepared"
    for split in ("train", "val", "test"):
        (data / split).mkdir(parents=True)
        for s in ("combined", "ansible", "chef", "puppet"):
            rows = [
                {
                    "smell": smell,
                    "tech": "chef",
                    "file": f"{split}.rb",
                    "line": 3,
                    "content": "x",
                    "label": "TP",
                }
                for smell in ("use_of_http", "weak_cryptography_algorithms")
            ]
            (data / split / f"{s}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def selected_run(tmp_path: Path, name: str = "run_a", **kw) -> tuple[Path, Path]:
    """(selection.json, run_dir) of a one-run selection, through the real evaluate + select."""
    run = make_run(tmp_path / "runs", name, **kw)
    evaluate(run, tmp_path / "res" / name, rule="argmax", bootstrap_samples=20)
    select_runs([tmp_path / "res" / name], tmp_path / "sel" / name, stage="3")
    return tmp_path / "sel" / name / "selection.json", run


def test_freeze_writes_model_and_champion_json(tmp_path):
    selection, run = selected_run(tmp_path, use_context=True)
    data = prepared(tmp_path)
    out = freeze(selection, tmp_path / "models" / "champion", data_dir=data)
    assert (out / "model.safetensors").read_bytes() == (run / "model" / "model.safetensors").read_bytes()
    assert (out / "model_meta.json").is_file()  # the champion folder is itself a loadable model dir
    champion = load_champion(out)
    summary = json.loads((tmp_path / "res" / "run_a" / "summary.json").read_text())
    assert champion["threshold"] == 0.5 and champion["threshold_source"] == "argmax"
    assert champion["run"] == "run_a" and champion["family"] == "tiny-roberta" and champion["stage"] == "3"
    assert champion["val_f1"] == summary["val"]["f1"] and champion["test"] == summary["test"]
    assert champion["use_context"] is True and champion["config"]["learning_rate"] == 0.0005
    assert champion["data_md5"] == data_md5(data) and len(champion["data_md5"]) == 32
    assert champion["smells"] == ["use_of_http", "weak_crypto"]  # canonical names, what the filter covers
    assert "frozen_at" not in champion


def test_freeze_is_deterministic(tmp_path):
    selection, _ = selected_run(tmp_path)
    data = prepared(tmp_path)
    a = freeze(selection, tmp_path / "a", data_dir=data)
    first = (a / "champion.json").read_bytes()
    freeze(selection, tmp_path / "a", data_dir=data)
    assert (a / "champion.json").read_bytes() == first


def test_data_md5_follows_content_not_mtime(tmp_path):
    data = prepared(tmp_path)
    before = data_md5(data)
    (data / "val" / "chef.jsonl").touch()
    assert data_md5(data) == before
    (data / "val" / "chef.jsonl").write_text("{}\n")  # content change
    assert data_md5(data) != before
    with pytest.raises(IacsieveError, match="no prepared data"):
        data_md5(tmp_path / "empty")


def test_interrupted_freeze_keeps_previous_champion(tmp_path, monkeypatch):
    data = prepared(tmp_path)
    sel_old, _ = selected_run(tmp_path, "old_run")
    sel_new, _ = selected_run(tmp_path, "new_run")
    champion_dir = tmp_path / "models" / "champion"
    freeze(sel_old, champion_dir, data_dir=data)
    before = {p.name: p.read_bytes() for p in champion_dir.iterdir()}

    def copy_then_crash(src, dest):
        shutil.copy2(Path(src) / "model.safetensors", Path(dest) / "model.safetensors")  # half done
        raise OSError("disk full")

    monkeypatch.setattr(freeze_mod, "copy_model", copy_then_crash)
    with pytest.raises(OSError, match="disk full"):
        freeze(sel_new, champion_dir, data_dir=data)
    assert {p.name: p.read_bytes() for p in champion_dir.iterdir()} == before
    assert load_champion(champion_dir)["run"] == "old_run"
    assert sorted(p.name for p in champion_dir.parent.iterdir()) == ["champion"]  # no temp dir left


@pytest.mark.parametrize(
    "pickle_name",
    ["model.pkl", "clf.joblib", "pytorch_model.bin", "sub/training_args.bin", "x.pickle", "optimizer.pt"],
)
def test_pickle_files_are_refused(tmp_path, pickle_name):
    data = prepared(tmp_path)
    selection, run = selected_run(tmp_path)
    target = run / "model" / pickle_name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\x80\x04")
    with pytest.raises(IacsieveError, match="refusing to freeze a model with pickle files"):
        freeze(selection, tmp_path / "champion", data_dir=data)
    assert not (tmp_path / "champion").exists()


def test_freeze_errors_name_the_problem(tmp_path):
    data = prepared(tmp_path)
    with pytest.raises(IacsieveError, match="selection.json: not found"):
        freeze(tmp_path / "selection.json", tmp_path / "champion", data_dir=data)
    selection, run = selected_run(tmp_path)
    (run / "model" / "model_meta.json").unlink()
    with pytest.raises(IacsieveError, match="model_meta.json: not found"):
        freeze(selection, tmp_path / "champion", data_dir=data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mode": "best"}))
    with pytest.raises(IacsieveError, match="missing key 'selected'"):
        freeze(bad, tmp_path / "champion", data_dir=data)


def test_load_champion_names_the_missing_key(tmp_path):
    selection, _ = selected_run(tmp_path)
    out = freeze(selection, tmp_path / "champion", data_dir=prepared(tmp_path))
    champion = json.loads((out / "champion.json").read_text())
    assert load_champion(out / "champion.json") == load_champion(out) == champion
    for key in ("threshold", "data_md5", "use_context"):
        broken = {k: v for k, v in champion.items() if k != key}
        (out / "champion.json").write_text(json.dumps(broken))
        with pytest.raises(IacsieveError, match=f"champion.json: missing key '{key}'"):
            load_champion(out)
    (out / "champion.json").write_text(json.dumps({**champion, "threshold": 1.7}))
    with pytest.raises(IacsieveError, match="'threshold' must be a number in"):
        load_champion(out)
    with pytest.raises(IacsieveError, match="nowhere.champion.json: not found"):
        load_champion(tmp_path / "nowhere")
