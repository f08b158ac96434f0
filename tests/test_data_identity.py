"""The data's identity: DVC's md5 computed here equals data.dvc's; prepare refuses other data; the
cluster's copy (pushed by md5, or rebuilt from the DVC remote's object layout) is the same data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from iacsieve.cli.app import main
from iacsieve.core.errors import IacsieveError
from iacsieve.data.identity import (
    data_md5_from_dvc_file,
    data_uri,
    dvc_remote_url,
    fetch_from_dvc_remote,
    folder_md5,
    push_data,
)
from iacsieve.data.records import prepare

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "data" / "raw"


@pytest.fixture()
def raw_copy(tmp_path) -> Path:
    copy = tmp_path / "raw"
    shutil.copytree(RAW, copy)
    return copy


def test_folder_md5_is_what_dvc_recorded():
    recorded = data_md5_from_dvc_file(REPO / "data.dvc")
    assert len(recorded) == 32 and not recorded.endswith(".dir")
    assert folder_md5(RAW) == recorded


def test_folder_md5_agrees_with_dvc_data_on_changed_data(raw_copy):
    """Cross-check on data DVC never saw: dvc-data's own tree hashing gives the same name."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    (raw_copy / "chef" / "chef_val.jsonl").write_text("{}\n", encoding="utf-8")
    (raw_copy / "extra").mkdir()
    (raw_copy / "extra" / "notes.txt").write_bytes(b"a\r\nb\n")
    fs = LocalFileSystem()
    odb = HashFileDB(fs, str(raw_copy.parent / "odb"))
    _, _, tree = build(odb, str(raw_copy), fs, "md5")
    assert folder_md5(raw_copy) == tree.hash_info.value.removesuffix(".dir")
    assert folder_md5(raw_copy) != folder_md5(RAW)


def test_prepare_refuses_data_whose_md5_differs(raw_copy, tmp_path):
    expected = data_md5_from_dvc_file(REPO / "data.dvc")
    prepare(raw_copy, tmp_path / "ok", expected_md5=expected + ".dir")  # DVC's spelling is accepted
    with (raw_copy / "puppet" / "puppet_val.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    with pytest.raises(IacsieveError, match=f"differs from the expected {expected}"):
        prepare(raw_copy, tmp_path / "refused", expected_md5=expected)
    assert not (tmp_path / "refused").exists()


def test_cli_expect_md5_is_one_line_exit_2(raw_copy, tmp_path, capsys):
    (raw_copy / "chef" / "chef_test.jsonl").write_text("", encoding="utf-8")
    code = main(["prepare", "--raw", str(raw_copy), "--out", str(tmp_path / "p"), "--expect-md5", "0" * 32])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "data md5" in err and "0" * 32 in err


def test_cli_data_md5_prints_dvc_files_and_folders_md5(capsys):
    assert main(["data", "md5", "--dvc-file", str(REPO / "data.dvc")]) == 0
    assert main(["data", "md5", str(RAW)]) == 0
    from_file, from_folder = capsys.readouterr().out.split()
    assert from_file == from_folder == folder_md5(RAW)


def test_bad_dvc_file_names_the_key(tmp_path):
    bad = tmp_path / "data.dvc"
    bad.write_text("outs:\n- path: data/raw\n", encoding="utf-8")
    with pytest.raises(IacsieveError, match=r"data.dvc: outs\[0\].md5: missing"):
        data_md5_from_dvc_file(bad)


def test_push_data_lands_under_its_md5_and_refuses_other_data(raw_copy, tmp_path):
    md5 = data_md5_from_dvc_file(REPO / "data.dvc")
    bucket = tmp_path / "bucket"
    uri = push_data(raw_copy, str(bucket), expected_md5=md5)
    assert uri == data_uri(str(bucket), md5) == f"{bucket}/{md5}"
    assert folder_md5(uri) == md5
    assert push_data(raw_copy, str(bucket), expected_md5=md5) == uri  # complete copy: nothing re-sent
    (raw_copy / "ansible" / "ansible_val.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(IacsieveError, match="differs from data.dvc's"):
        push_data(raw_copy, str(bucket), expected_md5=md5)


def test_fetch_from_the_dvc_remote_rebuilds_the_tracked_folder(tmp_path):
    """The repo's own DVC remote (what `dvc push` wrote) read by md5 alone: the same folder comes back."""
    md5 = data_md5_from_dvc_file(REPO / "data.dvc")
    remote = dvc_remote_url(REPO)
    out = fetch_from_dvc_remote(remote, md5, tmp_path / "raw")
    assert folder_md5(out) == md5
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jsonl")) == sorted(
        p.relative_to(RAW).as_posix() for p in RAW.rglob("*.jsonl")
    )


def test_fetch_refuses_a_corrupt_remote_object(tmp_path):
    md5 = data_md5_from_dvc_file(REPO / "data.dvc")
    remote = tmp_path / "remote"
    shutil.copytree(Path(dvc_remote_url(REPO)), remote)
    victim = next(p for p in (remote / "files" / "md5").rglob("*") if p.is_file() and p.suffix != ".dir")
    victim.write_bytes(b"tampered\n")
    with pytest.raises(IacsieveError, match="does not hash to"):
        fetch_from_dvc_remote(str(remote), md5, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()
    with pytest.raises(IacsieveError, match="dvc push data.dvc"):
        fetch_from_dvc_remote(str(remote), "f" * 32, tmp_path / "raw")


def test_cli_push_data_prints_the_content_addressed_uri(raw_copy, tmp_path, capsys):
    md5 = data_md5_from_dvc_file(REPO / "data.dvc")
    bucket = tmp_path / "bucket"
    assert (
        main(
            [
                "kfp",
                "push-data",
                "--to",
                str(bucket),
                "--raw",
                str(raw_copy),
                "--dvc-file",
                str(REPO / "data.dvc"),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == f"{bucket}/{md5}"
    (raw_copy / "chef" / "chef_train.jsonl").write_text("", encoding="utf-8")
    assert (
        main(
            [
                "kfp",
                "push-data",
                "--to",
                str(bucket),
                "--raw",
                str(raw_copy),
                "--dvc-file",
                str(REPO / "data.dvc"),
            ]
        )
        == 2
    )
    assert "differs from data.dvc's" in capsys.readouterr().err
