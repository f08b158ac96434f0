"""Compile every stage's pipeline for both profiles and check the graph in the compiled IR YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from iacsieve.cli import main
from iacsieve.config import load_params, read_yaml
from iacsieve.errors import ConfigError, IacsieveError
from iacsieve.pipelines import StageInputs, compile_stage

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
PROFILES = ("local", "cluster")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[tuple[int, str], tuple[dict, dict]]:
    """(stage, profile) -> (pipeline spec, kubernetes platform spec or {}), from the repo's params.yaml."""
    out = tmp_path_factory.mktemp("kfp")
    specs = {}
    for stage in (1, 2, 3, 4):
        for profile in PROFILES:
            path = compile_stage(stage, out / f"s{stage}-{profile}.yaml", PARAMS, profile)
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            platform = docs[1]["platforms"]["kubernetes"] if len(docs) > 1 else {}
            specs[stage, profile] = (docs[0], platform)
    return specs


def loop(spec: dict) -> tuple[str, dict]:
    """The root DAG's ParallelFor task (name, task)."""
    loops = [(name, task) for name, task in spec["root"]["dag"]["tasks"].items() if "parameterIterator" in task]
    assert len(loops) == 1
    return loops[0]


def loop_dag(spec: dict) -> dict:
    name, task = loop(spec)
    return spec["components"][task["componentRef"]["name"]]["dag"]["tasks"]


def importer_for(spec: dict, parameter: str) -> str:
    """The root task that imports the artifact whose URI is pipeline parameter `parameter`."""
    names = [name for name, task in spec["root"]["dag"]["tasks"].items()
             if task.get("inputs", {}).get("parameters", {}).get("uri", {}).get("componentInputParameter") == parameter]
    assert len(names) == 1, names
    return names[0]


def loop_input_from(spec: dict, channel: str) -> dict:
    """What the root DAG feeds the loop's input `channel`."""
    return loop(spec)[1]["inputs"]["artifacts"][channel]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_fan_out_is_the_grid(compiled, stage, profile):
    spec, _ = compiled[stage, profile]
    params = load_params(PARAMS, profile=profile)
    _, task = loop(spec)
    items = [json.loads(item) for item in json.loads(task["parameterIterator"]["items"]["raw"])]
    assert items == params.stage(stage).grid_points()
    assert task["iteratorPolicy"]["parallelismLimit"] == params.cluster.parallelism
    train = loop_dag(spec)["train"]
    assert train["inputs"]["parameters"]["point_json"]["componentInputParameter"] == task["parameterIterator"]["itemInput"]
    assert train["inputs"]["parameters"]["stage"]["runtimeValue"]["constant"] == stage
    assert train["retryPolicy"]["maxRetryCount"] == params.cluster.retries
    assert json.loads(train["inputs"]["parameters"]["params_json"]["runtimeValue"]["constant"]) == read_yaml(PARAMS)


def test_cluster_profile_gives_train_a_gpu_and_pod_settings(compiled):
    params = load_params(PARAMS, profile="cluster")
    res = params.cluster.train_resources
    for stage in (1, 2, 3, 4):
        spec, platform = compiled[stage, "cluster"]
        resources = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
        assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert int(resources["accelerator"]["resourceCount"]) == res.gpu
        assert resources["cpuRequest"] == float(res.cpu_request) and resources["cpuLimit"] == float(res.cpu_limit)
        assert resources["memoryRequest"] == pytest.approx(16 * 1.073741824)  # 16Gi in GB, as KFP writes it
        train_pod = platform["deploymentSpec"]["executors"]["exec-train"]
        assert train_pod["nodeSelector"]["labels"] == params.cluster.node_selector
        assert train_pod["tolerations"] == [dict(t) for t in params.cluster.tolerations]
        assert train_pod["emptyDirMounts"] == [{"medium": "Memory", "mountPath": "/dev/shm",
                                                "sizeLimit": res.shm_size, "volumeName": "dshm"}]
        # only the train tasks take GPUs
        others = [e for n, e in spec["deploymentSpec"]["executors"].items() if n != "exec-train" and "container" in e]
        assert others and all("resources" not in e["container"] for e in others)


def test_local_profile_asks_for_no_gpu(compiled):
    for stage in (1, 2, 3, 4):
        spec, platform = compiled[stage, "local"]
        assert "resources" not in spec["deploymentSpec"]["executors"]["exec-train"]["container"]
        assert platform == {}


@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_select_consumes_the_collected_evaluations(compiled, stage):
    spec, _ = compiled[stage, "cluster"]
    loop_name, _ = loop(spec)
    select = spec["root"]["dag"]["tasks"]["select"]
    source = select["inputs"]["artifacts"]["evaluations"]["taskOutputArtifact"]
    assert source["producerTask"] == loop_name
    loop_outputs = spec["components"][loop(spec)[1]["componentRef"]["name"]]["dag"]["outputs"]["artifacts"]
    assert loop_outputs[source["outputArtifactKey"]]["artifactSelectors"] == [
        {"outputArtifactKey": "evaluation", "producerSubtask": "evaluate"}]
    assert spec["components"]["comp-select"]["inputDefinitions"]["artifacts"]["evaluations"]["isArtifactList"]
    assert select["inputs"]["parameters"]["mode"]["runtimeValue"]["constant"] == ("median" if stage == 4 else "best")
    tasks = spec["root"]["dag"]["tasks"]
    if stage in (3, 4):
        freeze = tasks["freeze"]["inputs"]["artifacts"]
        assert freeze["selection"]["taskOutputArtifact"] == {"outputArtifactKey": "selection", "producerTask": "select"}
        assert freeze["runs"]["taskOutputArtifact"]["producerTask"] == loop_name
        assert set(spec["root"]["outputDefinitions"]["artifacts"]) == {"selection", "champion"}
    else:
        assert "freeze" not in tasks


