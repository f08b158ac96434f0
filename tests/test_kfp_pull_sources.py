"""`pull-champion`'s source is not trusted: a local folder's symbolic links, devices and FIFOs are
refused (never followed out of the folder, never read until the disk is full), and so are object
keys that would land outside the folder (`../`) and objects `a` beside `a/b` (one would be lost).
Each refusal is one line, exit 2, with nothing left at the destination.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_kfp_all_stages_run import BUCKET, s3  # noqa: F401 (the moto S3 server fixture)

from iacsieve.cli.app import main
from iacsieve.core.errors import IacsieveError
from iacsieve.kfp.pull import fetch, remote_files


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "champion"
    source.mkdir()
    (source / "champion.json").write_text("{}", encoding="utf-8")
    (source / "sub").mkdir()
    (source / "sub" / "weights.bin").write_bytes(b"w")
    return source


def _pull(capsys, source: str, out: Path) -> str:
    assert main(["kfp", "pull-champion", source, "--out", str(out), "--no-dvc-add"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()
    return err


@pytest.mark.parametrize(
    "plant, says",
    [
        (lambda s, outside: (s / "secret").symlink_to(outside), "symbolic link"),
        (
            lambda s, outside: (s / "sub" / "linked").symlink_to(outside.parent, target_is_directory=True),
            "symbolic link",
        ),
        (lambda s, outside: os.mkfifo(s / "sub" / "pipe"), "not a regular file"),
        (lambda s, outside: (s / "zero").symlink_to("/dev/zero"), "symbolic link"),
    ],
    ids=["link-to-a-file-outside", "link-to-a-folder-outside", "fifo", "link-to-dev-zero"],
)
def test_a_local_source_holds_plain_files_only(tmp_path, capsys, plant, says):
    outside = tmp_path / "elsewhere" / "id_rsa"
    outside.parent.mkdir()
    outside.write_text("a secret", encoding="utf-8")
    source = _source(tmp_path)
    plant(source, outside)
    err = _pull(capsys, str(source), tmp_path / "out")
    assert says in err and "a secret" not in err


def test_a_device_in_the_source_is_never_read(tmp_path):
    source = _source(tmp_path)
    into = tmp_path / "into"
    into.mkdir()
    os.symlink("/dev/null", source / "null")  # the one device a test can plant unprivileged: as a link
    with pytest.raises(IacsieveError, match="symbolic link"):
        fetch(str(source), into)
    # a source that *is* a device or FIFO is no folder
    os.mkfifo(tmp_path / "fifo")
    for path in ("/dev/zero", str(tmp_path / "fifo")):
        with pytest.raises(IacsieveError, match="not a directory"):
            fetch(path, into)


def test_a_plain_local_source_is_copied_whole(tmp_path):
    into = tmp_path / "into"
    into.mkdir()
    fetch(str(_source(tmp_path)), into)
    assert sorted(str(p.relative_to(into)) for p in into.rglob("*")) == [
        "champion.json",
        "sub",
        "sub/weights.bin",
    ]


@pytest.mark.parametrize(
    "keys, says",
    [
        (["b/champ/../../etc/passwd"], "outside the folder"),
        (["b/champ/./x"], "outside the folder"),
        (["b/champ//x"], "outside the folder"),
        (["b/champ/a", "b/champ/a/b"], "collide"),
    ],
)
def test_object_keys_that_would_escape_or_collide_are_refused(keys, says):
    with pytest.raises(IacsieveError, match=says):
        remote_files("s3://b/champ", {k: {"type": "file"} for k in keys}, "b/champ")
    assert remote_files("s3://b/champ", {"b/champ/a/b": {"type": "file"}}, "b/champ") == {
        "a/b": "b/champ/a/b"
    }


def test_objects_a_and_a_slash_b_in_a_bucket_are_one_line(s3, tmp_path, capsys):  # noqa: F811
    for key in ("champ/champion.json", "champ/model", "champ/model/weights.bin"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    err = _pull(capsys, f"s3://{BUCKET}/champ", tmp_path / "out")
    assert "'model' and 'model/weights.bin' collide" in err
