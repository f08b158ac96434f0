"""Each setting declared once: a dataclass field with its default, bounds, choices and help.

A block of settings (`TrainConfig`, `SweepSettings`, `EvaluationSettings`, `HumanSettings`) is a
frozen dataclass whose fields are made by `setting(...)`. From that one declaration come:

- the check of a params.yaml block, a run config or a command's flags (`parse_block`,
  `check_value`): unknown keys, wrong types, values out of bounds, each naming its key path;
- the command-line flags of the commands that take the setting (`add_flags`, `given_flags`), with
  the declared default and help (one flag name per setting: the field name with dashes);
- the settings table of docs/settings.md (`table`; `iacsieve params --table` prints it).

Why here and not in each block's module: a bound written in one place cannot disagree with a copy
of it (a default of 0.5 in five files, `llm` in code and `merged` in params.yaml).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, TypeVar

from iacsieve.core.errors import ConfigError
from iacsieve.core.json_values import is_number

T = TypeVar("T")
SEED_MAX = 2**32 - 1  # numpy's and transformers' set_seed take seeds below 2**32


@dataclass(frozen=True)
class Spec:
    """What a setting accepts, beyond its type: bounds (inclusive, or `above` for strictly greater),
    choices, and the help line its flag and the docs table show."""

    help: str
    min: float | None = None
    max: float | None = None
    above: float | None = None  # strictly greater than (a learning rate, a sweep step)
    below: float | None = None  # strictly less than (a warmup ratio)
    choices: tuple[str, ...] = ()
    flag: str = ""  # the command-line spelling where it is not `--<name-with-dashes>`
    empty: str = ""  # a string setting that may be "": what "" means (e.g. "unset: submit refuses it")


def setting(
    default: Any = MISSING,
    help: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices: Iterable[str] = (),
    flag: str = "",
    empty: str = "",
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field carrying its `Spec` (`metadata["setting"]`)."""
    spec = Spec(help, min, max, above, below, tuple(choices), flag, empty)
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={"setting": spec})
    return field(default=default, metadata={"setting": spec})


def block_of(cls: type) -> str:
    """A settings block's params.yaml key: its `block` class attribute (`block: ClassVar[str]`)."""
    key = vars(cls).get("block")
    if not isinstance(key, str):
        raise TypeError(f"{cls.__name__} names no params.yaml block (a `block: ClassVar[str]`)")
    return key


def spec(f: Field[Any]) -> Spec:
    found = f.metadata.get("setting")
    return found if isinstance(found, Spec) else Spec("")


def declared(cls: type) -> dict[str, Field[Any]]:
    """The settings of a block, by name."""
    return {f.name: f for f in fields(cls)}


