"""`--from-run` on an all-stages run, against moto's S3 server laid out exactly as KFP's launcher
writes such a run: `<root>/iacsieve-all-stages/<run id>/<task key>/<36-character uuid>/<output>`,
every read-back task keyed `s<N>-<step>` (two stages freeze, four select). The run comes from a
loopback fake of the KFP API, shaped as the API returns it. Also: object-store failures (no
credentials, an endpoint that does not answer, a missing bucket) are one line, exit 2.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3server import moto_s3
from test_kfp_from_run import RUNS, RunsKfp
from test_kfp_submit import PARAMS
from test_pull_champion import _make_cluster_outputs
from test_readme import readme_commands
from worktree import REPO, repo_copy

from iacsieve.cli.app import main
from iacsieve.kfp.from_run import resolve_run_outputs, stage_inputs_from_run

boto3 = pytest.importorskip("boto3", reason="the test extra brings boto3, s3fs and moto")
moto_server = pytest.importorskip("moto.server")

BUCKET = "iacsieve-all"
ROOT = f"s3://{BUCKET}/iacsieve/pipelines"
RUN = "0b6c3a52-run-all"
UUID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/")


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server with the bucket (tests/s3server.py)."""
    with moto_s3(BUCKET) as client:
        yield client


def _put_folder(s3, folder: Path, key: str) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        s3.put_object(
            Bucket=BUCKET, Key=f"{key}/{path.relative_to(folder).as_posix()}", Body=path.read_bytes()
        )


def _put_output(s3, task: str, output: str, files: dict[str, str] | Path) -> str:
    """One task output where the launcher writes it; returns its URI."""
    key = f"iacsieve/pipelines/iacsieve-all-stages/{RUN}/{task}/{uuid.uuid4()}/{output}"
    if isinstance(files, Path):
        _put_folder(s3, files, key)
    else:
        for name, text in files.items():
            s3.put_object(Bucket=BUCKET, Key=f"{key}/{name}", Body=text.encode())
    return f"s3://{BUCKET}/{key}"


@pytest.fixture(scope="module")
def run_all(s3, prepared_small, tmp_path_factory) -> dict[str, str]:
    """An all-stages run: every stage's select, stages 3 and 4's freeze (champion + card); stage 4's
    champion a real one (the library's own steps), the others small stand-ins."""
    champion, selection = _make_cluster_outputs(tmp_path_factory.mktemp("bucket"), prepared_small)
    card3 = {"champion.json": json.dumps({"run": "stage3-winner", "threshold": 0.4})}
    found = {
        f"s{n}-selection": _put_output(
            s3, f"s{n}-select", "selection", {"selection.json": json.dumps({"stage": n})}
        )
        for n in (1, 2, 3)
    }
    found["s3-champion"] = _put_output(s3, "s3-freeze", "champion", {**card3, "model.safetensors": "w"})
    found["s3-card"] = _put_output(s3, "s3-freeze", "card", card3)
    found["s4-selection"] = _put_output(s3, "s4-select", "selection", selection)
    found["s4-champion"] = _put_output(s3, "s4-freeze", "champion", champion)
    found["s4-card"] = _put_output(
        s3, "s4-freeze", "card", {"champion.json": (champion / "champion.json").read_text()}
    )
    RUNS[RUN] = {
        "run_id": RUN,
        "state": "SUCCEEDED",
        "runtime_config": {"parameters": {"data_uri": "s3://b/raw"}, "pipeline_root": ROOT},  # submit sent it
        "pipeline_spec": {"pipeline_spec": {"pipelineInfo": {"name": "iacsieve-all-stages"}, "root": {}}},
    }
    yield {**found, "champion_json": (champion / "champion.json").read_text()}
    del RUNS[RUN]


@pytest.fixture(scope="module")
def server():
    with RunsKfp() as fake:
        yield fake


@pytest.fixture()
def client(server, tmp_path, monkeypatch):
    import kfp

    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.warns(FutureWarning):
        return kfp.Client(host=server.host)


def test_the_layout_is_the_launchers(run_all):
    for uri in (v for k, v in run_all.items() if k != "champion_json"):
        assert UUID.search(uri), uri  # <task key>/<36-character uuid>/<output>


def test_pull_champion_from_an_all_stages_run_takes_the_last_stages(client, run_all):
    found = resolve_run_outputs(client, RUN)
    assert found == {
        "selection": run_all["s4-selection"],
        "champion": run_all["s4-champion"],
        "card": run_all["s4-card"],
    }


