"""The two runners agree: the four stages through DVC's entry points (`iacsieve.method.dvc`, what
dvc.yaml calls) and through the all-stages KFP pipeline under kfp.local, on the same trimmed data,
give the same selections, thresholds and champion (run names, settings, metrics). Ties are broken
deterministically (val F1, FP reduction, training cost, run name), so there is no escape hatch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from kfp import dsl

from iacsieve import layout
from iacsieve.cli import main
from iacsieve.data import TECHS, load_prepared, prepare
from iacsieve.errors import IacsieveError
from iacsieve.human import build_training_data
from iacsieve.kfp import StageInputs, pull_champion, run_local
from iacsieve.kfp.components import build_components
from iacsieve.kfp.runtime import RUN_REF_FILE, headline_metrics, publish_scores
from iacsieve.method import dvc
from iacsieve.method.grid import resolve_run_config
from iacsieve.method.params import load_params
from iacsieve.models import load_scorer
from iacsieve.steps.evaluate import evaluate
from iacsieve.steps.freeze import data_md5, freeze, load_champion
from iacsieve.steps.selection import select_runs
from iacsieve.steps.train import train

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "data" / "raw"
ROWS = {"train": 16, "val": 8, "test": 8}  # per tech, half TP / half FP where the file has them

# A trimmed local profile: the classical family only (weight decay is its knob that changes the model).
PARAMS = {
    "defaults": {"fp16": False},
    "threshold_sweep": {"start": 0.3, "stop": 0.7, "step": 0.02},
    "evaluation": {"bootstrap_samples": 20, "bootstrap_seed": 0},
    "families": {"classical": {"options": {}}},
    "stage1": {"families": ["classical"], "learning_rates": [0.0005], "batch_sizes": [16], "epochs": [1],
               "weight_decays": [0, 10]},
    "stage2": {"families": ["classical"], "learning_rates": [0.0005], "batch_sizes": [16], "epochs": [1],
               "weight_decays": [0.25, 4]},
    "stage3": {},
    "stage4": {"seeds": [1, 2]},
    "cluster": {"image": "example.org/iacsieve:test", "parallelism": 2, "retry": {"num_retries": 0}},
}


def _trim_raw(out: Path) -> Path:
    for tech in TECHS:
        for split, n in ROWS.items():
            rows = [json.loads(l) for l in (RAW / tech / f"{tech}_{split}.jsonl").read_text().splitlines() if l.strip()]
            tp = [r for r in rows if r["label"] == "TP"][: n // 2]
            fp = [r for r in rows if r["label"] == "FP"][: n - len(tp)]
            (out / tech).mkdir(parents=True, exist_ok=True)
            (out / tech / f"{tech}_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tp + fp))
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("runners")
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    return {"root": root, "params": params, "raw": _trim_raw(root / "raw")}


@pytest.fixture(scope="module")
def dvc_chain(setup) -> dict[int, dict]:
    """The four stages through DVC's entry points, in a project root of their own."""
    root = setup["root"] / "dvc"
    params = load_params(setup["params"])
    prepare(setup["raw"], root / params.data.prepared)
    (root / "data" / "human").mkdir(parents=True)  # dvc.yaml's training-data stage, no reviewers' labels yet
    build_training_data(root / params.data.prepared, root / "data" / "human", root / params.data.training, params.human)
    out = {}
    for stage in (1, 2, 3, 4):
        if dvc.stage_plan(stage).builds_on == "nothing":  # dvc.yaml's matrix: one call per grid point
            for point in params.stage(stage).grid_points():
                dvc.stage_run(params, stage, point, root=root)
        else:
            dvc.stage_run(params, stage, root=root)
        out[stage] = {"selection": dvc.select_stage(params, stage, root=root)}
        if dvc.stage_plan(stage).freezes:
            out[stage]["champion"] = dvc.freeze_stage(params, stage, root=root)
    out["prepared"] = root / params.data.training
    return out


@pytest.fixture(scope="module")
def kfp_run(setup) -> dict:
    """The all-stages pipeline under kfp.local; each stage's selection found by its `stage` field."""
    pipeline_root = setup["root"] / "kfp"
    outputs = run_local("all", StageInputs(str(setup["raw"])), params_path=setup["params"], profile="local",
                        pipeline_root=pipeline_root)
    selections = {}
    for path in pipeline_root.rglob(layout.SELECTION_FILE):
        selection = json.loads(path.read_text())
        selections[int(selection["stage"].removeprefix("stage"))] = selection
    cards = {load_champion(p)["stage"]: p.parent for p in pipeline_root.rglob(layout.CHAMPION_FILE)
             if p.parent.name == "champion"}
    return {"outputs": outputs, "selections": selections, "champions": cards}


def _comparable_run(row: dict) -> dict:
    return {k: row[k] for k in ("run", "family", "config", "threshold", "val_f1", "test")}


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_both_runners_select_the_same(dvc_chain, kfp_run, stage):
    ours, theirs = dvc_chain[stage]["selection"], kfp_run["selections"][stage]
    assert ours["mode"] == theirs["mode"]
    assert _comparable_run(ours["selected"]) == _comparable_run(theirs["selected"])
    assert [_comparable_run(r) for r in ours["runs"]] == [_comparable_run(r) for r in theirs["runs"]]
    assert all("best" not in r["run"] for r in ours["runs"])  # names carry resolved values
    assert all("wall_time_s" not in r for r in ours["runs"])