def default_of(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def type_name(f: Field[Any]) -> str:
    """The field's annotation as written (`from __future__ import annotations`: a string)."""
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


# ----------------------------------------------------------------------------- checking


def check_value(f: Field[Any], value: Any, key_path: str, *, source: object) -> Any:
    """`value` checked against the field's type and `Spec`; the clean value (an int where a float is
    declared becomes a float). A bool is never taken for a number."""
    kind = type_name(f)
    s = spec(f)

    def bad(problem: str) -> ConfigError:
        return ConfigError(key_path, problem, source=source)

    optional = kind.endswith("| None")
    base = kind.removesuffix(" | None").strip()
    if value is None and optional:
        return None
    if base == "bool":
        if not isinstance(value, bool):
            raise bad(f"expected true or false, got {value!r}")
        return value
    if base in ("int", "float"):
        ok_types: tuple[type, ...] = (int,) if base == "int" else (int, float)
        if not is_number(value) or not isinstance(value, ok_types):
            raise bad(f"expected {'an integer' if base == 'int' else 'a number'}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise bad(f"must be a finite number, got {value}")
        _check_bounds(s, value, bad)
        return float(value) if base == "float" else value
    if base == "str":
        if not isinstance(value, str):
            raise bad(f"expected a string, got {value!r}")
        if s.choices and value not in s.choices:
            raise bad(f"must be one of {', '.join(s.choices)}, got {value!r}")
        if not value and not optional and not s.empty:
            raise bad("must not be empty")
        return value
    if base.startswith("dict"):
        if not isinstance(value, dict):
            raise bad(f"expected a mapping, got {value!r}")
        return dict(value)
    return value


def _check_bounds(s: Spec, value: float, bad: Callable[[str], ConfigError]) -> None:
    if s.min is not None and value < s.min:
        raise bad(f"must be >= {_num(s.min)}, got {value}")
    if s.above is not None and not value > s.above:
        raise bad(f"must be > {_num(s.above)}, got {value}")
    if s.max is not None and value > s.max:
        raise bad(f"must be <= {_num(s.max)}, got {value}")
    if s.below is not None and not value < s.below:
        raise bad(f"must be < {_num(s.below)}, got {value}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def parse_block(cls: type[T], block: Any, where: str, *, source: object, fixed: Mapping[str, Any] = {}) -> T:
    """A mapping checked against the block's declarations and built: an unknown key, a wrong type or
    a value out of bounds is a ConfigError naming `where.key`; then the block's own relations
    (`relations()`, e.g. start <= stop) are checked. `fixed`: values given by the caller, not the file."""
    if block is None:
        block = {}
    if not isinstance(block, Mapping):
        raise ConfigError(where, f"expected a mapping, got {block!r}", source=source)
    known = declared(cls)
    for key in block:
        if key not in known:
            raise ConfigError(f"{where}.{key}", f"unknown key (known: {', '.join(known)})", source=source)
    clean = {
        key: check_value(known[key], value, f"{where}.{key}", source=source) for key, value in block.items()
    }
    for key, f in known.items():
        if key not in clean and key not in fixed and default_of(f) is MISSING:
            raise ConfigError(f"{where}.{key}", "missing required key", source=source)
    obj = cls(**{**clean, **fixed})
    relations = getattr(obj, "relations", None)
    if callable(relations):
        for key, problem in relations():
            raise ConfigError(f"{where}.{key}", problem, source=source)
    return obj


# ----------------------------------------------------------------------------- flags


def flag_name(name: str, f: Field[Any] | None = None) -> str:
    """A setting's flag: `--learning-rate` for `learning_rate` unless its Spec names another."""
    return (spec(f).flag if f is not None else "") or "--" + name.replace("_", "-")


def add_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    names: Iterable[str] | None = None,
    *,
    defaults: Any = None,
    show_defaults: bool = True,
) -> None:
    """One flag per setting (`--learning-rate` for `learning_rate`), typed, with the declared help.

    The flag's default is None (a flag left out keeps the value from elsewhere: a config file,
    params.yaml); the help names the value in force: `defaults`' (a block instance) or the declared one.
    """
    known = declared(cls)
    for name in names if names is not None else known:
        f = known[name]
        s = spec(f)
        base = type_name(f).removesuffix(" | None").strip()
        shown = getattr(defaults, name) if defaults is not None else default_of(f)
        text = s.help + (f" (default: {shown})" if show_defaults and shown is not MISSING else "")
        text = text.replace("%", "%%")
        if base == "bool":
            parser.add_argument(
                flag_name(name, f), dest=name, action=argparse.BooleanOptionalAction, default=None, help=text
            )
            continue
        converter: Callable[[str], Any] = {"int": int, "float": float}.get(base, str)
        parser.add_argument(
            flag_name(name, f),
            dest=name,
            type=converter,
            default=None,
            choices=s.choices or None,
            metavar=name.upper() if s.choices else None,
            help=text + (f"; one of {', '.join(s.choices)}" if s.choices else ""),
        )


def given_flags(args: argparse.Namespace, cls: type, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The settings given on the command line (flags left out are absent), each checked against its
    declaration: a bad value is a ConfigError naming the flag (`command line: --seed: must be >= 0`)."""
    known = declared(cls)
    given = {
        n: getattr(args, n)
        for n in (names if names is not None else known)
        if getattr(args, n, None) is not None
    }
    return {
        n: check_value(known[n], v, flag_name(n, known[n]), source="command line") for n, v in given.items()
    }


# ----------------------------------------------------------------------------- docs


def describe(f: Field[Any]) -> str:
    """What a setting accepts, in words (the docs table's third column)."""
    s = spec(f)
    parts = []
    if s.choices:
        parts.append(" / ".join(f"`{c}`" for c in s.choices))
    lower = (
        f">= {_num(s.min)}" if s.min is not None else (f"> {_num(s.above)}" if s.above is not None else "")
    )
    upper = (
        f"<= {_num(s.max)}" if s.max is not None else (f"< {_num(s.below)}" if s.below is not None else "")
    )
    if lower or upper:
        parts.append(", ".join(p for p in (lower, upper) if p))
    words = {"str": "text", "bool": "true / false", "int": "integer", "float": "number"}
    base = type_name(f).removesuffix(" | None").strip()
    plain = words.get(
        base, "list" if base.startswith("tuple") else "mapping" if base.startswith("dict") else base
    )
    if s.empty:
        parts.append(f'text; `""`: {s.empty}')
    return "; ".join(parts) or (plain + (" or null" if type_name(f).endswith("| None") else ""))


def table(blocks: Iterable[tuple[str, Any]], *, flags: bool = True) -> str:
    """A Markdown table of every declared setting of the blocks: key, (flag,) default, accepted values,
    help. A block is a settings class, or an instance of one whose values are that block's defaults (a
    kind's pod resources); fields that are not settings (a nested block of its own) are left out."""
    head = ["key", "flag", "default", "accepts", "what"] if flags else ["key", "default", "accepts", "what"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for prefix, block in blocks:
        for name, f in declared(block if isinstance(block, type) else type(block)).items():
            if "setting" not in f.metadata:
                continue
            default = default_of(f) if isinstance(block, type) else getattr(block, name)
            shown = "(required)" if default is MISSING else f"`{_shown(default)}`"
            key = f"{prefix}.{name}" if prefix else name
            flag = [f"`{flag_name(name, f)}`"] if flags else []
            lines.append("| " + " | ".join([f"`{key}`", *flag, shown, describe(f), spec(f).help]) + " |")
    return "\n".join(lines) + "\n"


def _shown(value: Any) -> str:
    """A default as params.yaml spells it where Python's repr would differ (`""`, `[]`)."""
    if value == "":
        return '""'
    return "[]" if value == () else str(value)
