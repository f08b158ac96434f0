"""The checked-in KFP specs (components/, pipelines/) load with the SDK and are not stale."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

from kfp.components import load_component_from_file
from worktree import repo_copy

from iacsieve.kfp.specs import write_specs

REPO = Path(__file__).resolve().parents[2]
STEPS = {"prepare", "training-data", "resolve", "train", "threshold-sweep", "evaluate", "select", "freeze"}
PIPELINES = {"stage1", "stage2", "stage3", "stage4", "all-stages"}


def checked_in() -> dict[str, Path]:
    files = list((REPO / "components").glob("*/component.yaml")) + list((REPO / "pipelines").glob("*.yaml"))
    return {str(p.relative_to(REPO)): p for p in files}


def test_every_step_and_pipeline_has_a_loadable_spec():
    files = checked_in()
    assert {Path(k).parent.name for k in files if k.startswith("components/")} == STEPS
    assert {Path(k).stem for k in files if k.startswith("pipelines/")} == PIPELINES
    for path in files.values():
        assert load_component_from_file(str(path)).name


def test_specs_are_not_stale(tmp_path):
    fresh = {str(p.relative_to(tmp_path)): p for p in write_specs(tmp_path, REPO / "params.yaml")}
    current = checked_in()
    assert set(fresh) == set(current), "stale: run make kfp-specs (a spec was added or removed)"
    stale = [name for name, path in fresh.items() if path.read_bytes() != current[name].read_bytes()]
    assert not stale, f"stale: run make kfp-specs ({', '.join(sorted(stale))} differ from the code)"


def _comment_in_every_body(text: str) -> str:
    """`text` with a comment line before each function body's first statement (after its docstring)."""
    lines = text.splitlines(keepends=True)
    places = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef):
            first = node.body[0]
            docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            anchor = node.body[1] if docstring and len(node.body) > 1 else first
            places.append((anchor.lineno - 1, " " * anchor.col_offset))
    for index, indent in sorted(places, reverse=True):
        lines.insert(index, f"{indent}# a comment-only change inside a component body\n")
    return "".join(lines)


def test_a_comment_only_change_under_src_changes_no_spec(tmp_path):
    """The specs name the placeholder image, not the source hash, and carry the component bodies'
    code without comments: a comment added to every module under src/, and inside every step
    function's body, leaves every spec as it was."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for module in src.rglob("*.py"):
        module.write_text("# a comment-only change\n" + module.read_text(encoding="utf-8"), encoding="utf-8")
    bodies = src / "iacsieve" / "kfp" / "step_functions.py"  # whose code the specs carry
    bodies.write_text(_comment_in_every_body(bodies.read_text(encoding="utf-8")), encoding="utf-8")
    params = repo_copy("params.yaml")
    before = {str(p.relative_to(tmp_path / "a")): p.read_bytes() for p in write_specs(tmp_path / "a", params)}
    code = (
        f"from iacsieve.kfp.specs import write_specs; write_specs({str(tmp_path / 'b')!r}, {str(params)!r})"
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = {str(p.relative_to(tmp_path / "b")): p.read_bytes() for p in (tmp_path / "b").rglob("*.yaml")}
    assert set(after) == set(before) and len(before) == 13
    assert [name for name in before if before[name] != after[name]] == []
