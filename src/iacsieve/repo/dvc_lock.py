"""Repair DVC's `.dvc/tmp/rwlock` after an interrupted `dvc` left it broken, and tell whether a DVC
process is working on a path right now.

DVC rewrites that JSON file in place (truncate, then write); a Ctrl-C or kill between the two leaves
it empty, and from then on every `dvc` command fails with "Unable to read RWLock-file" until a person
deletes it (DVC issue #7615). The same holds for any content DVC's schema refuses (valid JSON of the
wrong shape: "RWLock-file format error"). The commands of this project that run DVC (`make repro`,
`labels add`, the tests) call `repair_rwlock` first: when the file is unreadable while no DVC
process works in the repository, it is removed (DVC reads a missing rwlock as "no locks"), with one
line saying so.

"No DVC process works in the repository": neither DVC's repository lock (`.dvc/tmp/lock`) nor the
guard around rwlock edits (`.dvc/tmp/rwlock.lock`) is held (both `flock` locks, which the kernel
releases when their process dies; taken without blocking), AND no live process is named in the
rwlock's text, AND no live `dvc` process has its working folder in the repository. The last two
matter because DVC releases the repository lock while a stage's command runs: a `dvc repro` in the
middle of a stage holds neither lock.

`busy_with` tells `labels add` whether a live DVC process has the labels store in its rwlock (a
stage that reads it is running), so a label never lands between a stage's read and DVC's hashing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from iacsieve.io.atomic import pid_alive

RWLOCK = Path(".dvc") / "tmp" / "rwlock"
GUARDS: tuple[Path, ...] = (Path(".dvc") / "tmp" / "lock", Path(".dvc") / "tmp" / "rwlock.lock")
MAX_RWLOCK_BYTES = 16 << 20  # a sound rwlock holds a few entries; bigger is read as corrupt
_PID = re.compile(rb'"pid"\s*:\s*(\d{1,9})')


def repair_rwlock(root: str | os.PathLike = ".") -> str | None:
    """Remove an empty or corrupt rwlock of the DVC repo at `root` when no DVC process works there.

    Returns the one line to show (a repair, or why it left a corrupt file alone); None when there was
    nothing to do.
    """
    root = Path(root)
    path = root / RWLOCK
    if _sound(path):
        return None
    with _guards(root) as free:
        if _sound(path):  # repaired (or rewritten) meanwhile: fine
            return None
        worker = None if not free else _live_worker(root, path)
        if not free or worker:
            return (
                f"{path}: empty or corrupt, but a DVC process works in the repository"
                f"{f' ({worker})' if worker else ''}; left as is: run again when it has finished"
            )
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return (
        f"repaired {path}: it was empty or corrupt (left by an interrupted dvc, DVC issue #7615) "
        f"and no DVC process works in the repository"
    )


def busy_with(root: str | os.PathLike, target: str | os.PathLike) -> str | None:
    """'pid N: cmd' of a live DVC process whose rwlock entry (read or write) is `target`, holds it or
    lies inside it; None when no DVC process works on it. An unreadable rwlock counts as busy when a
    live DVC process works in the repository (its entries cannot be read)."""
    root = Path(root)
    path = root / RWLOCK
    if not _sound(path):
        return _live_worker(root, path)
    data = _load(path)
    if not isinstance(data, dict):
        return None
    mine = os.path.realpath(target)
    entries = [
        (entry_path, info)
        for mode in ("read", "write")
        for entry_path, infos in (data.get(mode) or {}).items()
        for info in (infos if isinstance(infos, list) else [infos])
    ]
    for entry_path, info in entries:
        theirs = os.path.realpath(os.path.join(root, entry_path))
        if _overlap(mine, theirs) and pid_alive(int(info["pid"])):
            return f"pid {info['pid']}: {info['cmd']}"
    return None


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip(os.sep) + os.sep) or b.startswith(a.rstrip(os.sep) + os.sep)


def _read_regular(path: Path, limit: int) -> bytes | None:
    """Up to `limit` bytes of `path` if it is a regular file (a FIFO would block, a folder fails);
    b"" when missing, None when it is something else or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return b""
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            return handle.read(limit)
        except OSError:
            return None


def _load(path: Path) -> object:
    raw = _read_regular(path, MAX_RWLOCK_BYTES + 1)
    if raw is None:
        return None
    if raw == b"" and not path.exists():
        return {}
    if len(raw) > MAX_RWLOCK_BYTES:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None


def _info_ok(info: object) -> bool:
    return (
        isinstance(info, dict)
        and set(info) == {"pid", "cmd"}
        and type(info["pid"]) is int
        and isinstance(info["cmd"], str)
    )


def _sound(path: Path) -> bool:
    """A missing rwlock is fine; an existing one must have the shape DVC's own schema accepts:
    {"write": {path: {pid, cmd}}, "read": {path: [{pid, cmd}, ...]}}, both optional, nothing else."""
    if not path.exists() and not path.is_symlink():
        return True
    data = _load(path)
    if not isinstance(data, dict) or not set(data) <= {"read", "write"}:
        return False
    write, read = data.get("write", {}), data.get("read", {})
    return (
        isinstance(write, dict)
        and isinstance(read, dict)
        and all(isinstance(k, str) and _info_ok(v) for k, v in write.items())
        and all(
            isinstance(k, str) and isinstance(v, list) and all(_info_ok(i) for i in v)
            for k, v in read.items()
        )
    )


def _live_worker(root: Path, rwlock: Path) -> str | None:
    """A live process that may be DVC working in `root`: a pid named in the (even corrupt) rwlock's
    text, or a running `dvc` whose working folder lies in the repository."""
    for match in _PID.finditer(_read_regular(rwlock, MAX_RWLOCK_BYTES) or b""):
        pid = int(match.group(1))
        if pid != os.getpid() and pid_alive(pid):
            return f"pid {pid}, named in the rwlock"
    worker = _dvc_process_in(root)
    return None if worker is None else f"dvc, pid {worker}"


def _dvc_process_in(root: Path) -> int | None:
    """A running `dvc` (the CLI, `python -m dvc`, or its script) whose working folder is `root` or
    inside it (Linux /proc; elsewhere, none is seen and the two locks are all there is)."""
    repo = os.path.realpath(root)
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read(1 << 16).split(b"\0")
            cwd = os.path.realpath(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:  # gone, or another user's: not readable, so not ours to judge
            continue
        is_dvc = any(os.path.basename(arg) == b"dvc" for arg in argv[:2]) or b"-m\0dvc" in b"\0".join(
            argv[:3]
        )
        if is_dvc and (cwd == repo or cwd.startswith(repo.rstrip(os.sep) + os.sep)):
            return pid
    return None


@contextlib.contextmanager
def _guards(root: Path) -> Iterator[bool]:
    """Try DVC's locks without blocking; yields whether all were free (and holds them meanwhile)."""
    fds: list[int] = []
    free = True
    try:
        for guard in GUARDS:
            try:
                fd = os.open(root / guard, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block
            except OSError:  # missing, or not a file DVC could lock either
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
