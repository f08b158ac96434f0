"""`--from-run`: a run's selection / champion / card where KFP's launcher writes them, the run read
through kfp.Client from a loopback fake of the KFP API (GET runs/{id}: what every released backend
serves; no task outputs, no artifact API). The object-store version: tests/test_s3_round_trip.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_kfp_submit import PARAMS, FakeKfp

from iacsieve.cli.app import main
from iacsieve.core.errors import IacsieveError
from iacsieve.kfp.from_run import resolve_run_outputs, stage_inputs_from_run

RUNS: dict[str, dict] = {
    "run-failed": {"run_id": "run-failed", "state": "FAILED", "run_details": {"task_details": []}},
}


def _output(root: Path, pipeline: str, run: str, task: str, output: str, files: dict[str, str]) -> str:
    """An output as the launcher lays it out: <root>/<pipeline>/<run id>/<task key>/<id>/<output>."""
    folder = root / pipeline / run / task / f"{abs(hash((task, output))) % 10**6:06d}" / output
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return str(folder)


def _run(run_id: str, root: Path, pipeline: str | None, **extra) -> dict:
    run = {
        "run_id": run_id,
        "state": "SUCCEEDED",
        "runtime_config": {"pipeline_root": str(root)},
        "run_details": {"task_details": [{"run_id": run_id, "display_name": "select"}]},  # no outputs listed
        **extra,
    }
    if pipeline:
        run["pipeline_spec"] = {"pipelineInfo": {"name": pipeline}, "root": {}}
    return run


class RunsKfp(FakeKfp):
    """test_kfp_submit's loopback KFP server, plus earlier runs."""

    def route(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        if method == "GET" and path.startswith("/apis/v2beta1/runs/"):
            run = RUNS.get(path.rsplit("/", 1)[1])
            return (200, run) if run else (404, {"error": "run not found", "code": 5})
        return super().route(method, path, body)

    def paths(self) -> list[str]:
        return [call["path"] for call in self.calls]


@pytest.fixture(scope="module")
def server():
    with RunsKfp() as fake:
        yield fake


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A stage-2 run (its freeze-less outputs), a stage-3 run (selection, champion with weights, card),
    and the same stage-3 outputs of a run started from an uploaded pipeline version (no spec)."""
    root = tmp_path_factory.mktemp("pipeline-root")
    card = {"champion.json": json.dumps({"run": "codet5p_x", "threshold": 0.4})}
    found = {
        "s2-selection": _output(
            root, "iacsieve-stage2", "run-2", "select", "selection", {"selection.json": "{}"}
        ),
        "selection": _output(
            root, "iacsieve-stage3", "run-3", "select", "selection", {"selection.json": "{}"}
        ),
        "champion": _output(
            root, "iacsieve-stage3", "run-3", "freeze", "champion", {**card, "model.safetensors": "weights"}
        ),
        "card": _output(root, "iacsieve-stage3", "run-3", "freeze", "card", card),
        "v-selection": _output(
            root, "iacsieve-stage3", "run-v", "select", "selection", {"selection.json": "{}"}
        ),
    }
    _output(root, "iacsieve-stage2", "run-2", "train", "run", {})
    RUNS["run-2"] = _run("run-2", root, "iacsieve-stage2")
    RUNS["run-3"] = _run("run-3", root, "iacsieve-stage3")
    RUNS["run-v"] = _run(
        "run-v", root, None, pipeline_version_reference={"pipeline_id": "p", "pipeline_version_id": "v"}
    )
    yield {"root": root, **found}
    for run in ("run-2", "run-3", "run-v"):
        del RUNS[run]


@pytest.fixture()
def client(server, tmp_path, monkeypatch):
    import kfp

    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client keeps a context file under ~/.config/kfp
    with pytest.warns(FutureWarning):
        return kfp.Client(host=server.host)


def test_resolves_selection_champion_and_card_where_the_launcher_wrote_them(client, server, runs):
    server.calls.clear()
    assert resolve_run_outputs(client, "run-3") == {k: runs[k] for k in ("selection", "champion", "card")}
    assert server.paths() == ["/apis/v2beta1/runs/run-3"]  # the run only: no artifact API exists


def test_stage_inputs_pick_what_each_stage_needs(client, runs):
    assert stage_inputs_from_run(client, "run-2", 3) == {"selection_uri": runs["s2-selection"]}
    # stage 4 resumes from the stage-3 card (champion.json alone), not the champion's weights
    card = stage_inputs_from_run(client, "run-3", 4)
    assert card == {"champion_uri": runs["card"]}
    assert sorted(p.name for p in Path(card["champion_uri"]).iterdir()) == ["champion.json"]
    with pytest.raises(IacsieveError, match="stage 1 builds on no earlier run"):
        stage_inputs_from_run(client, "run-3", 1)


def test_a_run_from_an_uploaded_pipeline_version_needs_its_name(client, runs):
    with pytest.raises(IacsieveError, match="uploaded pipeline version.*--pipeline-name") as info:
        resolve_run_outputs(client, "run-v")
    assert "\n" not in str(info.value)
    found = resolve_run_outputs(client, "run-v", pipeline_name="iacsieve-stage3")
    assert found == {"selection": runs["v-selection"]}


@pytest.mark.parametrize(
    "run_id, message",
    [
        ("run-failed", "run run-failed: state FAILED"),
        ("no-such-run", "HTTP 404"),
    ],
)
def test_unusable_runs_are_one_line_errors(client, run_id, message):
    with pytest.raises(IacsieveError, match=message) as info:
        resolve_run_outputs(client, run_id)
    assert "\n" not in str(info.value)


def test_cached_or_elsewhere_outputs_name_the_flags(client, runs, tmp_path):
    with pytest.raises(IacsieveError, match="holds none of freeze/<id>/card .*--champion-uri"):
        stage_inputs_from_run(client, "run-2", 4)  # freeze: cached (or a stage-2 run), absent
    with pytest.raises(IacsieveError, match="another pipeline root: --pipeline-root"):
        resolve_run_outputs(client, "run-3", pipeline_root=str(tmp_path))


def test_submit_from_run_sends_the_earlier_runs_selection(server, runs, tmp_path, monkeypatch, capsys):
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
            "run-2",
        ]
    )
    assert code == 0, capsys.readouterr().err
    (run,) = [c for c in server.calls if c["method"] == "POST" and c["path"] == "/apis/v2beta1/runs"]
    assert run["body"]["runtime_config"]["parameters"] == {
        "data_uri": "s3://b/raw/0123",
        "selection_uri": runs["s2-selection"],
        "data_md5": "0123",
    }  # prepare checks it


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
    from iacsieve.io.object_store import uri_of

    assert uri_of(base, found) == uri
