"""`iacsieve champion pack | verify | unpack` and `filter --model ARCHIVE`: reproducible bytes, every
file of the champion folder, a manifest that catches any altered member, and safe extraction."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from iacsieve.cli.app import build_parser, main
from iacsieve.core.errors import IacsieveError
from iacsieve.release.archive import MANIFEST, opened, pack, unpack, verify

REAL = Path(__file__).resolve().parent / "fixtures" / "glitch-real"


@pytest.fixture(scope="module")
def champion_plus(champion, tmp_path_factory) -> Path:
    """The shared classical champion plus a nested extra file (freeze may add files: all are packed)."""
    folder = tmp_path_factory.mktemp("archive") / "champion"
    shutil.copytree(champion, folder)
    (folder / "evidence").mkdir()
    (folder / "evidence" / "index.jsonl").write_text('{"key": "x"}\n')
    return folder


@pytest.fixture(scope="module")
def archive(champion_plus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("packed") / "champion.tar.gz"
    pack(champion_plus, out)
    return out


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}


def _write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with gzip.open(path, "wb") as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _rewrite(archive: Path, out: Path, change) -> Path:
    """The archive's members, passed through `change(name, data) -> [(name, data)...]`, re-tarred."""
    members = []
    for name, data in _members(archive).items():
        for new_name, new_data in change(name, data):
            members.append((tarfile.TarInfo(new_name), new_data))
    return _write_tar(out, members)


def _filter(model: Path, out: Path) -> int:
    return main(
        [
            "filter",
            "--model",
            str(model),
            "--detections",
            str(REAL / "ansible-glitch.csv"),
            "--scripts",
            str(REAL / "ansible"),
            "--out",
            str(out),
        ]
    )


def test_pack_is_reproducible_and_holds_every_file_with_a_sha256sum_manifest(
    champion_plus, archive, tmp_path
):
    again = pack(champion_plus, tmp_path / "again.tar.gz")
    assert (tmp_path / "again.tar.gz").read_bytes() == archive.read_bytes()
    assert again["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    members = _members(archive)
    names = list(members)
    assert names[0] == f"champion/{MANIFEST}"
    files = {p.relative_to(champion_plus).as_posix() for p in champion_plus.rglob("*") if p.is_file()}
    assert {n.removeprefix("champion/") for n in names} == files | {MANIFEST, "archive.json"}
    listed = dict(
        reversed(line.split("  ", 1)) for line in members[f"champion/{MANIFEST}"].decode().splitlines()
    )
    assert set(listed) == {n.removeprefix("champion/") for n in names[1:]}
    for name, digest in listed.items():
        assert hashlib.sha256(members[f"champion/{name}"]).hexdigest() == digest
    card = json.loads(members["champion/archive.json"])
    champion_json = json.loads((champion_plus / "champion.json").read_text())
    assert card["format"] == 1 and card["package_version"]
    assert card["threshold"] == champion_json["threshold"] and card["data_md5"] == champion_json["data_md5"]
    assert verify(archive)["card"] == card


def test_filter_takes_the_archive_and_gives_the_folders_output(champion_plus, archive, tmp_path):
    assert _filter(champion_plus, tmp_path / "from-dir.csv") == 0
    assert _filter(archive, tmp_path / "from-archive.csv") == 0
    assert (tmp_path / "from-archive.csv").read_bytes() == (tmp_path / "from-dir.csv").read_bytes()
    args = build_parser().parse_args(
        ["review", "--model", str(archive), "--from-train", "--budget", "1", "--out", "x.csv"]
    )
    assert args.model_archive  # review takes an archive the same way


def test_outputs_name_the_archive_not_its_temporary_folder(archive, tmp_path, capsys):
    """The summary, the SARIF run and the review summary say which model ran: the archive given."""
    out, summary = tmp_path / "kept.sarif", tmp_path / "summary.json"
    args = ["--detections", str(REAL / "ansible-glitch.csv"), "--scripts", str(REAL / "ansible")]
    assert (
        main(["filter", "--model", str(archive), *args, "--out", str(out), "--json-summary", str(summary)])
        == 0
    )
    assert json.loads(summary.read_text())["model"] == str(archive)
    (run,) = json.loads(out.read_text())["runs"]
    assert run["properties"]["model"] == str(archive)
    assert "iacsieve-champion-" not in out.read_text() + summary.read_text()  # opened()'s temp folder
    sheet, human = tmp_path / "sheet.csv", tmp_path / "human"
    assert (
        main(
            [
                "review",
                "--model",
                str(archive),
                *args,
                "--budget",
                "1",
                "--out",
                str(sheet),
                "--human",
                str(human),
            ]
        )
        == 0
    )
    said = capsys.readouterr()
    assert f"model {archive}," in said.out and "iacsieve-champion-" not in said.out + said.err


def test_opened_removes_its_temporary_folder(archive):
    with opened(archive) as folder:
        assert (folder / "classical_plain.npz").is_file()
    assert not folder.exists()


def test_a_tampered_member_is_refused_naming_it(archive, tmp_path, capsys):
    def change(name, data):
        if name == "champion/model_meta.json":
            data = data.replace(b'"use_context"', b'"use_context" ')
        return [(name, data)]

    tampered = _rewrite(archive, tmp_path / "tampered.tar.gz", change)
    assert _filter(tampered, tmp_path / "kept.csv") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("iacsieve: error: ") and len(err.splitlines()) == 1
    assert "member champion/model_meta.json: SHA-256 does not match SHA256SUMS" in err
    assert not (tmp_path / "kept.csv").exists()
    with pytest.raises(IacsieveError, match="model_meta.json"):
        unpack(tampered, tmp_path / "unpacked")
    assert not (tmp_path / "unpacked").exists()  # all or nothing


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda n, d: [] if n.endswith("classical_plain.npz") else [(n, d)], "champion/classical_plain.npz: listed in SHA256SUMS but missing"),
        (lambda n, d: [(n, d), ("champion/extra.txt", b"x")] if n.endswith("classical_plain.npz") else [(n, d)], "champion/extra.txt: not listed"),
        (lambda n, d: [(n, d), (n, d)] if n.endswith("classical_plain.npz") else [(n, d)], "present twice"),
        (lambda n, d: [("/abs/" + n, d)] if n.endswith("classical_plain.npz") else [(n, d)], "not a path inside champion/"),
        (lambda n, d: [("champion/../" + n, d)] if n.endswith("classical_plain.npz") else [(n, d)], "not a path inside champion/"),
        (lambda n, d: [] if n.endswith(MANIFEST) else [(n, d)], "first member must be champion/SHA256SUMS"),
        (lambda n, d: [(n, d.replace(b'"format": 1', b'"format": 9'))] if n.endswith("archive.json") else [(n, d)], "SHA-256 does not match"),
    ],
)  # fmt: skip
def test_a_malformed_archive_is_refused_in_one_line(archive, tmp_path, change, message):
    bad = _rewrite(archive, tmp_path / "bad.tar.gz", change)
    with pytest.raises(IacsieveError, match=message.replace(".", r"\.")):
        verify(bad)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE])
