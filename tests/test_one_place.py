"""One fact, one place: a file or folder name that layout.py defines is not typed again in src/.

A second spelling drifts (a renamed file found by one reader and not the other). Exact string
literals only: prose in help texts and docstrings may name files.
"""

from __future__ import annotations

import ast
from pathlib import Path

from iacsieve.core import layout

SRC = Path(__file__).resolve().parents[1] / "src" / "iacsieve"
# layout's file and folder names (a dot or a slash: "results" alone is too common a word to police)
NAMES = {
    value: name
    for name, value in vars(layout).items()
    if name.isupper() and isinstance(value, str) and ("." in value or "/" in value)
}


# The project's top folders (data/, models/, results/, reports/): a literal path under one of them is
# a layout fact too, even if layout.py names no constant for it yet (then it should).
ROOTS = {value.split("/")[0] for value in NAMES if "/" in value} | {layout.RESULTS_DIR}


def _offence(text: str) -> str | None:
    if text in NAMES:
        return f"is layout.{NAMES[text]}"
    if "/" in text and text.split("/")[0] in ROOTS and " " not in text.split("/")[0]:
        return "is a path under a layout folder (name it in layout.py)"
    return None


def literal_paths(path: Path, root: Path = SRC.parent) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        f"{path.relative_to(root)}:{node.lineno}: {node.value!r} {_offence(node.value)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _offence(node.value)
        and id(node) not in docstrings
    ]


def test_layout_names_are_not_retyped():
    found = [
        hit for path in sorted(SRC.rglob("*.py")) if path.name != "layout.py" for hit in literal_paths(path)
    ]
    assert not found, "use the layout constant instead:\n" + "\n".join(found)


def test_the_check_sees_a_retyped_name(tmp_path):
    """Guards the test itself: a retyped name is found, a docstring naming it is not."""
    module = tmp_path / "m.py"
    module.write_text(
        f'"""Writes {layout.CHAMPION_FILE}."""\nCARD = "{layout.CHAMPION_FILE}"\n'
        'RUNS = f"models/experiments/{stage}"\nHELP = "see results/ (made by dvc repro)"\n'
    )
    assert literal_paths(module, tmp_path) == [
        f"m.py:2: {layout.CHAMPION_FILE!r} is layout.CHAMPION_FILE",
        "m.py:3: 'models/experiments/' is a path under a layout folder (name it in layout.py)",
    ]


# ----------------------------------------------------------------------------- settings


def _declared_flags() -> dict[str, str]:
    """`--flag` -> the declared setting it belongs to (iacsieve.core.settings), over every settings block."""
    from iacsieve.core.settings import declared, flag_name
    from iacsieve.method.params import SETTINGS_BLOCKS

    flags: dict[str, str] = {}
    for block, cls in SETTINGS_BLOCKS:
        for name, f in declared(cls).items():
            if name != "dir":  # `--human DIR`: the labels store, a path every labels command takes
                flags.setdefault(flag_name(name, f), f"{block}.{name}")  # `--seed`: defaults' first
    return flags


def hand_written_flags(path: Path, flags: dict[str, str], root: Path = SRC.parent) -> list[str]:
    """`add_argument("--learning-rate", ...)` written by hand for a declared setting: a second copy
    of its type, default and help (add it with `iacsieve.core.settings.add_flags`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(root)}:{node.lineno}: {arg.value} is the setting {flags[arg.value]}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_argument"
        for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value in flags
    ]


# Other knobs that share a setting's flag name: not a copy of that setting.
NOT_THE_SETTING = {
    ("cli/filter.py", "--batch-size"): "scoring batch of the filter, not training's",
    ("reporting/bench_filter.py", "--batch-size"): "scoring batch of the filter benchmark",
    ("cli/experiment.py", "--seed"): "the learning-curve experiment's fold seed",
}


def test_setting_flags_are_derived_from_the_declarations():
    flags = _declared_flags()
    found = [
        hit
        for path in sorted(SRC.rglob("*.py"))
        for hit in hand_written_flags(path, flags)
        if (str(path.relative_to(SRC)), hit.split(": ")[1].split()[0]) not in NOT_THE_SETTING
    ]
    assert not found, "derive these flags with iacsieve.core.settings.add_flags:\n" + "\n".join(found)


def test_the_flag_check_sees_a_hand_written_flag(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('p.add_argument("--lr", type=float)\np.add_argument("--seed", type=int, default=42)\n')
    assert hand_written_flags(module, _declared_flags(), tmp_path) == [
        "m.py:2: --seed is the setting defaults.seed"
    ]


def test_no_setting_default_is_retyped_in_layout():
    """layout.py names paths; the settings' defaults live in their declarations only."""
    for name in ("SWEEP_START", "SWEEP_STOP", "SWEEP_STEP", "BOOTSTRAP_SAMPLES", "BOOTSTRAP_SEED"):
        assert not hasattr(layout, name), f"layout.{name}: declare it in iacsieve.steps.settings"
