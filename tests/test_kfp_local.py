"""Run the four stages end to end with kfp.local (a trimmed classical-only profile) and check that the
champion and metrics KFP produces are what the library produces for the same inputs.

The library chain below calls the steps directly (prepare -> train -> sweep -> evaluate -> select ->
freeze), each stage fed by its own previous selection, so the two chains share only the inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from kfp import dsl

from iacsieve.cli import main
from iacsieve.components import build_components
from iacsieve.components.runtime import headline_metrics
from iacsieve.config import load_params, resolve_run_config, run_dir_name
from iacsieve.data import TECHS, load_prepared, prepare
from iacsieve.errors import IacsieveError
from iacsieve.evaluate import evaluate
from iacsieve.freeze import data_md5, freeze, load_champion
from iacsieve.models import load_scorer
from iacsieve.pipelines import StageInputs, pull_champion, run_local
from iacsieve.select import select_runs
from iacsieve.threshold import sweep_threshold
from iacsieve.train import train

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "data" / "raw"
ROWS = {"train": 16, "val": 8, "test": 8}  # per tech, half TP / half FP where the file has them

# A trimmed profile: the classical family only (weight decay is its one knob that changes the model).
PARAMS = {
    "profile": "tiny",
    "defaults": {"fp16": False},
    "threshold_sweep": {"start": 0.3, "stop": 0.7, "step": 0.02},
    "evaluation": {"bootstrap_samples": 20, "bootstrap_seed": 0},
    "families": {"classical": {"options": {}}},
    "stage1": {"families": ["classical"], "learning_rates": [0.0005], "weight_decays": [0, 10]},  # distinct val F1s
    "stage2": {"families": ["best"], "weight_decays": [0.25]},
    "stage3": {"weight_decays": ["best"], "decision_rule": "threshold"},
    "stage4": {"seeds": [1, 2], "decision_rule": "frozen"},
    "cluster": {"image": "example.org/iacsieve:test", "parallelism": 2, "retries": 0},
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
    root = tmp_path_factory.mktemp("kfp-local")
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    return {"root": root, "params": params, "raw": _trim_raw(root / "raw")}


@pytest.fixture(scope="module")
def kfp_chain(setup) -> dict[int, dict[str, str]]:
    """Stages 1-4 under kfp.local, each taking the previous run's outputs; stage 4 through the CLI."""
    root, params = setup["root"], str(setup["params"])
    out: dict[int, dict[str, str]] = {}
    for stage in (1, 2, 3):
        inputs = StageInputs(str(setup["raw"]), out.get(stage - 1, {}).get("selection"))
        out[stage] = run_local(stage, inputs, params_path=params, profile=None, pipeline_root=root / "kfp")
    assert main(["kfp", "run-local", "--stage", "4", "--profile", "", "--params", params,
                 "--pipeline-root", str(root / "kfp"), "--data-uri", str(setup["raw"]),
                 "--champion-uri", out[3]["champion"],
                 "--champion-out", str(root / "models" / "champion")]) == 0
    stage4 = sorted((root / "kfp").glob("iacsieve-stage4-*"))[-1]
    out[4] = {"selection": str(stage4 / "select" / "selection"), "champion": str(stage4 / "freeze" / "champion")}
    return out


