"""`iacsieve kfp submit` against a loopback KFP v2 REST server that records what the client sends."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from worktree import repo_copy

from iacsieve.cli.app import main
from iacsieve.core.errors import IacsieveError
from iacsieve.method.params import load_params, read_yaml

CLUSTER_IMAGE = "ghcr.io/acme/iacsieve:0.1.0"
PIPELINE_ROOT = "s3://iacsieve-test/iacsieve/pipelines"


def cluster_params(**cluster: object) -> Path:
    """The staged params.yaml (a user's working edits never reach the tests) with what a user must set
    before compiling or submitting: `cluster.image` and `cluster.pipeline_root` (and `cluster` extras)."""
    mapping = read_yaml(repo_copy("params.yaml"))
    mapping["cluster"].update(image=CLUSTER_IMAGE, pipeline_root=PIPELINE_ROOT, **cluster)
    folder = Path(tempfile.mkdtemp(prefix="iacsieve-test-params-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "params.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return folder / "params.yaml"


PARAMS = cluster_params()


class FakeKfp:
    """Answers the calls kfp.Client makes to submit a run (healthz, experiments, runs) and records them."""

    def __init__(self, *, fail_runs: bool = False) -> None:
        self.calls: list[dict] = []
        self.fail_runs = fail_runs
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _answer(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake.calls.append(
                    {
                        "method": method,
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "body": json.loads(raw) if raw else None,
                        "authorization": self.headers.get("Authorization"),
                    }
                )
                status, body = fake.route(method, url.path, fake.calls[-1]["body"])
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        if path == "/apis/v2beta1/healthz":
            return 200, {"multi_user": False}
        if path == "/apis/v2beta1/experiments" and method == "GET":
            return 200, {"experiments": [], "total_size": 0}
        if path == "/apis/v2beta1/experiments" and method == "POST":
            return 200, {"experiment_id": "exp-1", "display_name": body["display_name"]}
        if path == "/apis/v2beta1/runs" and method == "POST":
            if self.fail_runs:
                return 500, {
                    "error": "pipeline spec rejected",
                    "code": 13,
                    "message": "pipeline spec rejected",
                }
            return 200, {
                "run_id": "run-123",
                "display_name": body["display_name"],
                "experiment_id": "exp-1",
                "state": "PENDING",
            }
        return 404, {"error": f"no route {method} {path}"}

    def __enter__(self) -> FakeKfp:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self, path: str) -> list[dict]:
        return [c for c in self.calls if c["method"] == "POST" and c["path"] == path]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """kfp.Client reads ~/.config/kfp/context.json and auth env vars: keep the user's out of the test."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in (
        "KF_PIPELINES_SA_TOKEN_PATH",
        "KF_PIPELINES_ENDPOINT",
        "KFP_TOKEN",
        "KUBECONFIG",
        "KUBERNETES_SERVICE_HOST",
        "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME",
        "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME",
    ):
        monkeypatch.delenv(name, raising=False)


def test_host_and_token_come_from_the_environment_when_the_command_runs(monkeypatch, capsys):
    """The parser is built once per process (cached): $KF_PIPELINES_ENDPOINT and $KFP_TOKEN set after
    it was built still reach the client, and a flag still wins over its variable."""
    from iacsieve.cli.app import build_parser

    build_parser()
    argv = ["kfp", "submit", "--stage", "4", "--params", str(PARAMS), "--data-uri", "gs://b/raw"]
    with FakeKfp() as kfp:
        monkeypatch.setenv("KF_PIPELINES_ENDPOINT", kfp.host)
        monkeypatch.setenv("KFP_TOKEN", "from-env")
        assert main([*argv, "--champion-uri", "gs://b/champion"]) == 0
        assert main([*argv, "--champion-uri", "gs://b/champion", "--token", "from-flag"]) == 0
    assert capsys.readouterr().out.count("submitted stage 4") == 2
    tokens = [c["authorization"] for c in kfp.posts("/apis/v2beta1/runs")]
    assert tokens == ["Bearer from-env", "Bearer from-flag"]