def test_each_stage_feeds_on_the_previous_one(compiled):
    assert set(compiled[1, "cluster"][0]["root"]["inputDefinitions"]["parameters"]) == {"data_uri"}
    for stage in (2, 3):
        spec, _ = compiled[stage, "cluster"]
        assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"data_uri", "selection_uri"}
        channel = loop_dag(spec)["train"]["inputs"]["artifacts"]["previous"]["componentInputArtifact"]
        assert loop_input_from(spec, channel)["taskOutputArtifact"]["producerTask"] == importer_for(spec, "selection_uri")
    assert "previous" not in loop_dag(compiled[1, "cluster"][0])["train"]["inputs"]["artifacts"]


def test_stage3_sweeps_the_threshold_on_validation(compiled):
    tasks = loop_dag(compiled[3, "cluster"][0])
    assert tasks["evaluate"]["inputs"]["artifacts"]["sweep"]["taskOutputArtifact"] == {
        "outputArtifactKey": "sweep", "producerTask": "threshold-sweep"}
    assert tasks["evaluate"]["inputs"]["parameters"]["rule"]["runtimeValue"]["constant"] == "threshold"
    assert "threshold-sweep" not in loop_dag(compiled[1, "cluster"][0])


def test_stage4_consumes_the_stage3_champion(compiled):
    spec, _ = compiled[4, "cluster"]
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"data_uri", "champion_uri"}
    importer = importer_for(spec, "champion_uri")
    importer_component = spec["components"][spec["root"]["dag"]["tasks"][importer]["componentRef"]["name"]]
    assert importer_component["outputDefinitions"]["artifacts"]["artifact"]["artifactType"]["schemaTitle"] == "system.Model"
    evaluate = loop_dag(spec)["evaluate"]["inputs"]
    assert evaluate["parameters"]["rule"]["runtimeValue"]["constant"] == "frozen"
    channel = evaluate["artifacts"]["champion"]["componentInputArtifact"]
    assert loop_input_from(spec, channel)["taskOutputArtifact"]["producerTask"] == importer
    # the runs re-seed the champion's config: train builds on the same artifact
    channel = loop_dag(spec)["train"]["inputs"]["artifacts"]["previous"]["componentInputArtifact"]
    assert loop_input_from(spec, channel)["taskOutputArtifact"]["producerTask"] == importer


def test_components_run_in_the_project_image_without_installs(compiled, tmp_path):
    image = load_params(PARAMS).cluster.image
    spec, _ = compiled[1, "cluster"]
    executors = {n: e["container"] for n, e in spec["deploymentSpec"]["executors"].items() if "container" in e}
    assert {"exec-prepare", "exec-train", "exec-evaluate", "exec-select"} <= set(executors)
    for container in executors.values():
        assert container["image"] == image
        assert "pip install" not in " ".join(container["command"])
    # every task is cached unless a run says otherwise
    assert all(t["cachingOptions"]["enableCache"] for t in spec["root"]["dag"]["tasks"].values() if "cachingOptions" in t)
    other = compile_stage(3, tmp_path / "s3.yaml", PARAMS, "cluster", image="registry.example/iacsieve:abc")
    images = {e["container"]["image"] for e in yaml.safe_load_all(other.read_text()).__next__()["deploymentSpec"]["executors"].values()
              if "container" in e}
    assert images == {"registry.example/iacsieve:abc"}


def test_cli_compile_writes_the_yaml(tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert main(["kfp", "compile", "--stage", "2", "--profile", "local", "--params", str(PARAMS), "-o", str(out)]) == 0
    spec = next(yaml.safe_load_all(out.read_text()))
    assert spec["pipelineInfo"]["name"] == "iacsieve-stage2"
    assert str(out) in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "params.yaml"
    mapping = read_yaml(PARAMS)
    mapping["stage1"]["familys"] = mapping["stage1"].pop("families")
    bad.write_text(yaml.safe_dump(mapping))
    assert main(["kfp", "compile", "--stage", "1", "--profile", "", "--params", str(bad), "-o", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert "stage1.familys" in err and "Traceback" not in err
    assert not (tmp_path / "x.yaml").exists()
    with pytest.raises(ConfigError, match="profiles"):
        compile_stage(1, tmp_path / "y.yaml", PARAMS, "no-such-profile")


def test_stage_inputs_name_the_missing_flag():
    assert StageInputs("gs://b/raw").arguments(1) == {"data_uri": "gs://b/raw"}
    with pytest.raises(IacsieveError, match="--selection-uri"):
        StageInputs("gs://b/raw").arguments(2)
    with pytest.raises(IacsieveError, match="--champion-uri"):
        StageInputs("gs://b/raw", selection_uri="gs://b/sel").arguments(4)
    assert StageInputs("gs://b/raw", champion_uri="gs://b/c").arguments(4) == {"data_uri": "gs://b/raw",
                                                                               "champion_uri": "gs://b/c"}


def test_help_documents_auth(capsys):
    with pytest.raises(SystemExit):
        main(["kfp", "submit", "--help"])
    text = capsys.readouterr().out
    for needle in ("KF_PIPELINES_SA_TOKEN_PATH", "--token", "--cookies", "kubeconfig", "port-forward"):
        assert needle in text.replace("~/.kube/config", "kubeconfig ~/.kube/config")
