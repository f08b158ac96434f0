"""Open input files safely: regular files only, a size cap, one-line errors naming the file (and line).

A FIFO would block forever and `/dev/zero` (or a link to it) would read until memory runs out, so the
file is opened without blocking and refused unless `fstat` says it is a regular file; the size is
checked before reading and again while reading (a file may grow).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from iacsieve.core.errors import DataError, IacsieveError
from iacsieve.io.limits import FLAGS, MAX_JSON_FILE_BYTES


def read_regular_bytes(
    path: str | os.PathLike, *, max_bytes: int, what: str = "file", limit_flag: str = FLAGS["max_file_bytes"]
) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; IacsieveError otherwise."""
    path = Path(path)
    with open_regular(path, max_bytes=max_bytes, what=what, limit_flag=limit_flag) as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            data = handle.read(size + 1)  # not read(max_bytes + 1): that allocates max_bytes up front
            if len(data) > size:  # the file grew while we read: go on, up to the limit
                data += handle.read(max_bytes + 1 - len(data))
        except OSError as exc:
            raise IacsieveError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise IacsieveError(
            f"{path}: {what} is larger than {max_bytes} bytes; raise the limit with {limit_flag}"
        )
    return data


def read_regular_text(
    path: str | os.PathLike, *, max_bytes: int, what: str = "file", encoding: str = "utf-8"
) -> str:
    """`read_regular_bytes` decoded; a decoding error names the byte offset."""
    data = read_regular_bytes(path, max_bytes=max_bytes, what=what)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise IacsieveError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None


def decode_json_line(raw: str, *, path: object, line_no: int) -> object:
    """One JSONL line decoded; DataError naming file and line for bad JSON, huge numbers or deep nesting."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(path, line_no, "<json>", f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-string conversion limit
        raise DataError(path, line_no, "<json>", f"invalid JSON ({str(exc).splitlines()[0][:120]})") from None
    except RecursionError:
        raise DataError(path, line_no, "<json>", "invalid JSON (nested too deeply)") from None


def read_json_object(
    path: str | os.PathLike, *, what: str = "JSON file", hint: str = "", max_bytes: int = MAX_JSON_FILE_BYTES
) -> dict:
    """A JSON object file (metadata, a step's artifact); errors name the file and, for bad JSON, the line."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise IacsieveError(f"{path}: not found" + (f"; {hint}" if hint else ""))
    text = read_regular_text(path, max_bytes=max_bytes, what=what)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            path, exc.lineno, "<json>", f"unreadable {what}: {exc.msg} at column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise IacsieveError(f"{path}: unreadable {what}: {str(exc).splitlines()[0][:120]}") from None
    except RecursionError:
        raise IacsieveError(f"{path}: unreadable {what}: nested too deeply") from None
    if not isinstance(value, dict):
        raise IacsieveError(f"{path}: expected a JSON object ({what}), got {type(value).__name__}")
    return value


def csv_rows(reader: Any) -> Iterator[tuple[int, list[str] | None, Exception | None]]:
    """(line number, cells, None) per row of a `csv.reader`, or (line number, None, the error) for a row
    the csv module cannot parse (a bare carriage return...), so each caller decides: stop or collect."""
    import csv

    while True:
        line_no = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line_no, None, exc
            continue
        yield line_no, cells, None


def open_regular(
    path: str | os.PathLike, *, max_bytes: int, what: str = "file", limit_flag: str = FLAGS["max_file_bytes"]
) -> BinaryIO:
    """A regular file of at most `max_bytes` opened for streaming (binary); IacsieveError otherwise.

    The size is checked against `fstat` here; a reader that streams counts bytes itself, as the file
    may grow while it is read.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise IacsieveError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise IacsieveError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IacsieveError(f"{path}: is a directory, expected a {what}")
        raise IacsieveError(f"{path}: not a regular file (a FIFO, device or socket); refused as {what}")
    if info.st_size > max_bytes:
        os.close(fd)
        raise IacsieveError(
            f"{path}: {what} is larger than {max_bytes} bytes; raise the limit with {limit_flag}"
        )
    return os.fdopen(fd, "rb")
