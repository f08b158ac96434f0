"""dvc.yaml interprets the stage plan and depends on what each stage really uses.

- dvc.yaml's code deps are what `make dvc-deps` writes (the generator, iacsieve.repo.dvc_deps);
- every stage's code deps are the package folders of the import closure of the module its command
  runs, no more and no less (every closure module covered; no folder the stage never imports from);
- each stage's inputs are the plan's: stages that build on a winner/champion read it as params
  from that file (its settings only), and the rule's extra inputs (the sweep range) are declared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from iacsieve.method.dvc import base_file
from iacsieve.method.plan import PLAN, champion_dir
from iacsieve.repo import dvc_deps

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"


def env_with_venv() -> dict[str, str]:
    """The venv's bin first on PATH, as `make` runs dvc."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


DVC = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def code_deps(stage: dict) -> list[Path]:
    body = stage.get("do", stage)
    return [REPO / d for d in body["deps"] if d.startswith("src/")]


def test_dvc_yaml_deps_are_generated():
    text = (REPO / "dvc.yaml").read_text(encoding="utf-8")
    assert dvc_deps.render(text) == text, (
        "dvc.yaml's code deps drifted from the stages' imports: run make dvc-deps"
    )


def test_every_stage_with_code_deps_has_an_entry():
    with_code = {name for name, stage in DVC.items() if code_deps(stage)}
    assert with_code == set(dvc_deps.STAGE_ENTRIES)


@pytest.mark.parametrize("name", sorted(dvc_deps.STAGE_ENTRIES))
def test_code_deps_are_the_import_closure(name):
    closure = dvc_deps.import_closure(dvc_deps.STAGE_ENTRIES[name])
    deps = code_deps(DVC[name])
    covered = set()
    for dep in deps:
        files = set(dep.rglob("*.py")) if dep.is_dir() else {dep}
        assert files, f"dvc.yaml {name}: dep {dep.relative_to(REPO)} does not exist"
        assert files & closure, f"dvc.yaml {name}: the stage imports nothing from {dep.relative_to(REPO)}"
        covered |= files
    missing = closure - covered
    assert not missing, f"dvc.yaml {name}: missing deps {sorted(str(m.relative_to(REPO)) for m in missing)}"


def test_bytecode_is_not_hashed():
    """`.pyc` embeds its source's mtime: hashed, a fresh checkout would rerun every training stage."""
    for path in ("src/iacsieve/models/__pycache__/x.cpython-311.pyc", "src/iacsieve/x.pyc"):
        result = subprocess.run(["dvc", "check-ignore", "-q", path], cwd=REPO, env=env_with_venv())
        assert result.returncode == 0, f"{path} is hashed by DVC: add it to .dvcignore"


def test_dvc_yaml_reads_whole():
    assert len((REPO / "dvc.yaml").read_text(encoding="utf-8").splitlines()) <= 150


@pytest.mark.parametrize("n", sorted(PLAN))
def test_training_stages_follow_the_plan(n):
    stage, plan = DVC[f"stage{n}"], PLAN[n]
    params = stage["params"]
    file_params = {k: v for p in params if isinstance(p, dict) for k, v in p.items()}
    base = base_file(plan)
    if base is None:
        assert "matrix" in stage and not file_params  # every value named: one DVC stage per run
        assert set(stage["matrix"]) == {"family", "lr", "bs", "ep", "wd"}
    else:
        assert list(file_params) == [str(base)], "a stage depends on the file it builds on, as params"
        assert "config" in file_params[str(base)]
        assert ("threshold" in file_params[str(base)]) == (plan.evaluate_consumes == "champion")
    assert ("threshold_sweep" in params) == plan.sweeps
    assert f"--stage {n}" in stage["cmd"]


def test_select_and_freeze_cover_the_plan():
    assert DVC["select"]["foreach"] == sorted(PLAN)
    assert sorted(int(k) for k in DVC["freeze"]["foreach"]) == [n for n, p in PLAN.items() if p.freezes]
    for key, item in DVC["freeze"]["foreach"].items():
        assert Path(item["champion"]) == champion_dir(int(key))
