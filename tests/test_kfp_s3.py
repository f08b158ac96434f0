"""The object-store round trip against a real S3 protocol server: moto's, on a free localhost port.

docs/cluster.md's commands as written (BUCKET, the KFP host and run ids filled in) in a fresh clone:
`dvc push data.dvc` to an S3 remote, `push-data` (the data under its md5), then a stage-4 champion
laid out in the pipeline root exactly as KFP's launcher lays out outputs
(`<root>/<pipeline>/<run id>/<task key>/<id>/<output>`) is pulled home by `pull-champion --from-run`
(the run read from a loopback fake of the KFP API), committed and `dvc push`ed; `dvc status` is
clean, `dvc metrics diff` / `show` see it beside the local champion, and `iacsieve filter` runs on it.
Nothing leaves localhost. Every command runs as its own process, as a user runs it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from s3server import moto_s3
from test_kfp_from_run import RUNS, RunsKfp
from test_readme import readme_commands

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "glitch-puppet"
BUCKET = "iacsieve-test"
ROOT = f"s3://{BUCKET}/iacsieve/pipelines"
DOC = readme_commands((REPO / "docs" / "cluster.md").read_text(encoding="utf-8"))

boto3 = pytest.importorskip("boto3", reason="the test extra brings boto3, s3fs, dvc-s3 and moto")
moto_server = pytest.importorskip("moto.server")


def _doc(prefix: str) -> str:
    (command,) = [c for c in DOC if c.startswith(prefix)]
    return command


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server with the bucket (tests/s3server.py)."""
    with moto_s3(BUCKET) as client:
        yield client


@pytest.fixture(scope="module")
def kfp_server():
    with RunsKfp() as fake:
        yield fake