@pytest.fixture(scope="module")
def library_chain(setup) -> dict:
    """The same four stages by direct library calls, in a folder of its own."""
    lib = setup["root"] / "lib"
    prepared = lib / "prepared"
    prepare(setup["raw"], prepared)
    params = load_params(setup["params"])
    selection: dict | None = None
    out: dict = {"prepared": prepared}
    for stage in (1, 2, 3, 4):
        if stage == 4:  # stage 4 builds on the stage-3 champion (its config and frozen threshold)
            selection = load_champion(out[3]["champion"])
        rule = params.stage(stage).decision_rule
        results = []
        for point in params.stage(stage).grid_points():
            name = run_dir_name(stage, point)
            run_dir = train(resolve_run_config(params, stage, point, selection), prepared, lib / f"s{stage}" / "runs" / name)
            sweep = None
            if rule == "threshold":
                sweep = lib / f"s{stage}" / "sweeps" / name / "sweep.json"
                sweep_threshold(run_dir / "val_scores.jsonl", sweep, **params.threshold_sweep.to_dict())
            champion = out[3]["champion"] / "champion.json" if rule == "frozen" else None
            result = lib / f"s{stage}" / "results" / name
            evaluate(run_dir, result, rule=rule, sweep_file=sweep, champion_file=champion,
                     bootstrap_samples=params.evaluation.bootstrap_samples,
                     bootstrap_seed=params.evaluation.bootstrap_seed)
            results.append(result)
        sel_dir = lib / f"s{stage}" / "selection"
        selection = select_runs(results, sel_dir, mode="median" if stage == 4 else "best", stage=f"stage{stage}")
        out[stage] = {"selection": sel_dir}
        if stage >= 3:
            out[stage]["champion"] = freeze(sel_dir / "selection.json", lib / f"s{stage}" / "champion", prepared)
    return out


def _selection(path: str | Path) -> dict:
    return json.loads((Path(path) / "selection.json").read_text())


def _without_paths(obj):
    """Drop what legitimately differs between the two chains: where things were written."""
    if isinstance(obj, dict):
        return {k: _without_paths(v) for k, v in obj.items()
                if k not in ("run_dir", "results_dir", "selection", "val_scores", "threshold_source")}
    if isinstance(obj, list):
        return [_without_paths(v) for v in obj]
    return obj


def _tied(selection: dict) -> bool:
    """Whether the chosen run shares its val F1 and FP reduction with another run: then `select` breaks
    the tie by wall time, which differs between any two executions, so only the metrics must match."""
    chosen = selection["selected"]
    key = next((r["val_f1"], r["val_fp_reduction"]) for r in selection["runs"] if r["run"] == chosen["run"])
    return sum((r["val_f1"], r["val_fp_reduction"]) == key for r in selection["runs"]) > 1


def _comparable(selection: dict) -> dict:
    """A selection without paths, wall times and, where tied, without which of the equals was chosen."""
    runs = sorted(({k: v for k, v in r.items() if k not in ("wall_time_s", "rank", "selected")}
                   for r in _without_paths(selection["runs"])), key=lambda r: r["run"])
    selected = _without_paths(selection["selected"])
    selected.pop("rank")
    if _tied(selection):
        for key in ("run", "config"):
            selected.pop(key)
    return {"mode": selection["mode"], "stage": selection["stage"], "selected": selected, "runs": runs}


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_selection_matches_the_library(kfp_chain, library_chain, setup, stage):
    kfp_sel, lib_sel = _selection(kfp_chain[stage]["selection"]), _selection(library_chain[stage]["selection"])
    expected_runs = {run_dir_name(stage, p) for p in load_params(setup["params"]).stage(stage).grid_points()}
    assert {r["run"] for r in kfp_sel["runs"]} == expected_runs
    assert _comparable(kfp_sel) == _comparable(lib_sel)
    if stage == 1:  # the grid was chosen so that stage 1 has a clear winner
        assert not _tied(kfp_sel) and kfp_sel["selected"]["run"] == lib_sel["selected"]["run"]
    # the ranking's metrics are the evaluation summaries KFP wrote, equal to the library's
    for row in kfp_sel["runs"]:
        summary = json.loads((Path(row["results_dir"]) / "summary.json").read_text())
        lib_row = next(r for r in lib_sel["runs"] if r["run"] == row["run"])
        lib_summary = json.loads((Path(lib_row["results_dir"]) / "summary.json").read_text())
        assert summary["val"] == lib_summary["val"] and summary["test"] == lib_summary["test"]
        assert summary["config"] == lib_summary["config"]


