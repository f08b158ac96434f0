"""params.yaml holds no key that nothing reads: each knob is used by the code or by dvc.yaml.

A key that validates but that no code reads is a lie to the user (the `data:` block once looked like
it moved the data folders; it moved nothing). A leaf counts as read when its name is an attribute,
a `["key"]` / `.get("key")` lookup in src/ (outside the validator, method/params.py), or a `${...}`
of dvc.yaml. Grids (`stageN`, `profiles`) and run settings (`defaults`, `families`) are checked
against the dataclasses that consume them by the validator itself (tests/method/test_params.py).
"""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import yaml

from iacsieve.method.params import PROFILES_KEY, TOP_KEYS, Params

REPO = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
DVC_TEXT = (REPO / "dvc.yaml").read_text(encoding="utf-8")
VALIDATOR = REPO / "src" / "iacsieve" / "method" / "params.py"
# Blocks whose keys are settings by name (not grids, not TrainConfig keys): each leaf must be read.
PARAMS_FIELDS = {f.name for f in fields(Params)}  # the top-level blocks the loaded Params carries
NAMED_BLOCKS = ("threshold_sweep", "evaluation", "human", "cluster")
OPEN_MAPPINGS = ("node_selector", "resources")  # user-named keys (labels, resource classes): not settings


def names_read_in_src() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "src").rglob("*.py"):
        if path == VALIDATOR:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                names.add(str(node.slice.value))
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))
    return names


def leaf_paths(block: dict, prefix: str) -> list[str]:
    """`cluster.resources.train.gpu` style paths; the settings of a named resource class are leaves."""
    paths = []
    for key, value in block.items():
        path = f"{prefix}.{key}"
        paths += leaf_paths(value, path) if isinstance(value, dict) and key not in OPEN_MAPPINGS else [path]
    return paths


def test_every_top_level_key_is_known():
    assert set(PARAMS) <= set(TOP_KEYS)


def unread_keys(params: dict, read: set[str]) -> list[str]:
    """Top-level keys and named-block leaves whose names nothing reads."""
    unread = [
        key
        for key in params
        if not (key in PARAMS_FIELDS and key in read)
        and not re.fullmatch(r"stage\d+", key)
        and key != PROFILES_KEY
    ]
    for block in NAMED_BLOCKS:
        unread += [p for p in leaf_paths(params.get(block) or {}, block) if p.split(".")[-1] not in read]
    return unread


def test_no_unread_key():
    read = names_read_in_src()
    read |= {part for ref in re.findall(r"\$\{([\w.]+)\}", DVC_TEXT) for part in ref.split(".")}
    unread = unread_keys(PARAMS, read)
    assert not unread, f"params.yaml keys nothing reads (read them, or remove them): {unread}"


def test_an_unread_key_is_found():
    """The check itself: a block or a setting that no code names is reported."""
    read = names_read_in_src()
    assert unread_keys({"data": {"raw": "x"}, "human": {"frobnicate": 1}}, read) == [
        "data",
        "human.frobnicate",
    ]