def test_submit_sends_the_compiled_pipeline_and_its_arguments(capsys):
    with FakeKfp() as kfp:
        code = main(
            [
                "kfp",
                "submit",
                "--stage",
                "4",
                "--host",
                kfp.host,
                "--params",
                str(PARAMS),
                "--experiment",
                "iacsieve-test",
                "--token",
                "secret-token",
                "--run-name",
                "stage4-try",
                "--data-uri",
                "gs://bucket/iacsieve/raw",
                "--champion-uri",
                "gs://bucket/s3/champion",
            ]
        )
    assert code == 0
    assert "run-123" in capsys.readouterr().out

    assert [(c["method"], c["path"]) for c in kfp.calls] == [
        ("GET", "/apis/v2beta1/healthz"),
        ("GET", "/apis/v2beta1/experiments"),
        ("POST", "/apis/v2beta1/experiments"),
        ("POST", "/apis/v2beta1/runs"),
    ]
    [experiment] = kfp.posts("/apis/v2beta1/experiments")
    assert experiment["body"]["display_name"] == "iacsieve-test"
    [run] = kfp.posts("/apis/v2beta1/runs")
    body = run["body"]
    assert body["display_name"] == "stage4-try" and body["experiment_id"] == "exp-1"
    from iacsieve.data.identity import data_md5_from_dvc_file

    assert body["runtime_config"]["parameters"] == {
        "data_uri": "gs://bucket/iacsieve/raw",
        "champion_uri": "gs://bucket/s3/champion",
        "data_md5": data_md5_from_dvc_file(repo_copy("data.dvc")),
    }
    # the compiled YAML's two documents travel together: the pipeline spec and the Kubernetes platform spec
    spec, platform = body["pipeline_spec"]["pipeline_spec"], body["pipeline_spec"]["platform_spec"]
    train_pod = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert train_pod["nodeSelector"]["labels"] == load_params(PARAMS).cluster.pods.node_selector
    assert spec["pipelineInfo"]["name"] == "iacsieve-stage4"
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {
        "data_uri",
        "champion_uri",
        "data_md5",
        "human_uri",
    }
    # the cluster profile (submit's default): its grid, a GPU per train task
    grid = load_params(PARAMS, profile="cluster").stage(4).grid_points()
    loop = next(t for t in spec["root"]["dag"]["tasks"].values() if "parameterIterator" in t)
    assert [json.loads(p) for p in json.loads(loop["parameterIterator"]["items"]["raw"])] == grid
    assert (
        spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]["accelerator"][
            "resourceType"
        ]
        == "nvidia.com/gpu"
    )
    # the token reached every call
    assert {c["authorization"] for c in kfp.calls} == {"Bearer secret-token"}


def test_submit_all_stages_in_one_run():
    """`--stage all`: the four stages chained in one pipeline, which needs nothing but the data."""
    with FakeKfp() as kfp:
        assert (
            main(
                [
                    "kfp",
                    "submit",
                    "--stage",
                    "all",
                    "--host",
                    kfp.host,
                    "--params",
                    str(PARAMS),
                    "--data-uri",
                    "s3://b/raw/0123",
                    "--data-md5",
                    "0123",
                    "--image",
                    "example.org/iacsieve:1",
                ]
            )
            == 0
        )
    [run] = kfp.posts("/apis/v2beta1/runs")
    spec = run["body"]["pipeline_spec"]["pipeline_spec"]
    assert spec["pipelineInfo"]["name"] == "iacsieve-all-stages"
    assert run["body"]["runtime_config"]["parameters"] == {"data_uri": "s3://b/raw/0123", "data_md5": "0123"}
    loops = [t for t in spec["root"]["dag"]["tasks"].values() if "parameterIterator" in t]
    assert len(loops) == 4


def test_submit_takes_the_namespace_and_caching_switch():
    with FakeKfp() as kfp:
        assert (
            main(
                [
                    "kfp",
                    "submit",
                    "--stage",
                    "1",
                    "--host",
                    kfp.host,
                    "--params",
                    str(PARAMS),
                    "--namespace",
                    "team-a",
                    "--no-cache",
                    "--data-uri",
                    "s3://b/raw",
                    "--data-md5",
                    "",
                ]
            )
            == 0
        )
    [experiment] = kfp.posts("/apis/v2beta1/experiments")
    assert experiment["body"]["namespace"] == "team-a"
    [run] = kfp.posts("/apis/v2beta1/runs")
    spec = run["body"]["pipeline_spec"]["pipeline_spec"]
    assert run["body"]["runtime_config"]["parameters"] == {"data_uri": "s3://b/raw"}
    # --no-cache turns caching off in the submitted spec, task by task
    cached = [
        t["cachingOptions"].get("enableCache", False)
        for t in spec["root"]["dag"]["tasks"].values()
        if "cachingOptions" in t
    ]
    assert cached and not any(cached)


