"""`--from-run`: a run's selection / champion URIs through kfp.Client, against a loopback fake of the KFP API.

The server (test_kfp_submit's, extended) fakes the v2beta1 REST endpoints the resolver uses
(GET runs/{id}, GET artifacts/{id}); kfp.Client talks to it over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import pytest
from test_kfp_submit import PARAMS, FakeKfp

from iacsieve.cli.app import main
from iacsieve.errors import IacsieveError
from iacsieve.kfp.from_run import resolve_run_outputs, stage_inputs_from_run

SELECTION_URI = "minio://mlpipeline/v2/artifacts/iacsieve-stage3/run-3/select/a1b2/selection"
CHAMPION_URI = "minio://mlpipeline/v2/artifacts/iacsieve-stage3/run-3/freeze/c3d4/champion"


def _task(name: str, outputs: dict[str, list[str]] | None) -> dict:
    task = {"run_id": "run-3", "task_id": f"t-{name}", "display_name": name, "state": "SUCCEEDED"}
    if outputs is not None:
        task["outputs"] = {key: {"artifact_ids": ids} for key, ids in outputs.items()}
    return task


RUNS = {
    "run-3": {
        "run_id": "run-3",
        "display_name": "stage 3",
        "state": "SUCCEEDED",
        "run_details": {
            "task_details": [
                _task("train", {"run": ["7"]}),
                _task("train", {"run": ["8"]}),
                _task("select", {"selection": ["11"], "metrics": ["12"]}),
                _task("freeze", {"champion": ["21"], "metrics": ["22"]}),
            ]
        },
    },
    "run-failed": {"run_id": "run-failed", "state": "FAILED", "run_details": {"task_details": []}},
    "run-mlmd": {
        "run_id": "run-mlmd",
        "state": "SUCCEEDED",
        "run_details": {"task_details": [_task("select", None), _task("freeze", None)]},
    },
    "run-old-api": {
        "run_id": "run-old-api",
        "state": "SUCCEEDED",
        "run_details": {"task_details": [_task("select", {"selection": ["404"]})]},
    },
}
ARTIFACTS = {"11": SELECTION_URI, "21": CHAMPION_URI}


class RunsKfp(FakeKfp):
    """test_kfp_submit's loopback KFP server, plus earlier runs and their artifacts."""

    def route(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        if method == "GET" and path.startswith("/apis/v2beta1/runs/"):
            run = RUNS.get(path.rsplit("/", 1)[1])
            return (200, run) if run else (404, {"error": "run not found", "code": 5})
        if method == "GET" and path.startswith("/apis/v2beta1/artifacts/"):
            artifact_id = path.rsplit("/", 1)[1]
            if artifact_id in ARTIFACTS:
                return 200, {
                    "artifact_id": artifact_id,
                    "uri": ARTIFACTS[artifact_id],
                    "type": "system.Artifact",
                }
        return super().route(method, path, body)

    def paths(self) -> list[str]:
        return [call["path"] for call in self.calls]


@pytest.fixture(scope="module")
def server():
    with RunsKfp() as fake:
        yield fake


@pytest.fixture(scope="module")
def layout_run(tmp_path_factory):
    """A run as an ML-Metadata backend reports it (no task outputs), its artifacts where KFP's launcher
    writes them: <pipeline root>/<pipeline>/<run id>/<task>/<id>/<output>; the freeze task was cached."""
    root = tmp_path_factory.mktemp("pipeline-root")
    selection = root / "iacsieve-stage2" / "run-2" / "select" / "e5f6" / "selection"
    selection.mkdir(parents=True)
    (selection / "selection.json").write_text("{}")
    (root / "iacsieve-stage2" / "run-2" / "train" / "1a2b" / "run").mkdir(parents=True)
    RUNS["run-2"] = {
        "run_id": "run-2",
        "state": "SUCCEEDED",
        "runtime_config": {"pipeline_root": str(root)},
        "pipeline_spec": {"pipelineInfo": {"name": "iacsieve-stage2"}, "root": {}},
        "run_details": {"task_details": [_task("select", None), _task("freeze", None)]},
    }
    yield {"root": root, "selection": str(selection)}
    del RUNS["run-2"]


@pytest.fixture()
def client(server, tmp_path, monkeypatch):
    import kfp

    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client keeps a context file under ~/.config/kfp
    with pytest.warns(FutureWarning):
        return kfp.Client(host=server.host)


def test_resolves_selection_and_champion_through_the_api(client, server):
    server.calls.clear()
    assert resolve_run_outputs(client, "run-3") == {"selection": SELECTION_URI, "champion": CHAMPION_URI}
    assert server.paths() == [
        "/apis/v2beta1/runs/run-3",
        "/apis/v2beta1/artifacts/11",
        "/apis/v2beta1/artifacts/21",
    ]


def test_stage_inputs_pick_what_each_stage_needs(client):
    assert stage_inputs_from_run(client, "run-3", 3) == {"selection_uri": SELECTION_URI}
    assert stage_inputs_from_run(client, "run-3", 4) == {"champion_uri": CHAMPION_URI}
    with pytest.raises(IacsieveError, match="stage 1 builds on no earlier run"):
        stage_inputs_from_run(client, "run-3", 1)


@pytest.mark.parametrize(
    "run_id, message",
    [
        ("run-failed", "run run-failed: state FAILED"),
        ("run-mlmd", "returned no pipeline spec"),
        ("run-old-api", "has no artifact API"),
        ("no-such-run", "HTTP 404"),
    ],
)
def test_unusable_runs_are_one_line_errors(client, run_id, message):
    with pytest.raises(IacsieveError, match=message) as info:
        resolve_run_outputs(client, run_id)
    assert "\n" not in str(info.value)


def test_submit_from_run_sends_the_earlier_runs_selection(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    server.calls.clear()
    code = main(
        [
            "kfp",
            "submit",
            "--stage",
            "3",
            "--host",
            server.host,
            "--params",
            str(PARAMS),
            "--data-uri",
            "s3://b/raw/0123",
            "--data-md5",
            "0123",
            "--from-run",
            "run-3",
        ]
    )
    assert code == 0, capsys.readouterr().err
    (run,) = [c for c in server.calls if c["method"] == "POST" and c["path"] == "/apis/v2beta1/runs"]
    assert run["body"]["runtime_config"]["parameters"] == {
        "data_uri": "s3://b/raw/0123",
        "selection_uri": SELECTION_URI,
        "data_md5": "0123",
    }  # prepare checks it


def test_a_backend_without_task_outputs_is_read_by_kfps_layout(client, layout_run, tmp_path):
    assert resolve_run_outputs(client, "run-2") == {
        "selection": layout_run["selection"]
    }  # freeze: cached, absent
    assert stage_inputs_from_run(client, "run-2", 3) == {"selection_uri": layout_run["selection"]}
    with pytest.raises(IacsieveError, match="holds none of freeze/<id>/champion .*--champion-uri"):
        stage_inputs_from_run(client, "run-2", 4)
    with pytest.raises(IacsieveError, match="another pipeline root: --pipeline-root"):
        resolve_run_outputs(client, "run-2", pipeline_root=str(tmp_path))


@pytest.mark.parametrize(
    "base, found, uri",
    [
        (
            "minio://mlpipeline/v2/artifacts/p/r",
            "mlpipeline/v2/artifacts/p/r/select/a/selection",
            "minio://mlpipeline/v2/artifacts/p/r/select/a/selection",
        ),
        ("gs://b/root/p/r", "b/root/p/r/freeze/c/champion", "gs://b/root/p/r/freeze/c/champion"),
        ("/srv/root/p/r", "/srv/root/p/r/select/a/selection", "/srv/root/p/r/select/a/selection"),
    ],
)
def test_found_paths_keep_the_roots_scheme(base, found, uri):
    from iacsieve.object_store import uri_of

    assert uri_of(base, found) == uri
