"""Read a detector's warnings file: detect its format and stream its rows, in order.

Three formats (dialects, registered in `DIALECTS` at the end: a sniff, the columns, a parser) are read:

- ``glitch``: GLITCH's own CSV, no header, never quoted. Older releases write ``path,line,code,snippet``;
  current ones add a fifth field, the message or ``-``. Only the first three commas split safely (the
  code and the message may hold commas), so a row is split there and a trailing ``,-`` is the empty
  message. Line ``-1`` is a whole-file smell. GLITCH also prints line ``0`` (a resource it could not
  place, e.g. `implementation_improper_alignment` on puppetlabs-mysql): any integer line is read; one
  outside the script is the filter's to judge (`Detection.outside_file`, kept or passed through unscored).
- ``replication``: the replication package's CSV, header ``PATH,LINE,ERROR`` (older smell names such
  as ``hardcoded-secret`` or ``use of http``), properly quoted.
- ``jsonl``: one JSON object a line with ``file``, ``line`` and ``smell``.

Rows are read one at a time (`open_detections`), so a 2M-row file costs the memory of one row.
A detections file may come from anyone's CI, so every problem is a one-line `IacsieveError` naming the
file and the row, never a traceback.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from iacsieve.core.errors import DataError, IacsieveError
from iacsieve.core.json_values import is_int
from iacsieve.core.smells import canonical_smell, is_non_security
from iacsieve.io.limits import DEFAULT, FLAGS, Limits, shorten
from iacsieve.io.reading import csv_rows, decode_json_line, open_regular

GLITCH_COLUMNS: tuple[str, ...] = ("path", "line", "code", "snippet")
GLITCH_MESSAGE = "message"  # the fifth column of current GLITCH releases
NO_MESSAGE = "-"  # what GLITCH writes in it when a smell has no message
REPLICATION_KEYS: tuple[str, ...] = ("PATH", "LINE", "ERROR")
JSONL_KEYS: tuple[str, str, str] = ("file", "line", "smell")
FILE_LEVEL = -1  # GLITCH's line for a smell about the whole file (too many variables, ...)

_GLITCH_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# ASCII digits only (str.isdigit() accepts '²' and other digits int() rejects), at most 10 of them, signed;
# `-1` is GLITCH's whole-file line, any other line below 1 is outside the file.
_LINE_NUMBER = re.compile(r"^\s*[+-]?[0-9]{1,10}\s*$")
MAX_LINE_NUMBER = 2**31 - 1


@dataclass(frozen=True)
class Detection:
    """One warning as the detector wrote it, plus the fields the filter needs."""

    row_no: int  # 1-based line of the detections file where the row starts (for error messages)
    file: str  # the path exactly as the detector wrote it
    line: int  # 1-based line in the script, FILE_LEVEL (-1) for a whole-file smell; 0 or below: outside it
    raw_smell: str  # the detector's smell name / code
    values: dict = field(default_factory=dict)  # the input row, column -> value, for the output
    # Other readings of an unquoted GLITCH row whose path holds `,<line>,<code>,` itself (a file named
    # `init.pp,3,sec_hard_secr,x.pp`): the filter settles it by what exists under --scripts
    # (iacsieve.filtering.rowcheck), never by position alone.
    alternatives: tuple[Detection, ...] = ()

    @property
    def smell(self) -> str | None:
        """The canonical smell, or None when the name is not a known security smell."""
        return canonical_smell(self.raw_smell)

    @property
    def non_security(self) -> bool:
        """GLITCH's design/implementation smells: passed through by the filter."""
        return is_non_security(self.raw_smell)

    @property
    def file_level(self) -> bool:
        """A smell about the whole file (GLITCH's line -1): no line to score, passed through."""
        return self.line == FILE_LEVEL

    @property
    def outside_file(self) -> bool:
        """A line no script has (0, or below -1): never scored; the filter says so (a line past the
        script's end is found when the script is read)."""
        return self.line < 1 and self.line != FILE_LEVEL

    @property
    def display_smell(self) -> str:
        """Canonical name when known, else the detector's own name (never empty in the output)."""
        return self.smell or self.raw_smell.strip()


@dataclass(frozen=True)
class DetectionSet:
    """A parsed detections file held in memory: its format, columns (output order) and rows (input order)."""

    path: Path
    format: str
    columns: tuple[str, ...]
    rows: tuple[Detection, ...]


