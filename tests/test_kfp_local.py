"""The two runners agree: the four stages through DVC's entry points (`iacsieve.method.dvc`, what
dvc.yaml calls) and through the all-stages KFP pipeline under kfp.local (`iacsieve kfp run-local --stage
all`, as a user runs it, whose printed lines are checked too), on the same trimmed data and
reviewers' labels, give the same selections, thresholds and champion (run names, settings,
metrics). Ties are broken deterministically (val F1, FP reduction, training cost, run name), so
there is no escape hatch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from kfp import dsl
from runners import (
    CHAMPION_KEYS,
    EXAMPLE_LABELS,
    PARAMS,
    comparable_run,
    make_setup,
    stage_outputs,
)
from runners import dvc_chain as run_dvc_chain

from iacsieve.cli.app import main
from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.data.records import load_prepared
from iacsieve.kfp import pull_champion
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


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    return make_setup(tmp_path_factory.mktemp("runners"))


# Both runners apply the same committed example of reviewers' labels: DVC's training-data step and the
# pipeline's training-data task must give the same training data, so every later comparison holds
# only if they do. (Without labels, the pipeline's stage 1 runs in the run-local tests below.)
@pytest.fixture(scope="module")
def dvc_chain(setup) -> dict:
    return run_dvc_chain(setup, human=EXAMPLE_LABELS)


@pytest.fixture(scope="module")
def kfp_run(setup) -> dict:
    """The all-stages pipeline as a user runs it, `iacsieve kfp run-local --stage all` with the same
    labels: what it printed, the outputs it named, each stage's selection and champion."""
    root = setup["root"] / "kfp"
    proc = _cli(
        "kfp",
        "run-local",
        "--stage",
        "all",
        "--profile",
        "local",
        "--params",
        str(setup["params"]),
        "--data-uri",
        str(setup["raw"]),
        "--human-uri",
        str(EXAMPLE_LABELS),
        "--pipeline-root",
        str(root),
        cwd=setup["root"],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("stage all finished in "))
    outputs = dict(line.strip().split(": ", 1) for line in lines[summary + 1 :])
    return {"proc": proc, "lines": lines, "summary": summary, "outputs": outputs, **stage_outputs(root)}


@pytest.mark.slow
def test_a_local_run_warns_of_nothing_that_is_fine_here(kfp_run):
    """kfp.local warned, once per task, that display names have no effect locally: 40 lines of noise."""
    assert kfp_run["proc"].stderr == "" and "display_name" not in kfp_run["proc"].stdout


@pytest.mark.slow
def test_run_local_prints_one_line_per_task_and_a_summary(kfp_run, setup):
    lines, summary = kfp_run["lines"], kfp_run["summary"]
    output = "\n".join(lines)
    tasks = [line.split()[:2] for line in lines[:summary]]
    assert all(status == "ok" for status, _ in tasks), output  # nothing but one line per task before it
    # the all-stages graph names a task `<step>`, `<step>-<stage>` or `s<stage>-<step>`
    steps = [re.sub(r"^s\d-|-\d$", "", name) for _, name in tasks]
    names = Counter(steps)
    params = load_params(setup["params"])
    runs = sum(len(params.stage(n).grid_points()) for n in (1, 2, 3, 4))  # stage 3: one run
    assert names == {
        **{"prepare": 1, "training-data": 1, "train": runs, "evaluate": runs, "select": 4},
        **{"threshold-sweep": 1, "freeze": 2, "importer": 4, "resolve": 3},  # the inputs of stages 2-4
    }, names
    trained = [line for line, step in zip(lines, steps) if step == "train"]
    assert len(trained) == runs and all("training classical_" in line for line in trained), output
    assert Path(kfp_run["outputs"]["champion"], layout.CHAMPION_FILE).is_file(), output


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_both_runners_select_the_same(dvc_chain, kfp_run, stage):
    ours, theirs = dvc_chain[stage]["selection"], kfp_run["selections"][stage]
    assert ours["mode"] == theirs["mode"]
    assert comparable_run(ours["selected"]) == comparable_run(theirs["selected"])
    assert [comparable_run(r) for r in ours["runs"]] == [comparable_run(r) for r in theirs["runs"]]
    assert all("best" not in r["run"] for r in ours["runs"])  # names carry resolved values
    assert all("wall_time_s" not in r for r in ours["runs"])


