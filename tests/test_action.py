"""action.yml and the documented workflow (issue #27): pinned, cached, an upload that runs, `scan` with its
gate, distinct messages per exit code, outputs; its scan and gate steps run here for real on the stand-in
GLITCH, and zizmor audits both files offline when it is installed (the `lint` extra)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from worktree import REPO

ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
STEPS = {s.get("name", s.get("id", "")): s for s in ACTION["runs"]["steps"]}
WORKFLOW_FILE = REPO / "docs" / "examples" / "iacsieve.yml"
STANDIN = REPO / "tests" / "fixtures" / "glitch-standin"
REAL = REPO / "tests" / "fixtures" / "glitch-real"


def test_every_third_party_action_is_pinned_by_full_sha():
    uses = [s["uses"] for s in ACTION["runs"]["steps"] if "uses" in s]
    workflow = yaml.safe_load(WORKFLOW_FILE.read_text(encoding="utf-8"))
    uses += [s["uses"] for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses


def test_the_upload_runs_on_a_step_output_not_hashfiles():
    upload = STEPS["Upload SARIF"]
    assert "hashFiles" not in upload["if"] and "steps.scan.outputs.sarif-written == 'true'" in upload["if"]
    assert "head.repo.fork" in upload["if"]  # fork pull requests have no security-events: write
    assert "sarif-written=true" in STEPS["iacsieve scan"]["run"]


def test_install_from_the_actions_own_checkout_cached_and_pinned():
    install = STEPS["Install GLITCH (pinned) and iacsieve (from this action's own checkout)"]
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}" and '"$ACTION_PATH"' in install["run"]
    assert not re.search(r"pip install[^\n]*\biacsieve\b", install["run"])  # never by bare name
    assert 'checkout -q --detach "$GLITCH_REF" --' in install["run"]
    assert install["if"] == "steps.cache.outputs.cache-hit != 'true'"
    assert ACTION["inputs"]["glitch-ref"]["default"] == "19c5020" and "iacsieve" not in ACTION["inputs"]
    python = STEPS["python"]
    assert python["with"]["update-environment"] is False  # the caller's python stays theirs


def test_outputs_say_counts_and_the_exit_reason():
    assert {"kept", "dropped", "not-analysed", "exit-code", "exit-reason", "sarif", "summary"} <= set(
        ACTION["outputs"]
    )
    assert ACTION["inputs"]["exclude"]["default"] == ".github"


def _venvs(tmp_path: Path) -> Path:
    """What the install step leaves, made of this checkout: iacsieve and python, and the stand-in GLITCH."""
    venvs = tmp_path / "venvs"
    (venvs / "iacsieve" / "bin").mkdir(parents=True)
    (venvs / "glitch" / "bin").mkdir(parents=True)
    (venvs / "iacsieve" / "bin" / "python").symlink_to(sys.executable)
    iacsieve = venvs / "iacsieve" / "bin" / "iacsieve"
    iacsieve.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m iacsieve "$@"\n')
    iacsieve.chmod(0o755)
    shutil.copy(STANDIN / "glitch", venvs / "glitch" / "bin" / "glitch")
    return venvs


def _run_step(name: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        ["bash", "-c", STEPS[name]["run"]], env=full, cwd=cwd, capture_output=True, text=True
    )


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.mark.slow
@pytest.mark.parametrize(
    "stderr,baseline,code,reason",
    [
        (None, False, None, None),
        ("puppet-stderr.txt", False, 3, "not_analysed"),
        (None, True, 0, "clean"),  # every warning in the baseline: the gate passes, the SARIF keeps them all
    ],
)
def test_the_scan_and_gate_steps_run(tmp_path, stderr, baseline, code, reason):
    work = tmp_path / "workspace"
    shutil.copytree(REAL / "puppet", work / "infra")
    runner_temp = tmp_path / "temp"
    (runner_temp / "iacsieve").mkdir(parents=True)
    out = tmp_path / "github_output"
    out.touch()
    env = {
        "TECH": "puppet", "SCRIPTS": "infra", "EXCLUDE": ".github", "MODEL": "", "BASELINE": "",
        "FAIL_ON": "kept", "ALLOW": "0", "CATEGORY": "", "VENVS": str(_venvs(tmp_path)),
        "SARIF": str(runner_temp / "iacsieve" / "iacsieve.sarif"), "SUMMARY": str(runner_temp / "iacsieve" / "summary.json"),
        "RUNNER_TEMP": str(runner_temp), "GITHUB_OUTPUT": str(out), "GLITCH_STANDIN_CSV": str(REAL / "puppet-glitch.csv"),
    }  # fmt: skip
    if stderr:
        env["GLITCH_STANDIN_STDERR"] = str(STANDIN / stderr)
    if baseline:  # an earlier run's full output as the baseline
        first = _run_step("iacsieve scan", env, work)
        assert first.returncode == 0, first.stderr
        shutil.copy(env["SARIF"], work / "previous.sarif")
        env["BASELINE"] = "previous.sarif"
        out.write_text("")
    done = _run_step("iacsieve scan", env, work)
    assert done.returncode == 0, done.stderr  # the step reports; the gate step fails the job
    got = _outputs(out)
    import json

    summary = json.loads(Path(env["SUMMARY"]).read_text())
    expected = code if code is not None else (1 if summary["kept_security"] else 0)
    assert got["exit-code"] == str(expected) and got["sarif-written"] == "true"
    assert got["exit-reason"] == (reason or ("warnings_kept" if expected else "clean"))
    assert got["kept"] == str(summary["kept_security"]) and got["not-analysed"] == str(
        summary["not_analysed"]
    )
    results = json.loads(Path(env["SARIF"]).read_text())["runs"][0]["results"]
    assert len(results) == summary["sarif_results"] and (not baseline or results)  # the full SARIF
    gate = _run_step(
        "Gate",
        {"CODE": got["exit-code"], "KEPT": got["kept"], "NOT_ANALYSED": got["not-analysed"], "ALLOW": "0"},
        work,
    )
    assert gate.returncode == expected


@pytest.mark.parametrize("code,needle", [(0, "gate passed"), (1, "security warnings remain"), (2, "bad input or GLITCH failed"), (3, "did not analyse")])  # fmt: skip
def test_each_exit_code_has_its_own_message(tmp_path, code, needle):
    gate = _run_step("Gate", {"CODE": str(code), "KEPT": "4", "NOT_ANALYSED": "2", "ALLOW": "0"}, tmp_path)
    assert gate.returncode == code and needle in gate.stdout


def test_the_docs_show_the_example_workflow_verbatim():
    docs = (REPO / "docs" / "filter.md").read_text(encoding="utf-8")
    assert WORKFLOW_FILE.read_text(encoding="utf-8") in docs
    workflow = yaml.safe_load(WORKFLOW_FILE.read_text(encoding="utf-8"))
    job = workflow["jobs"]["iac-smells"]
    assert workflow["permissions"] == {} and job["permissions"] == {
        "contents": "read",
        "security-events": "write",
    }
    checkout = job["steps"][0]
    assert checkout["with"]["persist-credentials"] is False
    ours = job["steps"][1]
    assert set(ours["with"]) <= set(ACTION["inputs"]) and "tech" in ours["with"]


# The venv's own first (`make test` does not put it on PATH), then PATH.
ZIZMOR = shutil.which(
    "zizmor", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
)


@pytest.mark.skipif(ZIZMOR is None, reason="zizmor is in the lint extra")
def test_zizmor_finds_nothing():
    done = subprocess.run(
        [str(ZIZMOR), "--offline", "--persona", "pedantic", "action.yml", str(WORKFLOW_FILE.relative_to(REPO))],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
