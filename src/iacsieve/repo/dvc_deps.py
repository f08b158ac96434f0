"""dvc.yaml's code deps, generated: each stage depends on exactly the modules its command imports.

A hand-kept list drifts (a new module goes unlisted and DVC reuses a stale output; a removed import
keeps rerunning a stage for nothing). `python -m iacsieve.repo.dvc_deps` (`make dvc-deps`) rewrites the
`src/` entries of every `deps:` list in place from the import closure of the stage's entry module,
leaving the other entries, comments and layout of dvc.yaml as they are. Deps are whole package
folders (src/iacsieve/core, io, data, ...): dvc.yaml stays readable, and a stage reruns when a
package it imports from changes, never for one it does not. `.dvcignore` keeps `__pycache__` out of
their hashes. `--check` only reports drift (exit 1).

Bottom layer on purpose: nothing a stage imports, so editing it reruns no stage.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
import sys
from pathlib import Path

from iacsieve.core.layout import DVC_FILE
from iacsieve.io.atomic import atomic_write_text

SRC_ROOT = Path(__file__).resolve().parents[2]  # src/
PACKAGE = "iacsieve"
# The module each stage's command runs (the CLI layer only parses flags, and is left out).
STAGE_ENTRIES: dict[str, str] = {
    "prepare": "iacsieve.data.records",
    "training-data": "iacsieve.data.human",
    "stage1": "iacsieve.method.dvc",
    "stage2": "iacsieve.method.dvc",
    "stage3": "iacsieve.method.dvc",
    "stage4": "iacsieve.method.dvc",
    "select": "iacsieve.method.dvc",
    "freeze": "iacsieve.method.dvc",
    "champion-archive": "iacsieve.release.archive",
    "ablate": "iacsieve.reporting.ablation",
    "report": "iacsieve.reporting.report",
    "plots": "iacsieve.reporting.plots",
}
DYNAMIC_PACKAGES = frozenset({"iacsieve.models"})  # the family registry imports its modules by name
_STAGE = re.compile(r"^  ([\w@.-]+):\s*(#.*)?$")
_DEPS = re.compile(r"^(\s+)deps:((?:\s+&\w+)?)\s*\[")
WIDTH = 110  # the line length the rest of the repo keeps (pyproject's ruff line-length)


def module_file(name: str, src: Path = SRC_ROOT) -> Path | None:
    """The file of a dotted module name (a package's `__init__.py`), or None if it is no module."""
    path = src.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def import_closure(entry: str, src: Path = SRC_ROOT) -> set[Path]:
    """Every iacsieve module `entry` imports, at any depth, including function-level imports."""
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        path = module_file(name, src)
        if path is None or path in seen:
            continue
        seen.add(path)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        if name in DYNAMIC_PACKAGES:
            todo += [f"{name}.{p.stem}" for p in path.parent.glob("*.py") if p.stem != "__init__"]
        stat = path.stat()
        todo += _imported_names(path, stat.st_mtime_ns, stat.st_size)
    return seen


@functools.lru_cache(maxsize=1024)
def _imported_names(path: Path, mtime_ns: int, size: int) -> tuple[str, ...]:
    """The iacsieve names one module imports (parsed once per version of the file: the stages'
    closures share most modules)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    return tuple(names)


def code_deps(entry: str, src: Path = SRC_ROOT) -> list[str]:
    """The closure as dvc.yaml paths: each top-level package folder it touches, whole (so a new
    module inside one needs no edit here), and a top-level module file as itself."""
    root = src / PACKAGE
    deps = set()
    for path in import_closure(entry, src):
        rel = path.relative_to(root)
        deps.add(root / rel.parts[0] if len(rel.parts) > 1 else path)
    return sorted(str(p.relative_to(src.parent)) for p in deps)


def flow_list(indent: str, anchor: str, items: list[str]) -> list[str]:
    """`deps: [a, b, ...]` wrapped at WIDTH, continuation lines two spaces deeper than the key."""
    lines = [f"{indent}deps:{anchor} ["]
    for i, item in enumerate(items):
        piece = item + ("]" if i == len(items) - 1 else ",")
        if len(lines[-1]) + 1 + len(piece) > WIDTH and not lines[-1].endswith("["):
            lines.append(f"{indent}  {piece}")
        else:
            lines[-1] += piece if lines[-1].endswith("[") else f" {piece}"
    return lines


def render(text: str, src: Path = SRC_ROOT) -> str:
    """dvc.yaml's text with every listed stage's `src/` deps regenerated; other lines untouched.

    A stage's deps are one flow list (`deps: [data/x, src/iacsieve/core, ...]`, wrapped), so the
    graph reads whole; its non-`src/` entries keep their order and quoting."""
    lines = text.split("\n")
    out: list[str] = []
    stage: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _STAGE.match(line)
        if match:
            stage = match.group(1)
        deps = _DEPS.match(line)
        if not deps or stage not in STAGE_ENTRIES:
            out.append(line)
            i += 1
            continue
        body = line[deps.end() :]
        while "]" not in body and i + 1 < len(lines):
            i += 1
            body += " " + lines[i].strip()
        i += 1
        items = [s.strip() for s in body[: body.index("]")].split(",") if s.strip()]
        kept = [s for s in items if not s.strip("\"'").startswith("src/")]
        out += flow_list(deps.group(1), deps.group(2), kept + code_deps(STAGE_ENTRIES[stage], src))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iacsieve.repo.dvc_deps", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dvc-yaml", default=DVC_FILE, help="the file to rewrite (default: dvc.yaml)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the deps drifted; write nothing")
    args = parser.parse_args(argv)
    path = Path(args.dvc_yaml)
    text = path.read_text(encoding="utf-8")
    new = render(text)
    if new == text:
        return 0
    if args.check:
        print(f"{path}: code deps drifted from the stages' imports; run make dvc-deps", file=sys.stderr)
        return 1
    atomic_write_text(path, new)
    print(f"{path}: code deps regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