def _git(*args: str, cwd: Path) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _dvc(args: list[str], capsys: object = None) -> str:
    """A dvc command in a process of its own: DVC's in-process `main` rewires colorama and its log
    handlers to this test's captured streams, which later tests then write into after they close."""
    dvc = Path(sys.executable).parent / "dvc"
    done = subprocess.run([str(dvc), *args], capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 0, f"dvc {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _iacsieve(args: list[str], capsys: object = None) -> str:
    """iacsieve as a user runs it: its own process (in-process, the DVC it drives binds its log
    handlers to this test's captured streams, which later tests then write into after they close)."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "iacsieve"), *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, f"iacsieve {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
    return done.stdout


def _run(command: str, capsys) -> str:
    """One documented command line (`a && b` run in turn)."""
    out = ""
    for part in command.split(" && "):
        words = shlex.split(part)
        if words[0] == "dvc":
            out += _dvc(words[1:], capsys)
        elif words[0] == "iacsieve":
            out += _iacsieve(words[1:], capsys)
        elif words[0] == "git":
            out += _git(*words[1:], cwd=Path.cwd())
        else:
            raise AssertionError(f"not a documented kind of command: {part}")
    return out


def _lay_out_output(s3, run_id: str, task: str, output: str, folder: Path) -> str:
    """Upload `folder` as KFP's launcher writes a task output; returns its s3:// URI."""
    prefix = f"iacsieve/pipelines/iacsieve-stage4/{run_id}/{task}/8f3a21c7/{output}"
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        s3.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return f"s3://{BUCKET}/{prefix}"


def test_docs_cluster_commands_round_trip_through_s3(s3, kfp_server, champion, tmp_path, monkeypatch, capsys):
    clone = tmp_path / "iacsieve"
    _git("clone", "-q", "--no-hardlinks", str(REPO), str(clone), cwd=REPO)
    monkeypatch.chdir(clone)
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client's context file; no ~/.aws
    _dvc(["pull", "-q", "data.dvc"], capsys)  # from the in-repo remote, as `make repro` does
    data_md5 = yaml.safe_load((clone / "data.dvc").read_text())["outs"][0]["md5"]

    # the data, versioned: DVC's S3 remote holds its .dir listing under its md5
    _run(_doc("dvc remote add -d -f storage s3://BUCKET").replace("BUCKET", BUCKET), capsys)
    stored = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="iacsieve/dvc/")["Contents"]}
    assert f"iacsieve/dvc/files/md5/{data_md5[:2]}/{data_md5[2:]}" in stored

    # the data for the pods, under its md5
    push = _doc("DATA=$(iacsieve kfp push-data").replace("BUCKET", BUCKET)
    data_uri = _run(push.split("$(", 1)[1].rstrip(")"), capsys).strip()
    assert data_uri == f"s3://{BUCKET}/iacsieve/data/{data_md5.removesuffix('.dir')}"
    pushed = s3.list_objects_v2(Bucket=BUCKET, Prefix=data_uri.split(f"{BUCKET}/", 1)[1])["Contents"]
    assert {Path(o["Key"]).name for o in pushed} >= {"puppet_train.jsonl", "chef_test.jsonl"}

    # a finished stage-4 run: its champion and selection where the launcher writes them
    champion_uri = _lay_out_output(s3, "run-4", "freeze", "champion", champion)
    RUNS["run-4"] = {
        "run_id": "run-4",
        "state": "SUCCEEDED",
        "runtime_config": {"pipeline_root": ROOT},
        "pipeline_spec": {"pipelineInfo": {"name": "iacsieve-stage4"}, "root": {}},
        "run_details": {"task_details": []},
    }
    before = set(_git("status", "--porcelain", "--untracked-files=all", cwd=clone).splitlines())
    try:
        pull = _doc("iacsieve kfp pull-champion --host").replace("…", kfp_server.host)
        out = _run(re.sub(r"<[^>]*run id>", "run-4", pull), capsys)
    finally:
        del RUNS["run-4"]
    assert json.loads((clone / "models/cluster-champion/origin.json").read_text()) == {
        "source": champion_uri,
        "run_id": "run-4",
    }
    (advice,) = [line for line in out.splitlines() if line.startswith("version it: git add ")]
    printed = set(advice.split("git add ", 1)[1].split(" && ")[0].split())
    status = set(_git("status", "--porcelain", "--untracked-files=all", cwd=clone).splitlines())
    changed = {line[3:] for line in status - before}
    assert changed and changed <= printed, (changed, printed)

    # committed as documented (every file the pull changed is named), the champion pushed to the S3 remote
    documented = _doc("git add dvc.yaml models/.gitignore")
    named = set(shlex.split(documented.split(" && ")[0])[2:])
    assert all(p in named or {str(d) for d in Path(p).parents} & named for p in printed), (printed, named)
    _run(documented, capsys)
    assert (
        _git("status", "--porcelain", cwd=clone) == " M .dvc/config\n"
    )  # `dvc remote add`'s, not the pull's
    assert "up to date" in _dvc(["status", "models/cluster-champion.dvc"], capsys)
    pushed_md5 = yaml.safe_load((clone / "models/cluster-champion.dvc").read_text())["outs"][0]["md5"]
    key = f"iacsieve/dvc/files/md5/{pushed_md5[:2]}/{pushed_md5[2:]}"
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=key)["KeyCount"] == 1  # pushed to the S3 remote
    diff = json.loads(_dvc(["metrics", "diff", "HEAD~1", "--json"]) or "{}")
    assert "reports/cluster-champion/metrics.json" in diff  # new since the commit before the pull
    shown = json.loads(_dvc(["metrics", "show", "--json"], capsys))
    files = {f for rev in shown.values() for f in (rev.get("data") or {})}
    assert {"reports/cluster-champion/metrics.json"} <= files

    kept = tmp_path / "kept.csv"
    _iacsieve(
        [
            "filter",
            "--model",
            "models/cluster-champion",
            "--detections",
            str(FIXTURE / "glitch-puppet.csv"),
            "--scripts",
            str(FIXTURE / "scripts"),
            "--out",
            str(kept),
        ],
        capsys,
    )
    rows = kept.read_text(encoding="utf-8").splitlines()
    assert len(rows) > 1 and "keep" in rows[0]
