"""What a number read from JSON or YAML is, in one place: Python's bool is an int, so a `true` would
otherwise pass for a count, a line number, a score or a setting. Every reader asks these."""

from __future__ import annotations

from typing import Any, TypeGuard


def is_int(value: Any) -> TypeGuard[int]:
    """A whole number, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    """An int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_a(value: Any, types: type | tuple[type, ...]) -> bool:
    """`isinstance(value, types)`, except that a bool is no int or float unless `bool` is one of `types`."""
    kinds = types if isinstance(types, tuple) else (types,)
    return isinstance(value, kinds) and (not isinstance(value, bool) or bool in kinds)
