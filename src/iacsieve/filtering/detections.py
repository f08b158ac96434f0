"""Read a detector's warnings file: detect its format and parse it into rows, in order.

Three formats are read:

- ``glitch``: GLITCH's own CSV, no header, ``path,line,code,snippet``. GLITCH writes it without
  quoting, so a snippet may hold commas and quotes: everything after the third comma is the snippet.
- ``replication``: the replication package's CSV, header ``PATH,LINE,ERROR`` (older smell names such
  as ``hardcoded-secret`` or ``use of http``), properly quoted.
- ``jsonl``: one JSON object a line with ``file``, ``line`` and ``smell``.

A detections file may come from anyone's CI, so every problem is a one-line `IacsieveError` naming the
file and the row, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from iacsieve.errors import DataError, IacsieveError
from iacsieve.limits import DEFAULT, FLAGS, Limits, shorten
from iacsieve.reading import csv_rows, decode_json_line, read_regular_bytes
from iacsieve.smells import canonical_smell, is_non_security

FORMATS: tuple[str, ...] = ("glitch", "replication", "jsonl")
GLITCH_COLUMNS: tuple[str, ...] = ("path", "line", "code", "snippet")
REPLICATION_KEYS: tuple[str, ...] = ("PATH", "LINE", "ERROR")
JSONL_KEYS: tuple[str, ...] = ("file", "line", "smell")

_GLITCH_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# ASCII digits only (str.isdigit() accepts '²' and other digits int() rejects), at most 10 of them.
_LINE_NUMBER = re.compile(r"^\s*\+?[0-9]{1,10}\s*$")
MAX_LINE_NUMBER = 2**31 - 1


@dataclass(frozen=True)
class Detection:
    """One warning as the detector wrote it, plus the fields the filter needs."""

    row_no: int  # 1-based line of the detections file where the row starts (for error messages)
    file: str  # the path exactly as the detector wrote it
    line: int  # 1-based line in the script
    raw_smell: str  # the detector's smell name / code
    values: dict = field(default_factory=dict)  # the input row, column -> value, for the output

    @property
    def smell(self) -> str | None:
        """The canonical smell, or None when the name is not a known security smell."""
        return canonical_smell(self.raw_smell)

    @property
    def non_security(self) -> bool:
        """GLITCH's design/implementation smells: passed through by the filter."""
        return is_non_security(self.raw_smell)

    @property
    def display_smell(self) -> str:
        """Canonical name when known, else the detector's own name (never empty in the output)."""
        return self.smell or self.raw_smell.strip()


@dataclass(frozen=True)
class DetectionSet:
    """A parsed detections file: its format, its columns (output order) and its rows (input order)."""

    path: Path
    format: str
    columns: tuple[str, ...]
    rows: tuple[Detection, ...]


def read_detections(path: str | Path, fmt: str | None = None, limits: Limits = DEFAULT) -> DetectionSet:
    """Read and parse a detections file; `fmt` forces a format, else it is detected from the content.

    `limits`: the file's size, its row count and each path's length are capped (IacsieveError past them).
    """
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise IacsieveError(f"{path}: unknown detections format {fmt!r} (known: {', '.join(FORMATS)})")
    text = _read_text(path, limits.max_file_bytes)
    if fmt is None:
        fmt = detect_format(text, path=path)
    parser = {"glitch": _parse_glitch, "replication": _parse_replication, "jsonl": _parse_jsonl}[fmt]
    columns, rows = parser(text, _Context(path, limits))
    return DetectionSet(path=path, format=fmt, columns=columns, rows=tuple(rows))


@dataclass
class _Context:
    """What every parser needs: the file (for messages), the limits, and the rows seen so far."""

    path: Path
    limits: Limits
    rows: int = 0

    def count_row(self, row_no: int) -> None:
        self.rows += 1
        self.limits.check_rows(self.path, row_no, self.rows)


def detect_format(text: str, *, path: object = "<detections>") -> str:
    """Tell the three formats apart from the first non-empty line; an empty file reads as GLITCH's."""
    first = next((ln.rstrip("\r\n") for ln in io.StringIO(text) if ln.strip()), None)
    if first is None:
        return "glitch"  # GLITCH writes an empty CSV when it finds nothing
    stripped = first.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except (ValueError, RecursionError):  # bad JSON, a huge number, deep nesting: not this format
            obj = None
        if isinstance(obj, dict) and all(k in obj for k in JSONL_KEYS):
            return "jsonl"
    header = {c.strip().upper() for c in _csv_fields(first)}
    if all(k in header for k in REPLICATION_KEYS):
        return "replication"
    fields = first.split(",", 3)
    if len(fields) == 4 and _is_int(fields[1]) and _GLITCH_CODE.match(fields[2].strip()):
        return "glitch"
    raise IacsieveError(
        f"{path}: unknown detections format: expected GLITCH CSV (path,line,code,snippet), "
        f"a CSV with header {','.join(REPLICATION_KEYS)}, or JSONL with {', '.join(JSONL_KEYS)}"
    )


# ----------------------------------------------------------------------------- parsers