@pytest.mark.parametrize("stage", ["1", "2", "3", "4", "all"])
def test_no_cache_reaches_every_task_of_every_dag(stage):
    """kfp.Client's switch rewrites root tasks only; --no-cache must reach loop bodies (train, resolve,
    the sweep) and sub-pipelines (freeze) too: every task of every component of the submitted spec."""
    with FakeKfp() as kfp:
        args = ["kfp", "submit", "--stage", stage, "--host", kfp.host, "--params", str(PARAMS)]
        uris = [
            "--data-uri",
            "s3://b/raw",
            "--data-md5",
            "",
            "--selection-uri",
            "s3://b/s",
            "--champion-uri",
            "s3://b/c",
        ]
        assert main([*args, *uris, "--no-cache"]) == 0
        [run] = kfp.posts("/apis/v2beta1/runs")
    spec = run["body"]["pipeline_spec"]["pipeline_spec"]
    holders = {"root": spec["root"], **spec["components"]}
    tasks = {
        (name, key): task
        for name, holder in holders.items()
        for key, task in ((holder.get("dag") or {}).get("tasks") or {}).items()
    }
    assert any(name != "root" for name, _ in tasks)  # loop bodies are walked
    # protobuf's JSON leaves out a false enableCache: a task is cached only where it says true
    cached = {k: bool(t.get("cachingOptions", {}).get("enableCache")) for k, t in tasks.items()}
    assert cached == dict.fromkeys(tasks, False)


def test_submit_errors_are_one_line(capsys):
    with FakeKfp(fail_runs=True) as kfp:
        code = main(
            [
                "kfp",
                "submit",
                "--stage",
                "1",
                "--host",
                kfp.host,
                "--params",
                str(PARAMS),
                "--data-uri",
                "s3://b/raw",
            ]
        )
    assert code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("iacsieve: error: KFP at")
        and "Traceback" not in err
        and len(err.strip().splitlines()) == 1
    )
    # a stage-3 run without the stage-2 selection never reaches the server
    with FakeKfp() as kfp:
        assert (
            main(
                [
                    "kfp",
                    "submit",
                    "--stage",
                    "3",
                    "--host",
                    kfp.host,
                    "--params",
                    str(PARAMS),
                    "--data-uri",
                    "s3://b/raw",
                ]
            )
            == 2
        )
    assert kfp.calls == []
    assert "--selection-uri" in capsys.readouterr().err


def test_unreachable_host_is_one_line_naming_it_exit_2(tmp_path):
    """The real CLI process: no urllib3 retry warnings, no kfp FutureWarning, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KF_", "KFP_", "KUBE"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "iacsieve",
            "kfp",
            "submit",
            "--stage",
            "1",
            "--host",
            "http://127.0.0.1:9",
            "--params",
            str(PARAMS),
            "--data-uri",
            "s3://b/raw",
        ],
        capture_output=True,
        text=True,
        env={**env, "HOME": str(tmp_path)},
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "iacsieve: error: KFP at http://127.0.0.1:9: cannot connect (Connection refused)"
    ]


def test_without_host_submit_uses_the_kubeconfig_context_as_its_help_says(tmp_path, capsys):
    assert main(["kfp", "submit", "--stage", "1", "--params", str(PARAMS), "--data-uri", "s3://b/raw"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("iacsieve: error: no KFP server: pass --host") and len(err.splitlines()) == 1
    with FakeKfp() as kfp:
        (tmp_path / ".kube").mkdir()
        (tmp_path / ".kube" / "config").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "lab",
                    "clusters": [{"name": "lab", "cluster": {"server": kfp.host}}],
                    "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "me"}}],
                    "users": [{"name": "me", "user": {"token": "kube-token"}}],
                }
            )
        )
        assert (
            main(["kfp", "submit", "--stage", "1", "--params", str(PARAMS), "--data-uri", "s3://b/raw"]) == 0
        )
    assert "run-123" in capsys.readouterr().out
    # the kubeconfig's server and its user's token carried the run
    assert kfp.posts("/apis/v2beta1/runs") and {c["authorization"] for c in kfp.calls} == {
        "Bearer kube-token"
    }
    help_text = subprocess.run(
        [sys.executable, "-m", "iacsieve", "kfp", "submit", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "~/.kube/config" in " ".join(help_text.split())


def test_submitted_specs_conform_to_the_backend_rules_and_caching_cannot_be_forced_on():
    """submit compiles through the same check; what reaches the server passes it, and a caller
    cannot turn caching on for evaluate and select (the collected fan-in, rules doc 2)."""
    from iacsieve.kfp import StageInputs, submit_stage
    from iacsieve.kfp.check import check_doc

    with FakeKfp() as kfp:
        args = ["kfp", "submit", "--stage", "all", "--host", kfp.host, "--params", str(PARAMS)]
        assert main([*args, "--data-uri", "s3://b/raw", "--data-md5", ""]) == 0
        [run] = kfp.posts("/apis/v2beta1/runs")
        assert check_doc(run["body"]["pipeline_spec"]["pipeline_spec"]) == []
        with pytest.raises(IacsieveError, match="enable_caching=True"):
            submit_stage(1, StageInputs("s3://b/raw"), host=kfp.host, params_path=PARAMS, enable_caching=True)