@pytest.mark.parametrize(
    "stage, field, source", [(3, "selection_uri", "s2-selection"), (4, "champion_uri", "s3-card")]
)
def test_submit_from_an_all_stages_run_takes_the_previous_stages(client, run_all, stage, field, source):
    assert stage_inputs_from_run(client, RUN, stage) == {field: run_all[source]}


def test_the_cli_pulls_and_submits_from_an_all_stages_run(server, run_all, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    out, reports = tmp_path / "champion", tmp_path / "reports"
    pull = [
        "kfp",
        "pull-champion",
        "--host",
        server.host,
        "--from-run",
        RUN,
        "--out",
        str(out),
        "--reports",
        str(reports),
    ]
    assert main([*pull, "--no-dvc-add"]) == 0, capsys.readouterr().err
    assert (out / "champion.json").read_text() == run_all["champion_json"]
    assert json.loads((out / "origin.json").read_text())["source"] == run_all["s4-champion"]
    capsys.readouterr()
    server.calls.clear()
    submit = ["kfp", "submit", "--stage", "4", "--host", server.host, "--params", str(PARAMS)]
    assert main([*submit, "--data-uri", "s3://b/raw", "--data-md5", "", "--from-run", RUN]) == 0, (
        capsys.readouterr().err
    )
    (run,) = [c for c in server.calls if c["method"] == "POST" and c["path"] == "/apis/v2beta1/runs"]
    assert run["body"]["runtime_config"]["parameters"]["champion_uri"] == run_all["s3-card"]


@pytest.fixture()
def fresh_s3fs() -> Iterator[None]:
    """s3fs caches a filesystem per thread and arguments, not per environment: a new process would
    make a new one with its own env. Cleared before and after, so a credential-less one made here is
    never handed to a later test that runs on the same thread."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.mark.parametrize(
    "env, root, says",
    [
        (
            {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
            ROOT,
            "no credentials for the object store",
        ),
        (  # one attempt: the message is the same after botocore's retries, only later
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"},
            ROOT,
            "cannot reach http://127.0.0.1:9",
        ),
        ({}, "s3://no-such-bucket/iacsieve", "no-such-bucket"),
    ],
    ids=["no-credentials", "unreachable-endpoint", "missing-bucket"],
)
def test_object_store_failures_are_one_line(
    server, run_all, fresh_s3fs, tmp_path, monkeypatch, capsys, env, root, says
):
    monkeypatch.setenv("HOME", str(tmp_path))
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key)
        else:
            monkeypatch.setenv(key, value)
    args = ["kfp", "pull-champion", "--host", server.host, "--from-run", RUN, "--pipeline-root", root]
    assert main([*args, "--out", str(tmp_path / "c"), "--no-dvc-add"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and says in err, err
    assert not (tmp_path / "c").exists()
    assert (
        main(["kfp", "pull-champion", f"{root}/x/champion", "--out", str(tmp_path / "d"), "--no-dvc-add"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_the_documented_submit_lines_work_as_written(server, run_all, tmp_path, monkeypatch, capsys):
    """docs/cluster.md's submit lines, with the staged params.yaml (image and root unset: the flags
    carry them) and the shell variables filled in; stages 3 and 4 resume from the all-stages run."""
    monkeypatch.setenv("HOME", str(tmp_path))
    doc = readme_commands((REPO / "docs" / "cluster.md").read_text(encoding="utf-8"))
    lines = [c for c in doc if c.startswith("iacsieve kfp submit")]
    assert len(lines) == 3
    values = {"$IMAGE": "ghcr.io/acme/iacsieve:0.1.0", "$ROOT": ROOT, '"$DATA"': "s3://b/raw/0123"}
    values |= {"https://KFP_HOST/pipeline": server.host, "…": server.host}
    for line in lines:
        for name, value in values.items():
            line = line.replace(name, value)
        line = re.sub(r"<[^>]*run id>", RUN, line)
        server.calls.clear()
        args = [*shlex.split(line)[1:], "--params", str(repo_copy("params.yaml")), "--data-md5", ""]
        assert main(args) == 0, capsys.readouterr().err
        (run,) = [c for c in server.calls if c["method"] == "POST" and c["path"] == "/apis/v2beta1/runs"]
        assert run["body"]["runtime_config"]["pipeline_root"] == ROOT
        assert "ghcr.io/acme/iacsieve:0.1.0-src." in json.dumps(run["body"]["pipeline_spec"])
