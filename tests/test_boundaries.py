"""The layers of docs/DESIGN.md, checked by walking every import of src/ (no import needed).

- a module imports from its own folder and from folders below it, never above;
- no module imports another module's `_private` name (make it public or move it);
- no function in src/ is over 60 lines unless its docstring says why ("Long because ...").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# Bottom to top. Top-level modules (layout, errors, atomic, smells, ...) are the bottom layer.
LAYERS = ("bottom", "data", "models", "steps", "release", "method", "filtering", "reporting", "kfp", "cli")
ENTRY_POINTS = {"iacsieve.__main__": "cli"}
MAX_LINES = 60
REASON = "Long because"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def layer(module: str) -> str:
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "bottom"


def iacsieve_imports(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every iacsieve import, function-level ones included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "iacsieve":
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "iacsieve"]
    return found


MODULES = {module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(SRC.rglob("*.py"))}


def test_the_walk_sees_the_layers():
    """Guards the test itself: a renamed folder would otherwise make every module 'bottom'."""
    seen = {layer(m) for m in MODULES}
    assert seen == set(LAYERS), f"layers without modules: {set(LAYERS) - seen}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_up_the_layers(module):
    rank = LAYERS.index(layer(module))
    bad = [
        f"line {line}: {target}"
        for line, target, _ in iacsieve_imports(MODULES[module])
        if LAYERS.index(layer(target)) > rank
    ]
    assert not bad, f"{module} ({layer(module)}) imports from a layer above: {bad}"


def test_no_private_imports_across_modules():
    bad = [
        f"{module}:{line}: {target}.{name}"
        for module, tree in MODULES.items()
        for line, target, names in iacsieve_imports(tree)
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert not bad, f"private names imported from another module (make them public or move them): {bad}"


def test_no_long_function_without_a_reason():
    bad = []
    for module, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_LINES and REASON not in (ast.get_docstring(node) or ""):
                    bad.append(f"{module}.{node.name} ({length} lines)")
    assert not bad, (
        f"functions over {MAX_LINES} lines: split them, or say '{REASON} ...' in the docstring: {bad}"
    )
