"""Refuse an output that would destroy an input: the same file, a folder holding it, or a place inside it.

Compared as files (real paths with symlinks followed, then `samefile` on every ancestor, which also
catches hard links and bind mounts), never as strings: `data/raw/..` and `data` are the same folder.
Called before anything is read, so a careless `--out` costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from iacsieve.core.errors import IacsieveError


def refuse_overlap(
    out: str | os.PathLike,
    inputs: Mapping[str, str | os.PathLike | None],
    *,
    out_flag: str = "--out",
    inside_ok: bool = False,
) -> None:
    """IacsieveError when `out` is, contains, or (unless `inside_ok`) lies inside one of `inputs`.

    `inputs` maps a flag name (for the message) to a path; None entries are skipped. `inside_ok`
    is for a folder the command reads only selectively and never replaces (e.g. `--scripts`).
    """
    out_real = _real(out)
    for flag, given in inputs.items():
        if given is None:
            continue
        in_real = _real(given)
        if _same(out_real, in_real):
            raise IacsieveError(f"{out_flag} {out} is the input {flag} {given}; refusing to overwrite it")
        if _within(in_real, out_real):
            raise IacsieveError(
                f"{out_flag} {out} contains the input {flag} {given}; writing it would delete "
                f"the input, choose another folder"
            )
        if not inside_ok and _within(out_real, in_real):
            raise IacsieveError(
                f"{out_flag} {out} lies inside the input {flag} {given}; choose a folder outside it"
            )


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """`a` and `b` are the same file or folder (symlinks, `..`, hard links and bind mounts seen through)."""
    return _same(_real(a), _real(b))


def within(inner: str | os.PathLike, outer: str | os.PathLike) -> bool:
    """`inner` lies strictly inside the folder `outer`."""
    return _within(_real(inner), _real(outer))


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): real paths differ, so they differ
        return False


def _within(inner: Path, outer: Path) -> bool:
    """`inner` lies strictly inside `outer` (some proper ancestor of `inner` is `outer`)."""
    return any(_same(parent, outer) for parent in inner.parents)