def test_links_and_special_files_are_refused(archive, tmp_path, kind):
    members = [(tarfile.TarInfo(name), data) for name, data in _members(archive).items()]
    link = tarfile.TarInfo("champion/evidence/link")
    link.type, link.linkname = kind, "/etc/passwd"
    bad = _write_tar(tmp_path / "bad.tar.gz", [*members[:1], (link, None), *members[1:]])
    with pytest.raises(IacsieveError, match="champion/evidence/link.*(link|special file)"):
        verify(bad)


def test_not_an_archive_is_one_line(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(os.urandom(512))
    with pytest.raises(IacsieveError, match="not a readable champion archive"):
        verify(junk)
    with pytest.raises(IacsieveError, match="model directory not found"), opened(tmp_path / "none"):
        pass


def test_pack_refuses_links_and_an_archive_inside_the_champion(champion_plus, tmp_path):
    with pytest.raises(IacsieveError, match="inside"):
        pack(champion_plus, champion_plus / "self.tar.gz")
    linked = tmp_path / "linked"
    shutil.copytree(champion_plus, linked)
    (linked / "evil").symlink_to("/etc/passwd")
    with pytest.raises(IacsieveError, match="evil: not a regular file"):
        pack(linked, tmp_path / "out.tar.gz")


def test_unpack_writes_a_champion_folder_and_repacks_to_the_same_bytes(archive, tmp_path, capsys):
    assert main(["champion", "unpack", str(archive), "--out", str(tmp_path / "c")]) == 0
    assert "SHA-256 " + hashlib.sha256(archive.read_bytes()).hexdigest() in capsys.readouterr().out
    assert (
        main(["champion", "pack", "--champion", str(tmp_path / "c"), "--out", str(tmp_path / "r.tar.gz")])
        == 0
    )
    assert (tmp_path / "r.tar.gz").read_bytes() == archive.read_bytes()  # SHA256SUMS/archive.json remade
    assert main(["champion", "unpack", str(archive), "--out", str(tmp_path / "c")]) == 2  # not empty


def test_out_may_not_overwrite_the_archive(archive, tmp_path):
    copy = tmp_path / "champion.tar.gz"
    shutil.copy2(archive, copy)
    assert _filter(copy, copy) == 2
    assert copy.read_bytes() == archive.read_bytes()