def _parse_glitch(text: str, ctx: _Context) -> tuple[tuple[str, ...], list[Detection]]:
    rows = []
    for row_no, raw in enumerate(_physical_lines(text), start=1):
        if not raw.strip():
            continue
        ctx.count_row(row_no)
        # GLITCH does not quote: split at the first three commas, the rest is the snippet verbatim
        # (a carriage return or a quote inside a field is kept as it is).
        fields = raw.split(",", 3)
        if len(fields) < 4:
            raise DataError(
                ctx.path,
                row_no,
                "<row>",
                f"expected 4 columns ({','.join(GLITCH_COLUMNS)}), got {len(fields)}",
            )
        file, line, code, snippet = fields
        values = dict(zip(GLITCH_COLUMNS, (file, line, code, snippet)))
        rows.append(_detection(ctx, row_no, file, line, code, values, ("path", "line", "code")))
    return GLITCH_COLUMNS, rows


def _parse_replication(text: str, ctx: _Context) -> tuple[tuple[str, ...], list[Detection]]:
    path = ctx.path
    lines = _physical_lines(text)
    reader = csv.reader(io.StringIO("\n".join(lines)))
    try:
        header = next(reader)
    except StopIteration:
        raise IacsieveError(f"{path}: empty file, expected a header {','.join(REPLICATION_KEYS)}") from None
    except csv.Error as exc:
        raise DataError(path, 1, "<csv>", str(exc)) from None
    columns = tuple(c.strip() for c in header)
    index = {c.upper(): i for i, c in enumerate(columns)}
    missing = [k for k in REPLICATION_KEYS if k not in index]
    if missing:
        raise DataError(path, 1, "<header>", f"missing column(s) {', '.join(missing)}")
    rows = []
    for row_no, fields, error in csv_rows(reader):
        if error is not None:
            raise DataError(path, row_no, "<csv>", str(error)) from None
        if not any(f.strip() for f in fields):
            continue
        ctx.count_row(row_no)
        if len(fields) != len(columns):
            raise DataError(path, row_no, "<row>", f"expected {len(columns)} columns, got {len(fields)}")
        values = dict(zip(columns, fields))
        names = tuple(columns[index[k]] for k in REPLICATION_KEYS)
        path_, line, error_ = (fields[index[k]] for k in ("PATH", "LINE", "ERROR"))
        rows.append(_detection(ctx, row_no, path_, line, error_, values, names))
    return columns, rows


def _parse_jsonl(text: str, ctx: _Context) -> tuple[tuple[str, ...], list[Detection]]:
    path = ctx.path
    columns: dict[str, None] = {}
    rows = []
    for row_no, raw in enumerate(_physical_lines(text), start=1):
        if not raw.strip():
            continue
        ctx.count_row(row_no)
        obj = decode_json_line(raw, path=path, line_no=row_no)
        if not isinstance(obj, dict):
            raise DataError(path, row_no, "<row>", f"expected a JSON object, got {type(obj).__name__}")
        for key in JSONL_KEYS:
            if obj.get(key) is None:
                raise DataError(path, row_no, key, "missing required field")
        columns.update(dict.fromkeys(obj))
        rows.append(_detection(ctx, row_no, obj["file"], obj["line"], obj["smell"], obj, JSONL_KEYS))
    return tuple(columns), rows


def _detection(
    ctx: _Context,
    row_no: int,
    file: object,
    line: object,
    smell: object,
    values: dict,
    names: tuple[str, str, str],
) -> Detection:
    """Validate the three fields the filter relies on; `names` are their column names, for errors."""
    path = ctx.path
    if not isinstance(file, str) or not file.strip():
        raise DataError(path, row_no, names[0], "must be a non-empty path")
    if len(file) > ctx.limits.max_path_chars:
        raise DataError(
            path,
            row_no,
            names[0],
            f"path is {len(file)} characters long, over the limit of "
            f"{ctx.limits.max_path_chars}; raise it with {FLAGS['max_path_chars']}",
        )
    if "\x00" in file:
        raise DataError(path, row_no, names[0], "path contains a NUL byte")
    if isinstance(line, bool) or not (isinstance(line, int) or (isinstance(line, str) and _is_int(line))):
        raise DataError(path, row_no, names[1], f"must be an integer >= 1, got {shorten(line)}")
    line_no = int(line)
    if not 1 <= line_no <= MAX_LINE_NUMBER:
        raise DataError(
            path, row_no, names[1], f"must be an integer from 1 to {MAX_LINE_NUMBER}, got {shorten(line)}"
        )
    if not isinstance(smell, str) or not smell.strip():
        raise DataError(path, row_no, names[2], "must be a non-empty smell name")
    return Detection(row_no=row_no, file=file.strip(), line=line_no, raw_smell=smell.strip(), values=values)


# ----------------------------------------------------------------------------- helpers


def _read_text(path: Path, max_bytes: int) -> str:
    data = read_regular_bytes(path, max_bytes=max_bytes, what="detections file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IacsieveError(f"{path}: not UTF-8 text (byte {exc.start}); unknown detections format") from None


def _physical_lines(text: str) -> list[str]:
    """Lines split on newlines only (a snippet may hold other Unicode line separators)."""
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _csv_fields(line: str) -> list[str]:
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return []


def _is_int(value: str) -> bool:
    """A line number as detectors write it: ASCII digits, at most 10 of them."""
    return _LINE_NUMBER.match(value) is not None
