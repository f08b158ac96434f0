"""`iacsieve scan`: GLITCH and the filter in one step, and a gate that knows what was analysed (issue #27).

GLITCH is not on the package index: a stand-in (tests/fixtures/glitch-standin/glitch) checks the command
line scan gives it and replays a real GLITCH CSV and GLITCH's own stderr messages.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest
from test_filter import load_cached
from worktree import REPO

import iacsieve.filtering.apply as filter_module
from iacsieve.cli.app import main
from iacsieve.filtering.glitch import GlitchRun, excluded, not_analysed

STANDIN = REPO / "tests" / "fixtures" / "glitch-standin"
REAL = REPO / "tests" / "fixtures" / "glitch-real"


@pytest.fixture(autouse=True)
def cached(monkeypatch):
    monkeypatch.setattr(filter_module, "load_scorer", load_cached)


@pytest.fixture()
def glitch(monkeypatch, tmp_path):
    """PATH holding the stand-in `glitch` and python3, nothing else (no ruby); returns its log file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(STANDIN / "glitch", bin_dir / "glitch")
    (bin_dir / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(bin_dir))
    log = tmp_path / "glitch-argv.json"
    monkeypatch.setenv("GLITCH_STANDIN_LOG", str(log))
    return log


def replay(monkeypatch, tech: str, stderr: str | None = None, csv_file: Path | None = None) -> None:
    monkeypatch.setenv("GLITCH_STANDIN_CSV", str(csv_file or REAL / f"{tech}-glitch.csv"))
    if stderr is not None:
        monkeypatch.setenv("GLITCH_STANDIN_STDERR", str(STANDIN / stderr))


