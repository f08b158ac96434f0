"""Compile every stage's pipeline for both profiles and check the graph in the compiled IR YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from worktree import repo_copy

from iacsieve.cli.app import main
from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.kfp import StageInputs, compile_stage
from iacsieve.kfp.image_ref import pinned
from iacsieve.method.grid import stage_runs
from iacsieve.method.params import load_params, read_yaml
from iacsieve.method.plan import stage_plan

REPO = Path(__file__).resolve().parents[1]
PARAMS = repo_copy("params.yaml")  # the staged file: a user's working edits never reach the tests
PROFILES = ("local", "cluster")


STAGES = (1, 2, 3, 4, "all")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[tuple[object, str], tuple[dict, dict]]:
    """(stage, profile) -> (pipeline spec, kubernetes platform spec or {}), from the repo's params.yaml."""
    out = tmp_path_factory.mktemp("kfp")
    specs = {}
    for stage in STAGES:
        for profile in PROFILES:
            path = compile_stage(stage, out / f"s{stage}-{profile}.yaml", PARAMS, profile)
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            platform = docs[1]["platforms"]["kubernetes"] if len(docs) > 1 else {}
            specs[stage, profile] = (docs[0], platform)
    return specs


def loops(spec: dict) -> dict[str, dict]:
    """The root DAG's ParallelFor tasks by name (one per stage)."""
    return {name: task for name, task in spec["root"]["dag"]["tasks"].items() if "parameterIterator" in task}


def named(tasks: dict) -> dict:
    """Tasks by their display name (`s<stage>-<step>`); DAG keys are KFP's deduplicated component names."""
    return {t["taskInfo"]["name"]: t for t in tasks.values()}


def producer(tasks: dict, ref: dict) -> str:
    """The display name of the task a `taskOutput*` reference points to."""
    return tasks[ref["producerTask"]]["taskInfo"]["name"]


