"""docs/filter.md's filter commands, run on real GLITCH output (the Action: tests/test_action.py; the
pre-commit hook: tests/test_hook.py; scan: tests/test_scan.py).

GLITCH is not installed here: the jobs start from its saved output (tests/fixtures/glitch-real, made with
the very command the docs show). Paths in the documented commands are mapped to the fixtures and temp files;
the commands themselves are read from the docs, not copied here.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from sarif_schema import validate_sarif
from test_filter import load_cached
from test_readme import readme_commands
from worktree import REPO

import iacsieve.filtering.apply as filter_module
from iacsieve.cli.app import main

DOCS = REPO / "docs" / "filter.md"
REAL = REPO / "tests" / "fixtures" / "glitch-real"
TECHS = ("ansible", "chef", "puppet")
COMMANDS = readme_commands(DOCS.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def cached(monkeypatch):
    monkeypatch.setattr(filter_module, "load_scorer", load_cached)


def documented(marker: str) -> list[str]:
    (command,) = [c for c in COMMANDS if c.startswith("iacsieve filter") and marker in c]
    return shlex.split(command)[1:]


def on_fixture(args: list[str], tech: str, champion: Path, work: Path) -> list[str]:
    """The documented arguments with the docs' placeholders pointing at a fixture and temp files."""
    detections = work / "glitch.csv"
    shutil.copyfile(REAL / f"{tech}-glitch.csv", detections)
    paths = {"models/champion": str(champion), "glitch.csv": str(detections), "infra/": str(REAL / tech)}
    mapped = [paths.get(a, a) for a in args]
    return [str(work / a) if a.endswith((".csv", ".sarif", ".json")) and "/" not in a else a for a in mapped]


def test_docs_glitch_command_is_how_the_fixtures_were_made():
    (glitch,) = [c for c in COMMANDS if "/glitch --tech" in c]
    readme = (REAL / "README.md").read_text(encoding="utf-8")
    assert "--csv --folder-strategy include-all" in glitch and "--csv --folder-strategy include-all" in readme
    assert "19c5020" in readme and any("checkout 19c5020" in c for c in COMMANDS)


@pytest.mark.parametrize("tech", TECHS)
def test_docs_filter_commands_run_on_real_output(capsys, champion, tmp_path, tech):
    """Step 4 (filter) and step 5 (the CI job: SARIF, JSON summary, gate) exactly as documented."""
    assert main(on_fixture(documented("--out kept.csv"), tech, champion, tmp_path)) == 0
    rows = (tmp_path / "kept.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) - 1 == len((REAL / f"{tech}-glitch.csv").read_text().splitlines())

    code = main(on_fixture(documented("--fail-on kept"), tech, champion, tmp_path))
    err = capsys.readouterr().err
    summary = json.loads((tmp_path / "summary.json").read_text())
    log = json.loads((tmp_path / "iacsieve.sarif").read_text())
    validate_sarif(log)
    assert code == summary["exit_code"] == (1 if summary["kept_security"] else 0) and "Traceback" not in err
    assert log["runs"][0]["automationDetails"]["id"] == "iacsieve-puppet/"
    assert summary["sarif_results"] == len(log["runs"][0]["results"]) and summary["missing"] == 0