def scan(capsys, tmp_path, champion, tech, scripts, *extra):
    out, summary = tmp_path / "kept.sarif", tmp_path / "summary.json"
    argv = ["scan", "--tech", tech, str(scripts), "--model", str(champion), "--out", str(out)]
    code = main([*argv, "--json-summary", str(summary), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err.split("not analysed")[0]  # tracebacks only as GLITCH's, quoted below
    return code, err, json.loads(summary.read_text()), json.loads(out.read_text())


def rows_in(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_could_not_parse_and_tracebacks_name_files_and_fail_the_gate(
    capsys, monkeypatch, glitch, tmp_path, champion
):
    replay(monkeypatch, "puppet", "puppet-stderr.txt")
    code, err, summary, log = scan(capsys, tmp_path, champion, "puppet", REAL / "puppet")
    assert code == 3 and summary["exit_code"] == 3 and summary["exit_reason"] == "not_analysed"
    files = [f["file"] for f in summary["not_analysed_files"]]
    assert files == [
        "puppet-jenkins-manifests/plugin.pp",
        "puppet-jenkins-manifests/repo/el.pp",
        "puppet-jenkins-manifests/job/absent.pp",
        "puppet-jenkins-manifests/slave.pp",  # named by its traceback
        None,  # a traceback that names no script: still counted
    ]
    assert summary["not_analysed"] == 5
    assert summary["not_analysed_by_reason"] == {"could_not_parse": 3, "traceback": 2}
    assert "5 files not analysed by the detector" in err and "puppet-jenkins-manifests/repo/el.pp" in err
    (invocation,) = log["runs"][0]["invocations"]
    notes = invocation["toolExecutionNotifications"]
    uris = [
        n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes if "locations" in n
    ]
    assert len(notes) == 5 and uris[0].endswith(
        "tests/fixtures/glitch-real/puppet/puppet-jenkins-manifests/plugin.pp"
    )
    assert summary["warnings_in"] == rows_in(REAL / "puppet-glitch.csv")  # every row came back
    called = json.loads(glitch.read_text())
    assert called["argv"][:6] == ["--tech", "puppet", "--csv", "--folder-strategy", "include-all", "."]
    assert Path(called["cwd"]) == (REAL / "puppet").resolve()


@pytest.mark.parametrize("allowed,code", [(4, 3), (5, None), (9, None)])
def test_allow_unanalysed_n(capsys, monkeypatch, glitch, tmp_path, champion, allowed, code):
    replay(monkeypatch, "puppet", "puppet-stderr.txt")
    got, _, summary, _ = scan(
        capsys,
        tmp_path,
        champion,
        "puppet",
        REAL / "puppet",
        "--allow-unanalysed",
        str(allowed),
        "--fail-on",
        "kept",
    )
    expected = code if code is not None else (1 if summary["kept_security"] else 0)
    assert got == expected == summary["exit_code"]


def test_a_clean_run_says_everything_was_analysed(capsys, monkeypatch, glitch, tmp_path, champion):
    replay(monkeypatch, "puppet")
    code, err, summary, log = scan(capsys, tmp_path, champion, "puppet", REAL / "puppet")
    assert code == 0 and summary["not_analysed"] == 0 and "not analysed: none" in err
    assert log["runs"][0]["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_a_relative_glitch_path_is_taken_from_where_the_user_stands(
    capsys, monkeypatch, glitch, tmp_path, champion
):
    """GLITCH runs inside the scanned folder: `--glitch bin/glitch` still names the user's file."""
    replay(monkeypatch, "puppet")
    monkeypatch.chdir(tmp_path)
    code, err, summary, _ = scan(
        capsys, tmp_path, champion, "puppet", REAL / "puppet", "--glitch", "bin/glitch"
    )
    assert code == 0 and summary["not_analysed"] == 0, err


def test_chef_without_ruby_names_every_chef_file(capsys, monkeypatch, glitch, tmp_path, champion):
    replay(monkeypatch, "chef", "chef-no-ruby-stderr.txt", csv_file=tmp_path / "empty.csv")
    (tmp_path / "empty.csv").write_text("")
    code, err, summary, _ = scan(capsys, tmp_path, champion, "chef", REAL / "chef")
    chef_files = sorted(p for p in (REAL / "chef").rglob("*.rb"))
    assert (
        code == 3
        and summary["not_analysed"] == len(chef_files) == summary["not_analysed_by_reason"]["no_ruby"]
    )
    assert "Chef needs Ruby on PATH" in err and summary["warnings_in"] == 0


def test_github_folder_is_left_out_by_default(capsys, monkeypatch, glitch, tmp_path, champion):
    scripts = tmp_path / "role"
    shutil.copytree(REAL / "ansible", scripts)
    (scripts / ".github" / "workflows").mkdir(parents=True)
    (scripts / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    detections = tmp_path / "g.csv"
    detections.write_text(
        (REAL / "ansible-glitch.csv").read_text() + "./.github/workflows/ci.yml,1,sec_hard_secr,on: push,-\n"
    )
    stderr = tmp_path / "stderr.txt"
    stderr.write_text("Ansible - Could not parse file: ./.github/workflows/ci.yml\n")
    replay(monkeypatch, "ansible", csv_file=detections)
    monkeypatch.setenv("GLITCH_STANDIN_STDERR", str(stderr))
    code, _, summary, _ = scan(capsys, tmp_path, champion, "ansible", scripts)
    assert code == 0 and summary["not_analysed"] == 0
    assert summary["warnings_in"] == rows_in(REAL / "ansible-glitch.csv")
    code, _, summary, _ = scan(capsys, tmp_path, champion, "ansible", scripts, "--exclude", "nothing")
    assert code == 3 and summary["warnings_in"] == rows_in(REAL / "ansible-glitch.csv") + 1


def test_scan_without_model_uses_the_bundled_champion(capsys, monkeypatch, glitch, tmp_path):
    replay(monkeypatch, "puppet")
    out = tmp_path / "kept.csv"
    assert main(["scan", "--tech", "puppet", str(REAL / "puppet"), "--out", str(out)]) == 0
    assert "(bundled)" in capsys.readouterr().err
    assert len(list(csv.DictReader(out.open()))) == rows_in(REAL / "puppet-glitch.csv")


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda m, t: m.setenv("GLITCH_STANDIN_EXIT", "1"), "GLITCH exited 1"),
        (lambda m, t: m.setenv("PATH", str(t)), "no `glitch` on PATH"),
    ],
)
def test_a_failed_or_missing_glitch_is_one_line_exit_2(
    capsys, monkeypatch, glitch, tmp_path, champion, setup, message
):
    replay(monkeypatch, "puppet", "puppet-stderr.txt")
    setup(monkeypatch, tmp_path / "empty-bin")
    out = tmp_path / "kept.csv"
    code = main(
        ["scan", "--tech", "puppet", str(REAL / "puppet"), "--model", str(champion), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and not out.exists()


def test_scan_needs_tech_and_a_folder(capsys, glitch, tmp_path):
    with pytest.raises(SystemExit):
        main(["scan", str(tmp_path), "--out", str(tmp_path / "k.csv")])
    assert main(["scan", "--tech", "puppet", str(tmp_path / "none"), "--out", str(tmp_path / "k.csv")]) == 2


def test_stderr_reader_table(tmp_path):
    (tmp_path / "a.pp").write_text("x\n")
    (tmp_path / "b.pp").write_text("x\n")
    stderr = (
        "Error: Puppet - Could not parse file: ./a.pp\nPuppet - Could not parse file: ./a.pp\n"
        "Ansible - File is not a playbook: ./c.yml\nAnsible - Cannot detect file type: ./d.yml\n"
        'Traceback (most recent call last):\n  File "/x/glitch/y.py", line 3\nOSError: bad file ./b.pp\n'
        "ANALYZING |███| 3/3\n"
    )
    run = GlitchRun(("glitch",), 0, stderr)
    found = [(i.file, i.reason) for i in not_analysed(run, "puppet", tmp_path, ruby=True)]
    assert found == [
        ("./a.pp", "could_not_parse"),
        ("./c.yml", "not_a_playbook"),
        ("./d.yml", "unknown_file_type"),
        ("./b.pp", "traceback"),
    ]
    assert excluded("./.github/workflows/x.yml", [".github"]) and not excluded("./github/x.yml", [".github"])
    assert not excluded("./a.yml,3,sec_hard_secr,.github/x.yml", [".github"])