def loop_tasks(spec: dict, loop: dict) -> dict:
    return named(spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"])


def only_loop(spec: dict) -> tuple[dict, dict]:
    (loop,) = loops(spec).values()
    return loop, loop_tasks(spec, loop)


def executor_inputs(spec: dict, component: str) -> dict:
    return spec["components"][f"comp-{component}"]["inputDefinitions"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_fan_out_is_the_grid_of_resolved_settings(compiled, stage, profile):
    spec, _ = compiled[stage, profile]
    params = load_params(PARAMS, profile=profile)
    loop, tasks = only_loop(spec)
    items = [json.loads(item) for item in json.loads(loop["parameterIterator"]["items"]["raw"])]
    assert loop["iteratorPolicy"]["parallelismLimit"] == params.cluster.parallelism
    train = tasks["train"]
    assert set(train["inputs"]["parameters"]) == {"config_json", "stage"}  # settings only (cache-stable)
    assert set(train["inputs"]["artifacts"]) == {"data"}
    if profile == "cluster":  # pod settings are a cluster's: kfp.local ignores them
        retry = params.cluster.pods.retry
        assert train["retryPolicy"]["maxRetryCount"] == retry.num_retries
        assert train["retryPolicy"]["backoffFactor"] == retry.backoff_factor
    if stage_plan(stage).builds_on == "nothing":  # every run's settings known at compile time
        assert items == [c.to_dict() for _, c in stage_runs(params, stage)]
        assert (
            train["inputs"]["parameters"]["config_json"]["componentInputParameter"]
            == loop["parameterIterator"]["itemInput"]
        )
    else:  # resolved at run time from the previous stage's output
        assert items == params.stage(stage).grid_points()
        ref = train["inputs"]["parameters"]["config_json"]["taskOutputParameter"]
        assert producer(spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"], ref) == "resolve"


def test_train_tasks_ignore_unrelated_params_edits(tmp_path):
    """Editing a key no run uses (here: the cluster grid of stage 2, the bootstrap) leaves stage 1's
    train tasks' inputs unchanged, so a cluster's cache keeps every finished GPU run."""

    def train_inputs(params_file: Path) -> dict:
        spec = next(
            yaml.safe_load_all(compile_stage(1, tmp_path / "s.yaml", params_file, "cluster").read_text())
        )
        loop, tasks = only_loop(spec)
        return {"items": loop["parameterIterator"]["items"]["raw"], "train": tasks["train"]["inputs"]}

    before = train_inputs(PARAMS)
    mapping = read_yaml(PARAMS)
    mapping["profiles"]["cluster"]["stage2"]["learning_rates"] = [0.00004]
    mapping["evaluation"]["bootstrap_samples"] = 10
    mapping["stage1"]["families"] = ["classical"]  # the local grid
    edited = tmp_path / "params.yaml"
    edited.write_text(yaml.safe_dump(mapping))
    assert train_inputs(edited) == before
    mapping["defaults"]["scheduler"] = "cosine"  # a setting the runs use does change them
    edited.write_text(yaml.safe_dump(mapping))
    assert train_inputs(edited) != before


def test_cluster_profile_gives_train_a_gpu_and_pod_settings(compiled):
    params = load_params(PARAMS, profile="cluster")
    res = params.cluster.pods.resources["train"]
    light = params.cluster.pods.resources["light"]
    for stage in STAGES:
        spec, platform = compiled[stage, "cluster"]
        resources = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
        assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert int(resources["accelerator"]["resourceCount"]) == res.gpu
        assert resources["cpuRequest"] == float(res.cpu_request) and resources["cpuLimit"] == float(
            res.cpu_limit
        )
        assert resources["memoryRequest"] == pytest.approx(16 * 1.073741824)  # 16Gi in GB, as KFP writes it
        train_pod = platform["deploymentSpec"]["executors"]["exec-train"]
        assert train_pod["nodeSelector"]["labels"] == params.cluster.pods.node_selector
        assert train_pod["tolerations"] == [dict(t) for t in params.cluster.pods.tolerations]
        assert train_pod["emptyDirMounts"] == [
            {"medium": "Memory", "mountPath": "/dev/shm", "sizeLimit": res.shm_size, "volumeName": "dshm"}
        ]
        others = [
            e
            for n, e in spec["deploymentSpec"]["executors"].items()
            if not n.startswith("exec-train") and "container" in e
        ]
        assert others and all("accelerator" not in e["container"].get("resources", {}) for e in others)
        # every task asks for CPU and memory (quota'd namespaces reject pods that do not)
        assert all(e["container"]["resources"]["cpuRequest"] == 0.5 for e in others)
        assert all(
            e["container"]["resources"]["memoryLimit"] == pytest.approx(4 * 1.073741824) for e in others
        )
        assert light.cpu_request == "500m"


def test_local_profile_asks_for_no_gpu(compiled):
    for stage in STAGES:
        spec, platform = compiled[stage, "local"]
        assert "resources" not in spec["deploymentSpec"]["executors"]["exec-train"]["container"]
        assert platform == {}


def test_weights_travel_only_to_freeze(compiled):
    """sweep and evaluate read the small `scores` artifact; freeze imports ONE run by select's run_uri,
    inside a sub-DAG that takes the URI as its input (a real backend's importer reads only those)."""
    spec, _ = compiled["all", "cluster"]
    for component in ("threshold-sweep", "evaluate", "select", "resolve"):
        artifacts = executor_inputs(spec, component).get("artifacts", {})
        assert all(a["artifactType"]["schemaTitle"] != "system.Model" for a in artifacts.values()), component
    assert (
        executor_inputs(spec, "freeze")["artifacts"]["run"]["artifactType"]["schemaTitle"] == "system.Model"
    )
    assert not executor_inputs(spec, "freeze")["artifacts"]["run"].get("isArtifactList")
    raw_tasks = spec["root"]["dag"]["tasks"]
    tasks = named(raw_tasks)
    for n in (3, 4):
        sub = tasks[f"s{n}-freeze-chosen"]
        uri = sub["inputs"]["parameters"]["run_uri"]["taskOutputParameter"]
        assert uri["outputParameterKey"] == "run_uri" and producer(raw_tasks, uri) == f"s{n}-select"
        inner_tasks = spec["components"][sub["componentRef"]["name"]]["dag"]["tasks"]
        inner = named(inner_tasks)
        assert inner["chosen-run"]["inputs"]["parameters"]["uri"] == {"componentInputParameter": "run_uri"}
        assert producer(inner_tasks, inner["freeze"]["inputs"]["artifacts"]["run"]["taskOutputArtifact"]) == (
            "chosen-run"
        )


@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_each_stage_follows_the_plan(compiled, stage):
    spec, _ = compiled[stage, "cluster"]
    plan = stage_plan(stage)
    tasks = named(spec["root"]["dag"]["tasks"])
    _, inner = only_loop(spec)
    select = tasks["select"]
    assert select["inputs"]["parameters"]["mode"]["runtimeValue"]["constant"] == plan.selection_mode
    assert ("threshold-sweep" in inner) == plan.sweeps
    evaluate = inner["evaluate"]["inputs"]
    assert evaluate["parameters"]["rule"]["runtimeValue"]["constant"] == plan.decision_rule
    assert ("sweep" in evaluate.get("artifacts", {})) == (plan.evaluate_consumes == "sweep")
    assert ("champion" in evaluate.get("artifacts", {})) == (plan.evaluate_consumes == "champion")
    assert ("freeze-chosen" in tasks) == plan.freezes
    expected = (
        {"data_uri", "data_md5", "human_uri"}
        | ({"selection_uri"} if plan.builds_on == "winner" else set())
        | ({"champion_uri"} if plan.builds_on == "champion" else set())
    )
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == expected
    outputs = set(spec["root"]["outputDefinitions"]["artifacts"])
    assert outputs == ({"selection", "champion", "card"} if plan.freezes else {"selection"})


def test_all_stages_chain_in_graph(compiled):
    spec, _ = compiled["all", "cluster"]
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {"data_uri", "data_md5", "human_uri"} and params["data_md5"]["isOptional"]
    assert len(loops(spec)) == 4
    raw_tasks = spec["root"]["dag"]["tasks"]
    tasks = named(raw_tasks)
    by_stage = {
        n: next(ln for ln in loops(spec).values() if f"s{n}-train" in loop_tasks(spec, ln))
        for n in (1, 2, 3, 4)
    }
    # stage 3 builds on stage 2's selection, stage 4 on stage 3's champion card: wired, not pasted
    fed = {
        n: {
            producer(raw_tasks, a["taskOutputArtifact"])
            for a in by_stage[n]["inputs"].get("artifacts", {}).values()
            if "taskOutputArtifact" in a
        }
        for n in (1, 2, 3, 4)
    }
    assert fed[3] >= {"s2-select"} and fed[4] >= {"s3-freeze-chosen"}
    assert "s2-select" not in fed[1] | fed[2]
    # each stage's GPU loop waits for the previous stage's select: never two stages' train pods at once
    for n in (2, 3, 4):
        assert f"s{n - 1}-select" in {raw_tasks[d]["taskInfo"]["name"] for d in by_stage[n]["dependentTasks"]}
    assert spec["root"]["outputDefinitions"]["artifacts"].keys() == {"selection", "champion", "card"}
    assert {"s3-freeze-chosen", "s4-freeze-chosen"} <= set(tasks)


def test_components_run_in_the_project_image_without_installs(compiled, tmp_path):
    image = load_params(PARAMS).cluster.image
    spec, _ = compiled[1, "cluster"]
    executors = {
        n: e["container"] for n, e in spec["deploymentSpec"]["executors"].items() if "container" in e
    }
    assert {"exec-prepare", "exec-train", "exec-evaluate", "exec-select"} <= set(executors)
    for container in executors.values():
        # named by its source tag: an image rebuilt from other source gets another name (rules doc 4b)
        assert container["image"] == pinned(image) and container["image"].startswith(image + "-src.")
        assert "pip install" not in " ".join(container["command"])
    # every task is cached but select and the evaluations it collects (rules doc 2)
    tasks = {**spec["root"]["dag"]["tasks"], **only_loop(spec)[1]}
    assert {k for k, t in tasks.items() if not t.get("cachingOptions", {}).get("enableCache")} == {
        "select",
        "evaluate",
        "for-loop-2",  # a loop has no caching of its own
    }
    other = compile_stage(3, tmp_path / "s3.yaml", PARAMS, "cluster", image="registry.example/iacsieve:abc")
    images = {
        e["container"]["image"]
        for e in yaml.safe_load_all(other.read_text()).__next__()["deploymentSpec"]["executors"].values()
        if "container" in e
    }
    assert images == {pinned("registry.example/iacsieve:abc")}
    digest = "registry.example/iacsieve@sha256:" + "0" * 64
    other = compile_stage(3, tmp_path / "s3d.yaml", PARAMS, "cluster", image=digest)
    assert digest in other.read_text()


def test_cli_compile_writes_the_yaml(tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert (
        main(
            ["kfp", "compile", "--stage", "2", "--profile", "local", "--params", str(PARAMS), "-o", str(out)]
        )
        == 0
    )
    spec = next(yaml.safe_load_all(out.read_text()))
    assert spec["pipelineInfo"]["name"] == "iacsieve-stage2"
    assert str(out) in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "params.yaml"
    mapping = read_yaml(PARAMS)
    mapping["stage1"]["familys"] = mapping["stage1"].pop("families")
    bad.write_text(yaml.safe_dump(mapping))
    assert (
        main(
            [
                "kfp",
                "compile",
                "--stage",
                "1",
                "--profile",
                "local",
                "--params",
                str(bad),
                "-o",
                str(tmp_path / "x.yaml"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "stage1.familys" in err and "Traceback" not in err
    assert not (tmp_path / "x.yaml").exists()
    with pytest.raises(ConfigError, match="profiles"):
        compile_stage(1, tmp_path / "y.yaml", PARAMS, "no-such-profile")


def test_stage_inputs_name_the_missing_flag():
    assert StageInputs("gs://b/raw").arguments(1) == {"data_uri": "gs://b/raw"}
    assert StageInputs("gs://b/raw").arguments(2) == {"data_uri": "gs://b/raw"}  # builds on nothing
    assert StageInputs("gs://b/raw").arguments("all") == {"data_uri": "gs://b/raw"}
    with pytest.raises(IacsieveError, match="--selection-uri"):
        StageInputs("gs://b/raw").arguments(3)
    with pytest.raises(IacsieveError, match="--champion-uri"):
        StageInputs("gs://b/raw", selection_uri="gs://b/sel").arguments(4)
    assert StageInputs("gs://b/raw", champion_uri="gs://b/c").arguments(4) == {
        "data_uri": "gs://b/raw",
        "champion_uri": "gs://b/c",
    }


def test_help_documents_auth(capsys):
    with pytest.raises(SystemExit):
        main(["kfp", "submit", "--help"])
    text = capsys.readouterr().out
    for needle in ("KF_PIPELINES_SA_TOKEN_PATH", "--token", "--cookies", "kubeconfig", "port-forward"):
        assert needle in text.replace("~/.kube/config", "kubeconfig ~/.kube/config")


def test_reviewers_labels_feed_every_train_task(compiled, tmp_path):
    """With --human-uri the pipeline applies the labels store (the `human_uri` parameter) before any
    train task reads the data, as DVC's training-data stage does; without it, no such task."""
    path = compile_stage("all", tmp_path / "h.yaml", PARAMS, "cluster", human=True)
    spec = next(yaml.safe_load_all(path.read_text()))
    root = spec["root"]["dag"]["tasks"]
    tasks = named(root)
    assert tasks["human-labels"]["inputs"]["parameters"]["uri"]["componentInputParameter"] == "human_uri"
    assert (
        producer(root, tasks["training-data"]["inputs"]["artifacts"]["prepared"]["taskOutputArtifact"])
        == "prepare"
    )
    for loop in loops(spec).values():
        fed = {
            producer(root, a["taskOutputArtifact"])
            for a in loop["inputs"].get("artifacts", {}).values()
            if "taskOutputArtifact" in a
        }
        assert "training-data" in fed and "prepare" not in fed
    plain, _ = compiled["all", "cluster"]
    assert "training-data" not in named(plain["root"]["dag"]["tasks"])
