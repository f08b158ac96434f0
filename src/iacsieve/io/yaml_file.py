"""The one YAML loader of the project's settings files: params.yaml, a run's config_used.yaml, a
`train --config` file.

YAML 1.2 floats (`5e-4` is a float, as DVC's ruamel reads it), regular files only and size-capped,
duplicate keys, aliases and merge keys refused (each names its key path and line), non-finite
numbers refused anywhere: every settings file is read the same way, so a value that passes here
means the same thing to DVC, KFP and the CLI.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from iacsieve.core.errors import ConfigError

# libyaml's parser where PyYAML was built with it (its wheels are): the same events, nodes, marks and
# errors as the pure-Python one, 5-9x faster (params.yaml 10 -> 1.8 ms, a compiled stage spec 51 ->
# 8 ms, with the depth pass below). Its composer recurses in C, where nesting 100,000 deep overflows
# the stack (a segfault, not an error); its event parser does not, so one event pass measures the
# depth first and deeper text is refused before anything is composed.
_C_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
SAFE_LOADER: type[yaml.SafeLoader] = _C_LOADER or yaml.SafeLoader
MAX_DEPTH = 100  # nested collections; params.yaml is 5 deep, a compiled pipeline spec 10


class NestedTooDeeply(yaml.YAMLError):
    """YAML nested deeper than MAX_DEPTH: refused before it is composed."""

    def __init__(self) -> None:
        super().__init__(f"nested too deeply (over {MAX_DEPTH} levels)")


def refuse_deep(text: str) -> None:
    """Raise NestedTooDeeply where `text` nests deeper than MAX_DEPTH (the pure-Python parser, which
    recurses in Python, raises RecursionError itself: no pass needed)."""
    if _C_LOADER is None:
        return
    depth = 0
    for event in yaml.parse(text, Loader=_C_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise NestedTooDeeply()
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _Loader(SAFE_LOADER):  # type: ignore[valid-type,misc]
    """PyYAML with YAML 1.2 floats (`5e-4` is a float, as DVC's ruamel reads it, not a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:\d[\d_]*)?(?:\.[\d_]*)?[eE][-+]?\d+$|^[-+]?(?:\d[\d_]*)\.[\d_]*$|^[-+]?\.\d[\d_]*$"
    ),
    list("-+0123456789."),
)


def load_all(text: str) -> list[Any]:
    """Every document of a YAML text (a compiled pipeline spec and its platform document), as
    `yaml.safe_load_all` reads them; NestedTooDeeply past MAX_DEPTH."""
    refuse_deep(text)
    return list(yaml.load_all(text, Loader=SAFE_LOADER))


def read_yaml(path: str | Path) -> dict:
    """Load a YAML mapping (YAML 1.2 floats); a missing file or bad syntax is a ConfigError."""
    from iacsieve.io.limits import MAX_JSON_FILE_BYTES
    from iacsieve.io.reading import read_regular_text  # regular files only, size-capped, one-line errors

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ConfigError("<file>", "not found", source=path)
    text = read_regular_text(path, max_bytes=MAX_JSON_FILE_BYTES, what="YAML file")
    try:
        refuse_deep(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_nodes(node, source=path)  # before constructing: an alias bomb never expands
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<yaml>"
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]  # a ReaderError spans two lines
        raise ConfigError(where, f"invalid YAML: {problem}", source=path) from None
    except RecursionError:
        raise ConfigError("<yaml>", "invalid YAML: nested too deeply", source=path) from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-string conversion limit
        raise ConfigError("<yaml>", f"invalid YAML: {str(exc).splitlines()[0][:120]}", source=path) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("<root>", "expected a mapping", source=path)
    _refuse_non_finite(data, "", source=path)
    return data


def _check_nodes(root: yaml.Node, *, source: object) -> None:
    """Refuse duplicate keys and aliases, naming the key path and line.

    A duplicate key silently keeps the later value in PyYAML (DVC refuses the same file); an alias
    (`*name`) can expand exponentially ("billion laughs") and hang whoever reads the value.
    """
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if id(node) in seen:  # the composer hands an alias back as the anchored node itself
            raise ConfigError(
                where or "<root>",
                f"YAML aliases (*name) are not accepted (line {node.start_mark.line + 1}): write the value out",
                source=source,
            )
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[object, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "<complex key>"
                path = f"{where}.{key}" if where else str(key)
                if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                    raise ConfigError(
                        path, "YAML merge keys (<<) are not accepted: write the keys out", source=source
                    )
                if key in keys:
                    raise ConfigError(
                        path,
                        f"duplicate key (lines {keys[key]} and {key_node.start_mark.line + 1}): the later would "
                        f"silently win, and DVC refuses the file; keep one",
                        source=source,
                    )
                keys[key] = key_node.start_mark.line + 1
                stack.append((value_node, path))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node.value))


def _refuse_non_finite(value: Any, where: str, *, source: object) -> None:
    """`.inf`, `-.inf` and `.nan` pass every `> 0` check and fail hours later: refuse them anywhere."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(where or "<root>", f"must be a finite number, got {value}", source=source)
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_non_finite(item, f"{where}.{key}" if where else str(key), source=source)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_non_finite(item, f"{where}[{i}]", source=source)