class DetectionStream:
    """A detections file read row by row: `format` and `columns` are known before the first row.

    Iterating reads the file again from the start (each pass is a fresh, bounded read).
    """

    def __init__(self, path: Path, fmt: str, limits: Limits, first: str | None) -> None:
        self.path, self.format, self.limits, self._first = path, fmt, limits, first
        self._dialect = DIALECTS[fmt]
        self._columns: tuple[str, ...] | None = self._dialect.columns(path, first)

    @property
    def columns(self) -> tuple[str, ...]:
        """The input's columns in output order (JSONL: every key seen, in first-seen order: one extra pass)."""
        if self._columns is None:
            keys: dict[str, None] = {}
            for det in self:
                keys.update(dict.fromkeys(det.values))
            self._columns = tuple(keys)
        return self._columns

    def __iter__(self) -> Iterator[Detection]:
        ctx = _Context(self.path, self.limits)
        return self._dialect.parse(_text_lines(self.path, self.limits.max_file_bytes), ctx, self._first)


def open_detections(path: str | Path, fmt: str | None = None, limits: Limits = DEFAULT) -> DetectionStream:
    """Open a detections file for streaming; `fmt` forces a format, else it is detected from the first row.

    `limits`: the file's size, its row count and each path's length are capped (IacsieveError past them).
    """
    path = Path(path)
    if fmt is not None and fmt not in DIALECTS:
        raise IacsieveError(f"{path}: unknown detections format {fmt!r} (known: {', '.join(FORMATS)})")
    first = next((ln for _, ln in _text_lines(path, limits.max_file_bytes) if ln.strip()), None)
    if fmt is None:
        fmt = detect_format(first or "", path=path)
    return DetectionStream(path, fmt, limits, first)


def read_detections(path: str | Path, fmt: str | None = None, limits: Limits = DEFAULT) -> DetectionSet:
    """Read and parse a whole detections file into memory (small inputs: the review queue, tests)."""
    stream = open_detections(path, fmt, limits)
    rows = tuple(stream)
    return DetectionSet(path=stream.path, format=stream.format, columns=stream.columns, rows=rows)


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
    """Tell the dialects apart from the first non-empty line (each dialect's `sniff`, in `priority`
    order); an empty file reads as GLITCH's."""
    first = next((ln.rstrip("\r\n") for ln in text.split("\n") if ln.strip()), None)
    if first is None:
        return EMPTY_FILE_FORMAT  # GLITCH writes an empty CSV when it finds nothing
    for dialect in sorted(DIALECTS.values(), key=lambda d: d.priority):
        if dialect.sniff(first):
            return dialect.name
    *others, last = (d.description for d in DIALECTS.values())
    raise IacsieveError(f"{path}: unknown detections format: expected {', '.join(others)}, or {last}")


def _sniff_jsonl(first: str) -> bool:
    stripped = first.strip()
    if not stripped.startswith("{"):
        return False
    try:
        obj = json.loads(stripped)
    except (ValueError, RecursionError):  # bad JSON, a huge number, deep nesting: not this format
        return False
    return isinstance(obj, dict) and all(k in obj for k in JSONL_KEYS)


def _sniff_replication(first: str) -> bool:
    header = {c.strip().upper() for c in _csv_fields(first)}
    return all(k in header for k in REPLICATION_KEYS)


def _sniff_glitch(first: str) -> bool:
    fields = first.split(",", 3)
    return len(fields) == 4 and _is_int(fields[1]) and bool(_GLITCH_CODE.match(fields[2].strip()))


# ----------------------------------------------------------------------------- parsers

Lines = Iterator[tuple[int, str]]  # (1-based line number, text without its line ending)


def _parse_glitch(lines: Lines, ctx: _Context, with_message: bool) -> Iterator[Detection]:
    columns = GLITCH_COLUMNS + ((GLITCH_MESSAGE,) if with_message else ())
    for row_no, raw in lines:
        if not raw.strip():
            continue
        ctx.count_row(row_no)
        # GLITCH does not quote: split at the first three commas; the rest is the code line verbatim
        # (a carriage return or a quote inside it is kept), then `,message` in current releases.
        fields = raw.split(",", 3)
        if len(fields) < 4:
            raise DataError(
                ctx.path,
                row_no,
                "<row>",
                f"expected at least 4 columns ({','.join(GLITCH_COLUMNS)}), got {len(fields)}",
            )
        file, line, code, rest = fields
        values = dict(zip(columns, (file, line, code, *_split_message(rest, with_message))))
        first = _detection(ctx, row_no, file, line, code, values, ("path", "line", "code"))
        others = tuple(_other_readings(ctx, row_no, raw, columns, with_message))
        yield replace(first, alternatives=others) if others else first