@pytest.mark.slow
@pytest.mark.parametrize("stage", [3, 4])
def test_both_runners_freeze_the_same_champion(dvc_chain, kfp_run, stage):
    ours, theirs = load_champion(dvc_chain[stage]["champion"]), load_champion(kfp_run["champions"][f"stage{stage}"])
    keys = ("run", "family", "config", "threshold", "val_f1", "test", "data_md5", "smells", "stage", "validation")
    assert {k: ours[k] for k in keys} == {k: theirs[k] for k in keys}
    assert ours["data_md5"] == data_md5(dvc_chain["prepared"])
    records = load_prepared(dvc_chain["prepared"], "test")  # the same run trained twice: the same model
    np.testing.assert_array_equal(load_scorer(dvc_chain[stage]["champion"]).predict_proba(records),
                                  load_scorer(kfp_run["champions"][f"stage{stage}"]).predict_proba(records))
    if stage == 4:
        assert load_champion(kfp_run["outputs"]["champion"])["run"] == ours["run"]


@pytest.mark.slow
def test_frozen_threshold_flows_from_stage3_to_stage4(dvc_chain):
    stage3 = load_champion(dvc_chain[3]["champion"])
    assert stage3["threshold_source"].startswith("sweep:")
    sweep = json.loads(Path(stage3["threshold_source"].split(":", 1)[1]).read_text())
    assert stage3["threshold"] == sweep["best_threshold"]
    stage4 = dvc_chain[4]["selection"]
    assert {r["threshold"] for r in stage4["runs"]} == {stage3["threshold"]}
    assert all(r["threshold_source"].startswith("frozen:") for r in stage4["runs"])
    for row in stage4["runs"]:  # stage 4 re-seeds the stage-3 settings and nothing else
        assert {k: v for k, v in row["config"].items() if k != "seed"} == \
               {k: v for k, v in stage3["config"].items() if k != "seed"}
        assert row["run"] == f"{stage3['run']}_seed{row['config']['seed']}"


@pytest.mark.slow
def test_a_losing_rerun_leaves_what_later_stages_read_unchanged(dvc_chain, setup):
    """winner.json (what stage 3 reads) and selection files hold no wall time: rerunning a run
    that did not win, then selecting again, rewrites them byte for byte."""
    root = setup["root"] / "dvc"
    params = load_params(setup["params"])
    winner = layout.selection_dir(2, root) / layout.WINNER_FILE
    before = {p.name: p.read_bytes() for p in layout.selection_dir(2, root).iterdir()}
    loser = next(r for r in dvc_chain[2]["selection"]["runs"] if not r["selected"])
    dvc.stage_run(params, 2, {k: loser["config"][k] for k in ("family", "learning_rate", "batch_size", "epochs",
                                                             "weight_decay")}, root=root)
    dvc.select_stage(params, 2, root=root)
    assert {p.name: p.read_bytes() for p in layout.selection_dir(2, root).iterdir()} == before
    assert json.loads(winner.read_text())["config"] == dvc_chain[2]["selection"]["selected"]["config"]
    assert (layout.timings_file(2, loser["run"], root)).is_file()  # timings go beside, not inside


# ----------------------------------------------------------------------------- fast: bodies + pull

@pytest.fixture(scope="module")
def one_run(prepared_small, tmp_path_factory) -> dict:
    """One classical run on the shared trimmed data, evaluated, selected and frozen by the library."""
    root = tmp_path_factory.mktemp("one-run")
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    config = resolve_run_config(load_params(path), 1, {"family": "classical"})
    run_dir = train(config, prepared_small, root / "runs" / "classical")
    evaluate(run_dir, root / "results", bootstrap_samples=20)
    select_runs([root / "results"], root / "selection")
    champion = freeze(root / "selection" / "selection.json", root / "champion", prepared_small)
    return {"run_dir": run_dir, "champion": champion}


def test_evaluate_component_reads_scores_and_logs_the_headline_metrics(one_run, tmp_path):
    """`python_func` runs the component body in-process, so the logged Metrics can be read back."""
    scores = tmp_path / "scores"
    publish_scores(one_run["run_dir"], scores, run_uri="gs://bucket/run")
    assert not (scores / layout.MODEL_DIR).exists()  # the small artifact carries no weights
    metrics = dsl.Metrics(name="metrics", uri=str(tmp_path / "metrics"), metadata={})
    evaluation = dsl.Artifact(name="evaluation", uri=str(tmp_path / "evaluation"), metadata={})
    build_components("example.org/iacsieve:test").evaluate.python_func(
        scores=dsl.Artifact(name="scores", uri=str(scores), metadata={}), rule="argmax", bootstrap_samples=20,
        bootstrap_seed=0, evaluation=evaluation, metrics=metrics)
    summary = json.loads((tmp_path / "evaluation" / "summary.json").read_text())
    assert summary["run"] == one_run["run_dir"].name
    assert metrics.metadata == headline_metrics(summary)
    assert metrics.metadata["test_f1"] == summary["test"]["combined"]["f1"]
    assert summary["val"] == json.loads((one_run["champion"].parent / "results" / "summary.json").read_text())["val"]
    assert json.loads((tmp_path / "evaluation" / RUN_REF_FILE).read_text())["uri"] == "gs://bucket/run"


def test_pull_champion_is_checked_and_atomic(one_run, tmp_path):
    champion = one_run["champion"]
    dest = tmp_path / "models" / "champion"
    assert pull_champion(str(champion), dest)["run"] == load_champion(champion)["run"]
    assert load_champion(dest) == load_champion(champion)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "champion.json").write_text("{}")
    with pytest.raises(IacsieveError, match="missing key"):
        pull_champion(str(broken), dest)
    assert load_champion(dest) == load_champion(champion)  # the previous champion is intact
    assert main(["kfp", "pull-champion", f"file://{champion}", "--out", str(tmp_path / "c2")]) == 0
    assert load_champion(tmp_path / "c2")["threshold"] == load_champion(champion)["threshold"]
    assert main(["kfp", "pull-champion", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c3")]) == 2
    assert not (tmp_path / "c3").exists()