@pytest.mark.slow
@pytest.mark.parametrize("stage", [3, 4])
def test_both_runners_freeze_the_same_champion(dvc_chain, kfp_run, stage):
    ours, theirs = (
        load_champion(dvc_chain[stage]["champion"]),
        load_champion(kfp_run["champions"][f"stage{stage}"]),
    )
    assert {k: ours[k] for k in CHAMPION_KEYS} == {k: theirs[k] for k in CHAMPION_KEYS}
    assert ours["data_md5"] == data_md5(dvc_chain["prepared"])
    records = load_prepared(dvc_chain["prepared"], "test")  # the same run trained twice: the same model
    np.testing.assert_array_equal(
        load_scorer(dvc_chain[stage]["champion"]).predict_proba(records),
        load_scorer(kfp_run["champions"][f"stage{stage}"]).predict_proba(records),
    )
    assert ours["validation"] == "merged"  # chosen on validation with the reviewers' labels merged in
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
        assert {k: v for k, v in row["config"].items() if k != "seed"} == {
            k: v for k, v in stage3["config"].items() if k != "seed"
        }
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
    dvc.stage_run(
        params,
        2,
        {k: loser["config"][k] for k in ("family", "learning_rate", "batch_size", "epochs", "weight_decay")},
        root=root,
    )
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
        scores=dsl.Artifact(name="scores", uri=str(scores), metadata={}),
        rule="argmax",
        bootstrap_samples=20,
        bootstrap_seed=0,
        evaluation=evaluation,
        metrics=metrics,
    )
    summary = json.loads((tmp_path / "evaluation" / "summary.json").read_text())
    assert summary["run"] == one_run["run_dir"].name
    assert metrics.metadata == headline_metrics(summary)
    assert metrics.metadata["test_f1"] == summary["test"]["combined"]["f1"]
    assert (
        summary["val"]
        == json.loads((one_run["champion"].parent / "results" / "summary.json").read_text())["val"]
    )
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


# ----------------------------------------------------------------------------- output and workers


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iacsieve", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_run_local_failure_is_its_task_line_and_one_error(setup, tmp_path):
    bad = tmp_path / "raw"
    shutil.copytree(setup["raw"], bad)
    rows = (bad / "chef" / "chef_val.jsonl").read_text().splitlines()
    rows[1] = (
        rows[1].replace('"label": "FP"', '"label": "maybe"').replace('"label": "TP"', '"label": "maybe"')
    )
    (bad / "chef" / "chef_val.jsonl").write_text("\n".join(rows) + "\n")
    proc = _cli(
        "kfp",
        "run-local",
        "--stage",
        "1",
        "--profile",
        "local",
        "--params",
        str(setup["params"]),
        "--data-uri",
        str(bad),
        "--pipeline-root",
        str(tmp_path / "kfp"),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stdout.splitlines()[-1].split()[:2] == ["FAILED", "prepare"]
    assert "chef_val.jsonl:2: field 'label'" in proc.stdout
    assert proc.stderr.splitlines() == [
        f"iacsieve: error: stage 1: task prepare failed: DataError: {bad}/chef/chef_val.jsonl:2: field 'label': "
        "must be 'TP' or 'FP', got 'maybe'"
    ]


def test_core_workers_runs_one_task_per_core_with_one_thread_each(monkeypatch):
    from kfp.local.orchestrator import enhanced_dag_orchestrator as orchestrator

    from iacsieve.kfp.local_workers import core_workers

    seen = {}

    def fake_execute(self, *args, parallelism_limit=0, **kwargs):
        seen.update(limit=parallelism_limit, cap=self.conservative_max, omp=os.environ.get("OMP_NUM_THREADS"))
        return {}, None

    monkeypatch.setattr(orchestrator.ParallelExecutor, "execute_parallel_tasks", fake_execute)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    base = orchestrator.ParallelExecutor
    with core_workers(5) as workers:
        orchestrator.ParallelExecutor().execute_parallel_tasks(
            parallelism_limit=2
        )  # the spec's (cluster) limit
    assert workers == 5 and seen == {"limit": 5, "cap": 5, "omp": "1"}
    assert orchestrator.ParallelExecutor is base and os.environ["OMP_NUM_THREADS"] == "7"


def test_available_cores_honours_a_container_cpu_quota(tmp_path):
    from iacsieve.kfp.local_workers import available_cores

    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    unlimited = available_cores(cpu_max)
    assert unlimited == len(os.sched_getaffinity(0))
    cpu_max.write_text("50000 100000\n")  # half a core: one task at a time
    assert available_cores(cpu_max) == 1
    cpu_max.write_text(f"{150000 * unlimited} 100000\n")  # 1.5x the cores: the affinity mask is the limit
    assert available_cores(cpu_max) == unlimited
    assert available_cores(tmp_path / "missing") == unlimited