_READING = re.compile(r",(?P<line>[+-]?[0-9]{1,10}),(?P<code>[A-Za-z][A-Za-z0-9_]*),")


def _other_readings(
    ctx: _Context, row_no: int, raw: str, columns: tuple[str, ...], with_message: bool
) -> Iterator[Detection]:
    """The row read with a longer path: every later `,<int>,<code>,` could end the path too."""
    first = raw.split(",", 1)[0]
    for match in _READING.finditer(raw, len(first) + 1):
        file, rest = raw[: match.start()], raw[match.end() :]
        line, code = match["line"], match["code"]
        values = dict(zip(columns, (file, line, code, *_split_message(rest, with_message))))
        try:
            yield _detection(ctx, row_no, file, line, code, values, ("path", "line", "code"))
        except DataError:
            continue


def _split_message(rest: str, with_message: bool) -> tuple[str, ...]:
    """(snippet,) or (snippet, message): GLITCH's empty message is a trailing `,-`; a real message may
    hold commas itself, so a row without the trailing `,-` keeps all of `rest` as its snippet."""
    if not with_message:
        return (rest,)
    if _has_message(rest):
        return rest[: -len(NO_MESSAGE) - 1], NO_MESSAGE
    return rest, ""


def _has_message(text: str) -> bool:
    return text.endswith("," + NO_MESSAGE)


def _replication_header(path: Path, first: str | None) -> tuple[str, ...]:
    if first is None:
        raise IacsieveError(f"{path}: empty file, expected a header {','.join(REPLICATION_KEYS)}")
    try:
        header = next(csv.reader([first]))
    except csv.Error as exc:
        raise DataError(path, 1, "<csv>", str(exc)) from None
    columns = tuple(c.strip() for c in header)
    _refuse_duplicate_columns(path, columns)
    missing = [k for k in REPLICATION_KEYS if k not in {c.upper() for c in columns}]
    if missing:
        raise DataError(path, 1, "<header>", f"missing column(s) {', '.join(missing)}")
    return columns


def _refuse_duplicate_columns(path: Path, columns: tuple[str, ...]) -> None:
    """Two columns of one name (any case) would overwrite each other; refused in one line."""
    seen: dict[str, str] = {}
    for column in columns:
        if column.upper() in seen:
            raise DataError(
                path, 1, "<header>", f"column {column!r} named twice ({seen[column.upper()]!r}); refused"
            )
        seen[column.upper()] = column


def _parse_replication(lines: Lines, ctx: _Context) -> Iterator[Detection]:
    path = ctx.path
    reader = csv.reader(text + "\n" for _, text in lines)
    try:
        header = next(reader)
    except StopIteration:
        raise IacsieveError(f"{path}: empty file, expected a header {','.join(REPLICATION_KEYS)}") from None
    except csv.Error as exc:
        raise DataError(path, 1, "<csv>", str(exc)) from None
    columns = tuple(c.strip() for c in header)
    _refuse_duplicate_columns(path, columns)
    index = {c.upper(): i for i, c in enumerate(columns)}
    names = (columns[index["PATH"]], columns[index["LINE"]], columns[index["ERROR"]])
    for row_no, fields, error in csv_rows(reader):
        if error is not None:
            raise DataError(path, row_no, "<csv>", str(error)) from None
        if fields is None or not any(f.strip() for f in fields):
            continue
        ctx.count_row(row_no)
        if len(fields) != len(columns):
            raise DataError(path, row_no, "<row>", f"expected {len(columns)} columns, got {len(fields)}")
        values = dict(zip(columns, fields))
        path_, line, error_ = (fields[index[k]] for k in REPLICATION_KEYS)
        yield _detection(ctx, row_no, path_, line, error_, values, names)


