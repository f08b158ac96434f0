"""Pod settings for a real cluster: compile a tiny pipeline with `configure_task` and read the spec KFP would run.

(No `from __future__ import annotations`: KFP reads the components' annotations as types.)
"""

import pytest
import yaml
from kfp import compiler, dsl

from iacsieve.core.errors import ConfigError
from iacsieve.kfp.graph import on_a_short_stack
from iacsieve.kfp.pods import configure_task
from iacsieve.method.cluster import parse_pod_settings

CLUSTER = {
    "resources": {
        "train": {"gpu": 2, "memory_limit": "48Gi"},
        "light": {"cpu_request": "250m", "memory_request": "1Gi"},
    },
    "retry": {
        "num_retries": 3,
        "backoff_duration": "30s",
        "backoff_factor": 2,
        "train_time_budget": "10m",
    },
    "weights": {"pvc": "hf-weights", "mount_path": "/weights", "sub_path": "cache"},
    "credentials": {"secret": "iacsieve-s3"},
    "node_selector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}


@dsl.component(base_image="python:3.11-slim")
def fit(x: int) -> int:
    return x


@dsl.component(base_image="python:3.11-slim")
def summarise(x: int) -> int:
    return x


def _compile(tmp_path, cluster: dict) -> tuple[dict, dict]:
    settings = parse_pod_settings(cluster)

    @dsl.pipeline(name="pods")
    def pipeline(x: int = 1):
        train = configure_task(fit(x=x), settings, "train")
        configure_task(summarise(x=train.output), settings, "light")

    out = tmp_path / "pods.yaml"
    on_a_short_stack(compiler.Compiler().compile, pipeline, str(out))  # as build_pipeline does: fast setters
    spec, platform = yaml.safe_load_all(out.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def _container(spec: dict, executor: str) -> dict:
    return spec["deploymentSpec"]["executors"][executor]["container"]


def test_every_task_requests_resources_and_retries_with_backoff(tmp_path):
    spec, _ = _compile(tmp_path, CLUSTER)
    train, light = _container(spec, "exec-fit")["resources"], _container(spec, "exec-summarise")["resources"]
    assert (train["accelerator"]["resourceType"], train["accelerator"]["resourceCount"]) == (
        "nvidia.com/gpu",
        "2",
    )
    assert (train["resourceMemoryLimit"], train["resourceCpuRequest"]) == ("48Gi", "4")
    assert (
        light["resourceCpuRequest"],
        light["resourceCpuLimit"],
        light["resourceMemoryRequest"],
        light["resourceMemoryLimit"],
    ) == ("250m", "2", "1Gi", "4Gi")
    assert "accelerator" not in light
    for task in ("fit", "summarise"):
        policy = spec["root"]["dag"]["tasks"][task]["retryPolicy"]
        assert policy == {
            "maxRetryCount": 3,
            "backoffDuration": "30s",
            "backoffFactor": 2.0,
            "backoffMaxDuration": f"{4 * 600 + 30 + 60 + 120}s",  # 4 attempts of 10m, and the waits
        }


def test_train_pods_mount_the_weights_pvc_offline(tmp_path):
    spec, executors = _compile(tmp_path, CLUSTER)
    train = executors["exec-fit"]
    (mount,) = train["pvcMount"]
    assert (mount["pvcNameParameter"]["runtimeValue"]["constant"], mount["mountPath"], mount["subPath"]) == (
        "hf-weights",
        "/weights",
        "cache",
    )
    env = {e["name"]: e["value"] for e in _container(spec, "exec-fit")["env"]}
    assert env == {"HF_HOME": "/weights/huggingface", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    assert train["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    assert train["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert train["emptyDirMounts"] == [
        {"medium": "Memory", "mountPath": "/dev/shm", "sizeLimit": "8Gi", "volumeName": "dshm"}
    ]
    light = executors["exec-summarise"]
    assert (
        "pvcMount" not in light
        and "nodeSelector" not in light
        and "env" not in _container(spec, "exec-summarise")
    )


def test_object_store_secret_reaches_every_task_as_env(tmp_path):
    _, executors = _compile(tmp_path, CLUSTER)
    for name in ("exec-fit", "exec-summarise"):
        (secret,) = executors[name]["secretAsEnv"]
        assert secret["secretNameParameter"]["runtimeValue"]["constant"] == "iacsieve-s3"
        assert {m["secretKey"]: m["envVar"] for m in secret["keyToEnv"]} == {
            "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
        }


def test_without_a_volume_weights_come_from_the_hub(tmp_path):
    spec, executors = _compile(tmp_path, {"retry": {"num_retries": 0}})
    assert "pvcMount" not in executors["exec-fit"]
    assert "env" not in _container(spec, "exec-fit")
    assert "retryPolicy" not in spec["root"]["dag"]["tasks"]["fit"]
    assert "secretAsEnv" not in executors.get("exec-summarise", {})


@pytest.mark.parametrize(
    "cluster, key",
    [
        ({"resources": {"light": {"cpu_request": "lots"}}}, "cluster.resources.light.cpu_request"),
        ({"resources": {"gpu-big": {}}}, "cluster.resources.gpu-big"),
        ({"retry": {"backoff_duration": "1 minute"}}, "cluster.retry.backoff_duration"),
        ({"retry": {"num_retries": "two"}}, "cluster.retry.num_retries"),
        ({"weights": {"pvc": "hf", "mount_path": "models"}}, "cluster.weights.mount_path"),
        ({"weights": {"pvcs": "hf"}}, "cluster.weights.pvcs"),
        ({"retry": {"backoff_factor": 1.5}}, "cluster.retry.backoff_factor"),
        ({"retry": {"backoff_max_duration": "1h"}}, "cluster.retry.backoff_max_duration"),
        ({"retry": {"train_time_budget": "forever"}}, "cluster.retry.train_time_budget"),
        ({"tolerations": [{"key": "gpu", "efect": "NoSchedule"}]}, r"cluster.tolerations\[0\].efect"),
        ({"tolerations": [{"key": "gpu", "operator": "Maybe"}]}, r"cluster.tolerations\[0\].operator"),
        (
            {"tolerations": [{"key": "gpu", "toleration_seconds": "1h"}]},
            r"cluster.tolerations\[0\].toleration_seconds",
        ),
        ({"tolerations": {"key": "gpu"}}, "cluster.tolerations"),
        ({"tolerations": ["gpu"]}, r"cluster.tolerations\[0\]"),
        ({"node_selector": {"nvidia.com/gpu.present": True}}, "cluster.node_selector.nvidia.com/gpu.present"),
        ({"node_selector": {"gpu": "a b"}}, "cluster.node_selector.gpu"),
        ({"node_selector": {"bad key!": "x"}}, "cluster.node_selector.bad key!"),
        ({"node_selector": ["gpu"]}, "cluster.node_selector"),
    ],
)
def test_bad_cluster_keys_are_named(cluster, key):
    with pytest.raises(ConfigError, match=f"params.yaml: {key}: "):
        parse_pod_settings(cluster)


@pytest.mark.parametrize(
    "cluster, key",
    [
        ({"parallelism": -5}, "cluster.parallelism"),
        ({"parallelism": 0}, "cluster.parallelism"),
        ({"parallelism": "4"}, "cluster.parallelism"),
        ({"tolerations": [{"key": "nvidia.com/gpu", "operatr": "Exists"}]}, "cluster.tolerations[0].operatr"),
        ({"retry": {"backoff_factor": 2.5}}, "cluster.retry.backoff_factor"),
        ({"node_selector": {"nvidia.com/gpu.present": True}}, "cluster.node_selector.nvidia.com/gpu.present"),
    ],
)
def test_iacsieve_params_refuses_cluster_keys_compile_would_crash_on(cluster, key, tmp_path, capsys):
    """What compile reads is refused by `iacsieve params` already: one line naming the key, exit 2."""
    import yaml as pyyaml
    from worktree import repo_copy

    from iacsieve.cli.app import main

    params = pyyaml.safe_load(repo_copy("params.yaml").read_text(encoding="utf-8"))
    params["cluster"].update(cluster)
    path = tmp_path / "params.yaml"
    path.write_text(pyyaml.safe_dump(params), encoding="utf-8")
    assert main(["params", "--params", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: {key}: " in err and "Traceback" not in err
