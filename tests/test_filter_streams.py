"""The filter's outputs and summary streams (issue 31, with 28's filter context): two output flags naming
one file are refused; the summary never lands in the data stream; a closed stdout is one line; explain
takes the champion archive and refuses --neighbours 0; a comparison shown in a reason is true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from iacsieve.cli.app import main
from iacsieve.filtering.review import audit_reason
from iacsieve.filtering.verdicts import score_comparison
from iacsieve.release import archive

REAL = Path(__file__).resolve().parent / "fixtures" / "glitch-real"
SRC = Path(__file__).resolve().parents[1] / "src"


def _args(champion: Path) -> list[str]:
    return [
        "--model",
        str(champion),
        "--detections",
        str(REAL / "puppet-glitch.csv"),
        "--scripts",
        str(REAL / "puppet"),
    ]


def test_explain_and_json_summary_naming_one_file_are_refused(champion, tmp_path, capsys):
    same = tmp_path / "both.jsonl"
    args = ["filter", *_args(champion), "--out", str(tmp_path / "o.csv"), "--explain", str(same)]
    assert main([*args, "--json-summary", str(same)]) == 2
    err = capsys.readouterr().err
    assert "--json-summary" in err and "--explain" in err and len(err.strip().splitlines()) == 1
    assert not same.exists() and not (tmp_path / "o.csv").exists()


def _run(argv: list[str], **streams) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "iacsieve", *argv], env=env, **streams)


def test_with_stderr_closed_the_summary_stays_out_of_stdouts_csv(champion):
    done = _run(["filter", *_args(champion), "--out", "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                pass_fds=(), close_fds=True, preexec_fn=lambda: os.close(2))  # fmt: skip
    assert done.returncode == 0
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("path,line,code") and not any("warnings in" in ln for ln in lines)
    assert len(lines) == 1 + len((REAL / "puppet-glitch.csv").read_text().splitlines())


def test_with_stdout_closed_out_dash_is_one_line(champion):
    done = _run(["filter", *_args(champion), "--out", "-"], stderr=subprocess.PIPE,
                preexec_fn=lambda: os.close(1))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.decode().strip().splitlines() == [
        "iacsieve: error: --out -: stdout is closed; name an output file instead"
    ]


def test_explain_takes_the_archive_and_refuses_zero_neighbours(champion, tmp_path, capsys):
    packed = tmp_path / "champion.tar.gz"
    archive.pack(champion, packed)
    page = ["explain", "--scripts", str(REAL / "puppet"), "--detections", str(REAL / "puppet-glitch.csv")]
    row = next(
        n
        for n, line in enumerate((REAL / "puppet-glitch.csv").read_text().splitlines(), 1)
        if "sec_hard" in line
    )
    assert main([*page, "--model", str(champion), "--row", str(row)]) == 0
    from_dir = capsys.readouterr().out
    assert main([*page, "--model", str(packed), "--row", str(row)]) == 0
    assert capsys.readouterr().out == from_dir
    assert main([*page, "--model", str(champion), "--row", str(row), "--neighbours", "0"]) == 2
    assert "--neighbours must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "score, threshold, shown",
    [(0.4987, 0.5, "0.499 < 0.500"), (0.62, 0.5, "0.62 >= 0.50"), (0.5, 0.5, "0.50 >= 0.50"),
     (0.49999999, 0.5, "0.49999999 < 0.50000000")],
)  # fmt: skip
def test_a_shown_comparison_is_true(score, threshold, shown):
    assert score_comparison(score, threshold) == shown
    assert f"score {shown} (" in audit_reason(True, score, threshold, "argmax")
