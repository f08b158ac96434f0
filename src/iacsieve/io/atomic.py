"""Write files and directories so that a reader never sees a half-written artifact.

Everything is first written under a temporary name in the same directory, then renamed into place
(rename is atomic on POSIX within one filesystem). An interrupted write leaves only a
`.<name>.tmp-<pid>-*` name that no step treats as complete; the next write of the same target removes
such leftovers of processes that are gone (`clean_leftovers`), so a killed run leaves no litter for good.

A directory that already exists is swapped with the new one in one step (Linux `renameat2` with
`RENAME_EXCHANGE`): at every instant the target holds either the old or the new folder. Where the
kernel or filesystem lacks it (another OS, some network filesystems), the fallback is two renames
(old -> `.<name>.old-<pid>`, new -> target); a run killed between them leaves no target, and the next
write puts the `.old-<pid>` folder back before anything else (`clean_leftovers`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` via a temp file + rename."""
    return atomic_write_chunks(path, (text,))


def atomic_write_chunks(path: str | os.PathLike, chunks: Iterable[str]) -> Path:
    """Write the strings of `chunks` one after another (never all in memory) via a temp file + rename.

    The file gets the mode an ordinary `open()` would give it: an existing file keeps its mode, a new
    one gets 0666 minus the umask (mkstemp's 0600 would hide it from the group; a forced 0644 would
    ignore a umask that keeps secrets' echoes private).
    """

    def write(fd: int) -> None:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)

    return _replace_via_temp(Path(path), write)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` via a temp file + rename (binary artifacts: arrays)."""
    return atomic_write_stream(path, lambda handle: handle.write(data))


def atomic_write_stream(path: str | os.PathLike, fill: Callable[[BinaryIO], object]) -> Path:
    """Write what `fill` streams into the open binary handle (an archive too big to hold) via a temp
    file + rename."""

    def write(fd: int) -> None:
        with os.fdopen(fd, "wb") as handle:
            fill(handle)

    return _replace_via_temp(Path(path), write)


def _replace_via_temp(path: Path, write: Callable[[int], None]) -> Path:
    """The one temp-file-then-rename: `write` fills (and closes) the temp file's descriptor; on any
    failure or interrupt the temp file goes and `path` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path)
    mode = output_mode(path, 0o666)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), dir=path.parent)
    try:
        write(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def current_umask() -> int:
    """The process umask (read by setting and restoring it: there is no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_mode(path: Path, default: int) -> int:
    """The permission bits for (re)writing `path`: its current ones if it exists, else `default` & ~umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return default & ~current_umask()


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented, key-sorted JSON (stable diffs for DVC metrics)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    """Write one JSON object per line."""
    return atomic_write_chunks(
        path, (json.dumps(r, ensure_ascii=False, default=_jsonable) + "\n" for r in rows)
    )


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@contextlib.contextmanager
def atomic_directory(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temp directory; on success it replaces `final` in one rename.

    If the block raises (or the process dies), `final` keeps its previous content, untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(final)
    mode = output_mode(final, 0o777)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(final), dir=final.parent))
    os.chmod(tmp, mode)  # mkdtemp makes it 0700: give what mkdir would (or the replaced folder's mode)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_directory(tmp, final)


def replace_directory(src: Path, final: Path) -> None:
    """Move the complete directory `src` to `final`, swapping out any previous `final` atomically."""
    if final.is_dir() and not final.is_symlink() and exchange(src, final):
        shutil.rmtree(src, ignore_errors=True)  # `src` now holds the previous folder
        return
    old = None
    if final.exists() or final.is_symlink():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    try:
        os.replace(src, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


LEFTOVER_AGE_S = 60.0  # temp names younger than this are left alone even when their pid looks gone
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV}


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE).

    False when the platform, kernel or filesystem cannot (the caller falls back to two renames);
    any other failure raises OSError naming the paths.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28 (or not Linux)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(b))


def temp_prefix(final: Path) -> str:
    """`.<name>.tmp-<pid>-`: a temp name that says whose it is, so leftovers of dead runs can go."""
    return f".{final.name}.tmp-{os.getpid()}-"


def clean_leftovers(final: Path) -> list[Path]:
    """Remove temp files/folders of `final` left by runs that were killed (their pid is gone, and the
    name is older than a minute: a writer in another PID namespace on a shared volume looks dead
    from here), and put back a previous folder the two-rename fallback had moved aside when `final`
    is missing.
    Returns what was removed or restored."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(tmp|old)-(\d+)(-.*)?$")
    done: list[Path] = []
    try:
        siblings = sorted(final.parent.iterdir())
    except OSError:
        return done
    for path in siblings:
        match = pattern.match(path.name)
        if match is None or _alive(int(match.group(2))):
            continue
        if match.group(1) == "old" and not (final.exists() or final.is_symlink()):
            os.replace(path, final)
        elif _age_s(path) < LEFTOVER_AGE_S:  # a pid from another container may look dead: wait a bit
            continue
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        done.append(path)
    return done


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.lstat().st_mtime
    except OSError:
        return 0.0


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True