@pytest.mark.slow
@pytest.mark.parametrize("stage", [3, 4])
def test_champion_matches_the_library(kfp_chain, library_chain, stage):
    kfp_dir, lib_dir = Path(kfp_chain[stage]["champion"]), Path(library_chain[stage]["champion"])
    kfp_champ, lib_champ = load_champion(kfp_dir), load_champion(lib_dir)
    tied = _tied(_selection(kfp_chain[stage]["selection"]))
    drop = ("run", "config") if tied else ()
    assert {k: v for k, v in _without_paths(kfp_champ).items() if k not in drop} == \
           {k: v for k, v in _without_paths(lib_champ).items() if k not in drop}
    assert kfp_champ["data_md5"] == data_md5(library_chain["prepared"])
    if not tied:  # the same run, trained twice from the same inputs: the same model
        records = load_prepared(library_chain["prepared"], "test")
        np.testing.assert_array_equal(load_scorer(kfp_dir).predict_proba(records),
                                      load_scorer(lib_dir).predict_proba(records))


@pytest.mark.slow
def test_frozen_threshold_flows_from_stage3_to_stage4(kfp_chain, setup):
    stage3 = load_champion(kfp_chain[3]["champion"])
    assert stage3["threshold_source"].startswith("sweep:")
    sweep = json.loads(Path(stage3["threshold_source"].split(":", 1)[1]).read_text())
    assert stage3["threshold"] == sweep["best_threshold"]
    stage4 = _selection(kfp_chain[4]["selection"])
    assert {r["threshold"] for r in stage4["runs"]} == {stage3["threshold"]}
    assert all(r["threshold_source"].startswith("frozen:") for r in stage4["runs"])
    # stage 4 re-seeds the stage-3 config and nothing else
    for row in stage4["runs"]:
        assert {k: v for k, v in row["config"].items() if k != "seed"} == \
               {k: v for k, v in stage3["config"].items() if k != "seed"}
    # --champion-out brought the stage-4 champion home
    assert load_champion(setup["root"] / "models" / "champion") == load_champion(kfp_chain[4]["champion"])


# ----------------------------------------------------------------------------- fast: bodies + pull

@pytest.fixture(scope="module")
def one_run(prepared_small, tmp_path_factory) -> dict:
    """One classical run on the shared trimmed data, evaluated, selected and frozen by the library."""
    root = tmp_path_factory.mktemp("one-run")
    config = resolve_run_config(load_params(_write_params(root)), 1, {"family": "classical"}, None)
    run_dir = train(config, prepared_small, root / "runs" / "classical")
    evaluate(run_dir, root / "results", bootstrap_samples=20)
    select_runs([root / "results"], root / "selection")
    champion = freeze(root / "selection" / "selection.json", root / "champion", prepared_small)
    return {"run_dir": run_dir, "champion": champion}


def _write_params(root: Path) -> Path:
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    return path


def test_evaluate_component_logs_the_headline_metrics(one_run, tmp_path):
    """`python_func` runs the component body in-process, so the logged Metrics can be read back."""
    import shutil

    artifact = tmp_path / "run-artifact"  # laid out as a train task writes it: the run dir one level down
    shutil.copytree(one_run["run_dir"], artifact / one_run["run_dir"].name)
    metrics = dsl.Metrics(name="metrics", uri=str(tmp_path / "metrics"), metadata={})
    evaluation = dsl.Artifact(name="evaluation", uri=str(tmp_path / "evaluation"), metadata={})
    build_components("example.org/iacsieve:test").evaluate.python_func(
        run=dsl.Model(name="run", uri=str(artifact), metadata={}), rule="argmax", bootstrap_samples=20,
        bootstrap_seed=0, evaluation=evaluation, metrics=metrics)
    summary = json.loads((tmp_path / "evaluation" / "summary.json").read_text())
    assert summary["run"] == one_run["run_dir"].name
    assert metrics.metadata == headline_metrics(summary)
    assert set(metrics.metadata) >= {"val_f1", "test_f1", "test_fp_reduction", "threshold"}
    assert metrics.metadata["test_f1"] == summary["test"]["combined"]["f1"]
    assert summary["val"] == json.loads((one_run["champion"].parent / "results" / "summary.json").read_text())["val"]


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