def _parse_jsonl(lines: Lines, ctx: _Context) -> Iterator[Detection]:
    path = ctx.path
    for row_no, raw in lines:
        if not raw.strip():
            continue
        ctx.count_row(row_no)
        obj = decode_json_line(raw, path=path, line_no=row_no, unique_keys=True)
        if not isinstance(obj, dict):
            raise DataError(path, row_no, "<row>", f"expected a JSON object, got {type(obj).__name__}")
        for key in JSONL_KEYS:
            if obj.get(key) is None:
                raise DataError(path, row_no, key, "missing required field")
        yield _detection(ctx, row_no, obj["file"], obj["line"], obj["smell"], obj, JSONL_KEYS)


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
    if not (is_int(line) or (isinstance(line, str) and _is_int(line))):
        raise DataError(path, row_no, names[1], f"must be an integer line number, got {shorten(line)}")
    line_no = int(line)
    if not -MAX_LINE_NUMBER <= line_no <= MAX_LINE_NUMBER:
        raise DataError(
            path,
            row_no,
            names[1],
            f"must be an integer from {-MAX_LINE_NUMBER} to {MAX_LINE_NUMBER}, got {shorten(line)}",
        )
    if not isinstance(smell, str) or not smell.strip():
        raise DataError(path, row_no, names[2], "must be a non-empty smell name")
    return Detection(row_no=row_no, file=file.strip(), line=line_no, raw_smell=smell.strip(), values=values)


# ----------------------------------------------------------------------------- helpers


def _text_lines(path: Path, max_bytes: int) -> Lines:
    """(line number, text) of each line, split on newlines only (a snippet may hold other Unicode line
    separators or a bare carriage return), read as UTF-8 (a BOM is dropped) within `max_bytes`."""
    with open_regular(path, max_bytes=max_bytes, what="detections file") as handle:
        offset = 0
        for line_no, raw in enumerate(handle, start=1):
            offset += len(raw)
            if offset > max_bytes:
                raise IacsieveError(
                    f"{path}: detections file is larger than {max_bytes} bytes; raise the limit with "
                    f"{FLAGS['max_file_bytes']}"
                )
            body = raw[:-1] if raw.endswith(b"\n") else raw
            if body.endswith(b"\r"):
                body = body[:-1]
            try:
                text = body.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                at = offset - len(raw) + exc.start
                raise IacsieveError(
                    f"{path}: not UTF-8 text (byte {at}, line {line_no}); unknown detections format"
                ) from None
            yield line_no, text


def _csv_fields(line: str) -> list[str]:
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return []


def _is_int(value: str) -> bool:
    """A line number as detectors write it: ASCII digits, at most 10 of them, signed."""
    return _LINE_NUMBER.match(value) is not None


# ----------------------------------------------------------------------------- dialects


@dataclass(frozen=True)
class Dialect:
    """One detections format: how to recognise it, its columns, and its parser. Adding a detector's
    format is one `Dialect` (a sniff, a parser) and one line in DIALECTS; `--input-format`'s choices,
    the detection order and the error message follow."""

    name: str
    description: str  # for the unknown-format message
    priority: int  # sniffing order (lower first): the most specific shape first
    sniff: Callable[[str], bool]  # the first non-empty line is this format's
    parse: Callable[[Lines, _Context, str | None], Iterator[Detection]]  # (lines, context, first line)
    columns: Callable[[Path, str | None], tuple[str, ...] | None] = lambda path, first: (
        None
    )  # None: from the rows


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "glitch",
            "GLITCH CSV (path,line,code,snippet[,message])",
            2,
            _sniff_glitch,
            lambda lines, ctx, first: _parse_glitch(lines, ctx, first is not None and _has_message(first)),
            lambda path, first: GLITCH_COLUMNS + ((GLITCH_MESSAGE,) if first and _has_message(first) else ()),
        ),
        Dialect(
            "replication",
            f"a CSV with header {','.join(REPLICATION_KEYS)}",
            1,
            _sniff_replication,
            lambda lines, ctx, first: _parse_replication(lines, ctx),
            _replication_header,
        ),
        Dialect(
            "jsonl",
            f"JSONL with {', '.join(JSONL_KEYS)}",
            0,
            _sniff_jsonl,
            lambda lines, ctx, first: _parse_jsonl(lines, ctx),
        ),
    )
}
FORMATS: tuple[str, ...] = tuple(DIALECTS)
EMPTY_FILE_FORMAT = "glitch"
