"""Repair DVC's `.dvc/tmp/rwlock` after an interrupted `dvc` left it empty or half-written.

DVC rewrites that JSON file in place (truncate, then write); a Ctrl-C or kill between the two leaves
it empty, and from then on every `dvc` command fails with "Unable to read RWLock-file" until a person
deletes it (DVC issue #7615). The commands of this project that run DVC (`make repro`, `labels add`,
the tests) call `repair_rwlock` first: when the file is unreadable while no DVC process holds the
repository, it is removed (DVC reads a missing rwlock as "no locks"), with one line saying so.

"No DVC process holds the repository": neither DVC's repository lock (`.dvc/tmp/lock`) nor the guard
around rwlock edits (`.dvc/tmp/rwlock.lock`) is held. Both are `flock` locks (zc.lockfile), which the
kernel releases when their process dies; the check takes them without blocking and never waits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

RWLOCK = Path(".dvc") / "tmp" / "rwlock"
GUARDS: tuple[Path, ...] = (Path(".dvc") / "tmp" / "lock", Path(".dvc") / "tmp" / "rwlock.lock")


def repair_rwlock(root: str | os.PathLike = ".") -> str | None:
    """Remove an empty or corrupt rwlock of the DVC repo at `root` when no DVC process holds it.

    Returns the one line to show (a repair, or why it left a corrupt file alone); None when there was
    nothing to do.
    """
    root = Path(root)
    path = root / RWLOCK
    if _readable(path):
        return None
    with _guards(root) as free:
        if not free:
            message = f"{path}: empty or corrupt, but a DVC process holds the repository; left as is"
        elif _readable(path):  # repaired (or rewritten) while we waited for nothing: fine
            return None
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            message = (
                f"repaired {path}: it was empty or corrupt (left by an interrupted dvc, DVC issue #7615) "
                f"and no DVC process holds the repository"
            )
    return message


def _readable(path: Path) -> bool:
    """A missing rwlock is fine; an existing one must be a JSON object of `read`/`write` mappings."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return True
    except (OSError, UnicodeDecodeError):
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and all(isinstance(data.get(k, {}), dict) for k in ("read", "write"))


@contextlib.contextmanager
def _guards(root: Path) -> Iterator[bool]:
    """Try DVC's locks without blocking; yields whether all were free (and holds them meanwhile)."""
    fds: list[int] = []
    free = True
    try:
        for guard in GUARDS:
            try:
                fd = os.open(root / guard, os.O_RDONLY)
            except FileNotFoundError:
                continue
            fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                free = False
                break
        yield free
    finally:
        for fd in fds:
            os.close(fd)
