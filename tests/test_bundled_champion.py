"""The champion the package ships (issue #27): byte for byte what the committed pipeline freezes, used when
--model is not given (and said so), and recorded in SARIF and the summary by the SHA-256 that
`iacsieve champion verify` prints."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from worktree import REPO

from iacsieve import __version__
from iacsieve.cli.app import main
from iacsieve.core import layout
from iacsieve.release.bundled import bundled_archive, default_model

FIXTURE = REPO / "tests" / "fixtures" / "glitch-puppet"


def test_the_bundled_archive_is_what_the_pipeline_freezes():
    """dvc.lock's md5 of the champion-archive stage's out; `make champion-bundle` refreshes the copy."""
    lock = yaml.safe_load((REPO / "dvc.lock").read_text(encoding="utf-8"))
    (out,) = [o for o in lock["stages"]["champion-archive"]["outs"] if o["path"] == layout.CHAMPION_ARCHIVE]
    bundled = REPO / "src" / "iacsieve" / layout.BUNDLED_CHAMPION
    assert hashlib.md5(bundled.read_bytes()).hexdigest() == out["md5"], (
        f"{layout.BUNDLED_CHAMPION} is not the archive dvc.lock records; run `make champion-bundle`"
    )
    assert bundled_archive() == bundled.resolve()


def test_one_place_names_the_bundled_archive():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    inside = f"src/iacsieve/{layout.BUNDLED_CHAMPION}"
    assert re.search(rf"^BUNDLED_CHAMPION := {re.escape(inside)}$", makefile, re.M)
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    package, _, name = layout.BUNDLED_CHAMPION.rpartition("/data/")
    assert f"data/{name}" in data["package-data"][f"iacsieve.{package}"]


def test_default_model_says_where_it_came_from(tmp_path):
    assert default_model(None) == (str(bundled_archive()), "bundled")
    assert default_model(str(tmp_path)) == (str(tmp_path), "folder")
    assert default_model("x.tar.gz") == ("x.tar.gz", "archive")


def verified_sha(capsys, *argv: str) -> str:
    assert main(["champion", "verify", *argv]) == 0
    return re.search(r"SHA-256 ([0-9a-f]{64})", capsys.readouterr().out).group(1)


# `filter` on the real GLITCH fixture, as a user runs it (without --model: the bundled champion)
FILTER_FIXTURE = [
    "filter",
    "--detections",
    str(FIXTURE / "glitch-puppet.csv"),
    "--scripts",
    str(FIXTURE / "scripts"),
]


def test_filter_without_model_uses_the_bundled_champion_and_records_its_hash(capsys, tmp_path):
    sha = verified_sha(capsys)
    out, summary = tmp_path / "kept.sarif", tmp_path / "summary.json"
    argv = FILTER_FIXTURE
    assert main([*argv, "--out", str(out), "--json-summary", str(summary)]) == 0
    err = capsys.readouterr().err
    assert "(bundled)" in err and "Traceback" not in err
    counts = json.loads(summary.read_text())
    props = json.loads(out.read_text())["runs"][0]["properties"]
    assert counts["champion_source"] == props["championSource"] == "bundled"
    assert counts["champion_sha256"] == props["championSha256"] == sha
    assert counts["package_version"] == props["packageVersion"] == __version__
    assert props["championSha256Of"] == "archive"


def test_an_archive_model_records_the_archive_hash_a_folder_its_own(capsys, champion, tmp_path):
    archive = tmp_path / "c.tar.gz"
    assert main(["champion", "pack", "--champion", str(champion), "--out", str(archive)]) == 0
    sha = verified_sha(
        capsys, str(archive), "--expect-sha256", hashlib.sha256(archive.read_bytes()).hexdigest()
    )
    argv = FILTER_FIXTURE
    for model, source, of in ((archive, "archive", "archive"), (champion, "folder", "folder")):
        out = tmp_path / f"{source}.sarif"
        assert main([*argv, "--model", str(model), "--out", str(out)]) == 0
        props = json.loads(out.read_text())["runs"][0]["properties"]
        assert (props["championSource"], props["championSha256Of"]) == (source, of)
        assert (props["championSha256"] == sha) == (source == "archive")


@pytest.mark.parametrize(
    "expect,message",
    [("00", "not a SHA-256"), ("a" * 64, "expected aaaa"), ("sha256:" + "Z" * 64, "not a SHA-256")],
)
def test_verify_expect_sha256_refuses_in_one_line(capsys, expect, message):
    assert main(["champion", "verify", "--expect-sha256", expect]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1 and captured.out == ""


def test_verify_expect_sha256_accepts_what_it_printed(capsys):
    sha = verified_sha(capsys)
    assert verified_sha(capsys, "--expect-sha256", "SHA256:" + sha.upper()) == sha


def test_a_missing_bundle_is_one_line(capsys, monkeypatch, tmp_path):
    import iacsieve.release.bundled as bundled

    monkeypatch.setattr(bundled, "PACKAGE_ROOT", tmp_path)
    argv = FILTER_FIXTURE
    assert main([*argv, "--out", str(tmp_path / "k.csv")]) == 2
    err = capsys.readouterr().err
    assert "carries no bundled champion" in err and "--model" in err and err.count("\n") == 1


def test_the_bundled_path_is_inside_the_package():
    assert not Path(layout.BUNDLED_CHAMPION).is_absolute() and ".." not in Path(layout.BUNDLED_CHAMPION).parts


@pytest.mark.slow
def test_the_wheel_carries_the_bundled_champion(tmp_path):
    """What `pip install .` and `pip install "iacsieve @ git+..."` build: the archive, byte for byte."""
    import zipfile

    from wheelhouse import build_own_wheel

    wheel = build_own_wheel(REPO, tmp_path)
    member = f"iacsieve/{layout.BUNDLED_CHAMPION}"
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(member) == (REPO / "src" / "iacsieve" / layout.BUNDLED_CHAMPION).read_bytes()


DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "docs").rglob("*.yml"))]
BARE_INSTALL = re.compile(r"pip3? install\s+(?:-\S+\s+)*(['\"]?)iacsieve(?:\[[^\]]*\])?\1(?=\s|$|`)(?!\s*@)")
TAG_REF = re.compile(r"(?:@|rev:\s*|--rev\s+|/download/|release create\s+)['\"]?(v\d+(?:\.\d+)*)\b")


def test_no_doc_installs_by_bare_name_or_names_a_missing_tag():
    import subprocess

    tags = set(subprocess.run(["git", "tag"], cwd=REPO, capture_output=True, text=True).stdout.split())
    bad = []
    for page in DOCS + [REPO / "action.yml", REPO / ".pre-commit-hooks.yaml"]:
        text = page.read_text(encoding="utf-8")
        for match in BARE_INSTALL.finditer(text):
            bad.append(f"{page.relative_to(REPO)}: {match.group(0)!r} (a bare name from an index)")
        for match in TAG_REF.finditer(text):
            if match.group(1) not in tags:
                bad.append(f"{page.relative_to(REPO)}: {match.group(0)!r} (no such tag)")
    assert not bad, "\n".join(bad)


def test_the_bare_name_and_tag_checks_catch_what_they_should():
    assert BARE_INSTALL.search("pip install iacsieve") and BARE_INSTALL.search("`pip install 'iacsieve[hf]'`")
    assert not BARE_INSTALL.search('pip install "iacsieve @ git+https://x/y@abc"')
    assert not BARE_INSTALL.search("pip install ./iacsieve")
    assert TAG_REF.search("uses: iacsieve/iacsieve@v0.1.0") and TAG_REF.search("    rev: v0.1.0")
    assert not TAG_REF.search("uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2")
