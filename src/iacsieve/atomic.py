"""Write files and directories so that a reader never sees a half-written artifact.

Everything is first written under a temporary name in the same directory, then renamed into place
(rename is atomic on POSIX within one filesystem). An interrupted write leaves only a `.tmp-*` name
that no step treats as complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` via a temp file + rename."""
    return atomic_write_chunks(path, (text,))


def atomic_write_chunks(path: str | os.PathLike, chunks: Iterable[str]) -> Path:
    """Write the strings of `chunks` one after another (never all in memory) via a temp file + rename.

    The file gets the mode an ordinary `open()` would give it: an existing file keeps its mode, a new
    one gets 0666 minus the umask (mkstemp's 0600 would hide it from the group; a forced 0644 would
    ignore a umask that keeps secrets' echoes private).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = output_mode(path, 0o666)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` via a temp file + rename (binary artifacts: arrays, archives)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = output_mode(path, 0o666)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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
    mode = output_mode(final, 0o777)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    os.chmod(tmp, mode)  # mkdtemp makes it 0700: give what mkdir would (or the replaced folder's mode)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_directory(tmp, final)


def replace_directory(src: Path, final: Path) -> None:
    """Move the complete directory `src` to `final`, swapping out any previous `final`."""
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
