"""The pre-commit hook (issue #27): the staged files only, one line per kept security warning without the
flagged code, the bundled champion, documented exit codes."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import yaml
from worktree import REPO

from iacsieve.cli.app import main

STANDIN = REPO / "tests" / "fixtures" / "glitch-standin"
REAL = REPO / "tests" / "fixtures" / "glitch-real" / "puppet"
STAGED = ("puppet-jenkins-manifests/init.pp", "puppet-jenkins-manifests/cli_helper.pp")


@pytest.fixture()
def repo(monkeypatch, tmp_path):
    """A checkout of the puppet fixture, the stand-in GLITCH on PATH replaying the staged files' rows."""
    checkout = tmp_path / "repo"
    shutil.copytree(REAL, checkout)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(STANDIN / "glitch", bin_dir / "glitch")
    (bin_dir / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(bin_dir))
    rows = (REPO / "tests" / "fixtures" / "glitch-real" / "puppet-glitch.csv").read_text().splitlines()
    replay = tmp_path / "staged.csv"
    replay.write_text("".join(r + "\n" for r in rows if r.split(",", 1)[0].removeprefix("./") in STAGED))
    monkeypatch.setenv("GLITCH_STANDIN_CSV", str(replay))
    monkeypatch.setenv("GLITCH_STANDIN_LOG", str(tmp_path / "log.json"))
    monkeypatch.chdir(checkout)
    return tmp_path, replay


def test_the_hook_reads_staged_files_only_and_prints_no_code(capsys, repo):
    tmp_path, replay = repo
    code = main(["hook", "--tech", "puppet", *STAGED])
    out, err = capsys.readouterr()
    seen = json.loads((tmp_path / "log.json").read_text())["files"]
    assert sorted(seen) == sorted(STAGED)  # GLITCH saw the staged files, nothing else
    lines = out.splitlines()
    assert code == (1 if lines else 0) and f"exit {code}" in err and err.count("\n") == 1
    for line in lines:
        assert line.split(":")[0] in STAGED and "score" in line
    snippets = [r.split(",", 3)[3].rsplit(",", 1)[0] for r in replay.read_text().splitlines()]
    assert not any(s.strip() and s.strip() in out for s in snippets if len(s.strip()) > 8)


def test_no_staged_iac_file_is_a_quick_pass(capsys, repo):
    assert main(["hook", "--tech", "puppet"]) == 0
    assert capsys.readouterr().out == ""


def test_a_file_glitch_could_not_parse_fails_with_3(capsys, monkeypatch, repo):
    tmp_path, _ = repo
    stderr = tmp_path / "stderr.txt"
    stderr.write_text(f"Error: Puppet - Could not parse file: ./{STAGED[1]}\n")
    monkeypatch.setenv("GLITCH_STANDIN_STDERR", str(stderr))
    assert main(["hook", "--tech", "puppet", *STAGED]) == 3
    out = capsys.readouterr().out
    assert f"{STAGED[1]}: not analysed by GLITCH (could_not_parse)" in out
    assert main(["hook", "--tech", "puppet", "--allow-unanalysed", "1", *STAGED]) in (0, 1)


def test_the_hook_file_documents_exit_codes_and_passes_filenames():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["entry"] == "iacsieve hook" and hook["pass_filenames"] is True
    text = (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert all(f"{n} " in text for n in ("0", "1", "2", "3"))