# ----------------------------------------------------------------------------- output and workers

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iacsieve", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_run_local_prints_one_line_per_task_and_a_summary(setup, tmp_path):
    proc = _cli("kfp", "run-local", "--stage", "1", "--profile", "", "--params", str(setup["params"]),
                "--data-uri", str(setup["raw"]), "--pipeline-root", str(tmp_path / "kfp"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    output = proc.stdout + proc.stderr
    assert len(lines) <= 30 and proc.stderr == "", output
    tasks = [line.split()[:2] for line in lines if line.startswith("ok ")]
    points = len(load_params(setup["params"]).stage(1).grid_points())
    assert sorted(t[1] for t in tasks) == sorted(["importer", "prepare", "select"] + ["train", "evaluate"] * points), output
    trained = [line for line in lines if line.split()[1:2] == ["train"]]
    assert all("training classical_" in line for line in trained)
    assert lines[-2].startswith("stage 1 finished in ") and lines[-1].startswith("  selection: ")
    assert Path(lines[-1].split(": ", 1)[1], "selection.json").is_file()


def test_run_local_failure_is_its_task_line_and_one_error(setup, tmp_path):
    bad = tmp_path / "raw"
    shutil.copytree(setup["raw"], bad)
    rows = (bad / "chef" / "chef_val.jsonl").read_text().splitlines()
    rows[1] = rows[1].replace('"label": "FP"', '"label": "maybe"').replace('"label": "TP"', '"label": "maybe"')
    (bad / "chef" / "chef_val.jsonl").write_text("\n".join(rows) + "\n")
    proc = _cli("kfp", "run-local", "--stage", "1", "--profile", "", "--params", str(setup["params"]),
                "--data-uri", str(bad), "--pipeline-root", str(tmp_path / "kfp"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout.splitlines()[-1].split()[:2] == ["FAILED", "prepare"]
    assert "chef_val.jsonl:2: field 'label'" in proc.stdout
    assert proc.stderr.splitlines() == [
        f"iacsieve: error: stage 1: task prepare failed: DataError: {bad}/chef/chef_val.jsonl:2: field 'label': "
        "must be 'TP' or 'FP', got 'maybe'"]


def test_core_workers_runs_one_task_per_core_with_one_thread_each(monkeypatch):
    from iacsieve.pipelines.local_workers import core_workers
    from iacsieve.pipelines.run import _import_kfp_local

    _import_kfp_local()  # kfp.local, imported past the repo's docker/ folder
    from kfp.local.orchestrator import enhanced_dag_orchestrator as orchestrator

    seen = {}

    def fake_execute(self, *args, parallelism_limit=0, **kwargs):
        seen.update(limit=parallelism_limit, cap=self.conservative_max, omp=os.environ.get("OMP_NUM_THREADS"))
        return {}, None

    monkeypatch.setattr(orchestrator.ParallelExecutor, "execute_parallel_tasks", fake_execute)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    base = orchestrator.ParallelExecutor
    with core_workers(5) as workers:
        orchestrator.ParallelExecutor().execute_parallel_tasks(parallelism_limit=2)  # the spec's (cluster) limit
    assert workers == 5 and seen == {"limit": 5, "cap": 5, "omp": "1"}
    assert orchestrator.ParallelExecutor is base and os.environ["OMP_NUM_THREADS"] == "7"


def test_available_cores_honours_a_container_cpu_quota(tmp_path):
    from iacsieve.pipelines.local_workers import available_cores

    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    unlimited = available_cores(cpu_max)
    assert unlimited == len(os.sched_getaffinity(0))
    cpu_max.write_text("50000 100000\n")  # half a core: one task at a time
    assert available_cores(cpu_max) == 1
    cpu_max.write_text(f"{150000 * unlimited} 100000\n")  # 1.5x the cores: the affinity mask is the limit
    assert available_cores(cpu_max) == unlimited
    assert available_cores(tmp_path / "missing") == unlimited
