"""Write the filter's verdicts: every input row plus smell, score, keep, fingerprint (CSV / JSONL), or SARIF of
the kept ones (security smells only unless `SarifOptions.include_all`), streamed to a file (atomically) or
to stdout (`--out -`).

CSV is meant for people too: a cell a spreadsheet would run as a formula is neutralised
(`iacsieve.io.safe_text.neutralise_cell`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import posixpath
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from iacsieve.core.errors import IacsieveError
from iacsieve.filtering.evidence import row_reason
from iacsieve.filtering.sarif import RunInfo, SarifRow, sarif_chunks
from iacsieve.filtering.verdicts import BASELINE, FilteredRow
from iacsieve.io.atomic import atomic_write_chunks
from iacsieve.io.safe_text import neutralise_cell

OUTPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "sarif")
ADDED_COLUMNS: tuple[str, ...] = (
    "smell",
    "score",
    "keep",
    "fingerprint",
    "reason",
)  # reason: docs/explain.md
STDOUT = "-"
CSV_CHUNK_ROWS = 4096  # rows formatted per write
SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".sarif": "sarif",
    ".sarif.json": "sarif",
}


def output_format(out: str | Path, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from the file suffix (CSV for stdout); an unknown suffix
    is refused (silently writing CSV into `kept.json` would hand the next tool the wrong format)."""
    if fmt is not None:
        if fmt not in OUTPUT_FORMATS:
            raise IacsieveError(f"unknown output format {fmt!r} (known: {', '.join(OUTPUT_FORMATS)})")
        return fmt
    if str(out) == STDOUT:
        return "csv"
    name = Path(out).name.lower()
    for suffix, found in SUFFIXES.items():
        if name.endswith(suffix):
            return found
    raise IacsieveError(
        f"{out}: unknown output extension; use {', '.join(SUFFIXES)} or pass --format "
        f"({'|'.join(OUTPUT_FORMATS)})"
    )


def output_rows(columns: tuple[str, ...], rows: Iterable[FilteredRow]) -> list[dict]:
    """Every input row, in order, with its input values plus `smell`, `score` (None = unscored), `keep`."""
    return list(iter_output_rows(columns, rows))


def iter_output_rows(columns: tuple[str, ...], rows: Iterable[FilteredRow]) -> Iterator[dict]:
    """`output_rows` one at a time (the writer streams them: a large input is never held)."""
    rename = input_names(columns)
    for row in rows:
        values = {rename.get(k, k): v for k, v in row.detection.values.items()}
        values.update(
            smell=row.smell,
            score=None if row.score is None else round(row.score, 6),
            keep=row.keep,
            fingerprint=row.fingerprint,
            reason=row_reason(row),
        )
        yield values


@dataclass(frozen=True)
class SarifOptions:
    """What goes into a SARIF log: code-quality smells too (`--sarif-all`), where URIs start, the run's record."""

    base: Path  # real path holding --scripts (see iacsieve.filtering.uri_base)
    include_all: bool = False
    info: RunInfo = RunInfo()
    baseline: bool = False  # results say baselineState "new"
    counts: dict = field(default_factory=dict)  # filled as the log is written: "results"
    suppressed: bool = False  # --sarif-suppressed: dropped warnings too, as suppressed results


def in_sarif(row: FilteredRow, include_all: bool) -> bool:
    """A kept warning goes into SARIF when it is a security smell, or when code-quality smells are asked for."""
    return row.keep and (include_all or row.security)


def in_sarif_log(row: FilteredRow, options: SarifOptions) -> bool:
    """`in_sarif`, or (with --sarif-suppressed) a dropped scored warning that would otherwise qualify
    (not one an earlier run's --baseline holds: that one is known, not suppressed)."""
    return in_sarif(row, options.include_all) or (
        options.suppressed
        and not row.keep
        and row.status != BASELINE
        and (options.include_all or row.security)
    )


def sarif_rows(rows: Iterable[FilteredRow], scripts_root: Path, options: SarifOptions) -> Iterator[SarifRow]:
    """The kept warnings a SARIF log holds, with URIs relative to `options.base`."""
    prefix = scripts_root.relative_to(options.base).as_posix()
    for row in rows:
        if not in_sarif_log(row, options):
            continue
        location = row.location or row.detection.file
        yield SarifRow(
            rule_id=row.smell,
            uri=location if prefix == "." else posixpath.join(prefix, location),
            line=row.detection.line,
            score=row.score,
            detector_code=row.detection.raw_smell,
            security=row.security,
            fingerprint=row.fingerprint,
            found=row.script is not None,
            new=True if options.baseline else None,
            evidence=None if row.evidence is None else row.evidence.to_dict(text=False),
            suppression=None if row.keep else row_reason(row, text=False),
        )


def output_chunks(
    out_format: str,
    rows: Iterable[FilteredRow],
    columns: Callable[[], tuple[str, ...]],
    scripts_root: Path,
    sarif: SarifOptions | None = None,
) -> Iterator[str]:
    """The output's text, chunk by chunk, as `rows` stream past; `columns` is asked for only by CSV."""
    if out_format == "sarif":
        options = sarif or SarifOptions(base=scripts_root)
        return sarif_chunks(sarif_rows(rows, scripts_root, options), options.info, options.counts)
    if out_format == "jsonl":
        return (json.dumps(r, ensure_ascii=False) + "\n" for r in iter_output_rows(columns(), rows))
    return _csv_chunks(columns(), rows)


def summary_stream() -> TextIO | None:
    """Where a command's summary goes: stderr, never the stream the data goes to. With stderr closed
    (`2>&-`) Python's `print(file=None)` would write to stdout, into `--out -`'s CSV or SARIF: None."""
    stream = sys.stderr
    return None if stream is None or stream.closed else stream


def say(text: str) -> None:
    """Print a summary line on `summary_stream()` (nowhere when stderr is closed)."""
    stream = summary_stream()
    if stream is not None:
        with contextlib.suppress(OSError):  # stderr closed under us (a broken pipe): the data matters
            print(text, file=stream)


def write_chunks(out: str | Path, chunks: Iterable[str]) -> None:
    """`chunks` to `out` atomically, or to stdout for `-` (where a failed run may leave part of it)."""
    try:
        if str(out) == STDOUT:
            if sys.stdout is None or sys.stdout.closed:  # `>&-`: one line, not a traceback
                raise IacsieveError("--out -: stdout is closed; name an output file instead")
            for chunk in chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
        else:
            atomic_write_chunks(out, chunks)
    except OSError as exc:
        raise IacsieveError(f"{out}: cannot write the output: {exc.strerror or exc}") from None


def input_names(columns: tuple[str, ...]) -> dict[str, str]:
    """Input columns named like an added one, renamed `input_<name>` (`input_input_<name>` when the input
    has that too, and so on): no input column ever overwrites another, or an added one."""
    taken = set(columns) | set(ADDED_COLUMNS)
    rename: dict[str, str] = {}
    for column in columns:
        if column in ADDED_COLUMNS:
            name = f"input_{column}"
            while name in taken:
                name = f"input_{name}"
            rename[column] = name
            taken.add(name)
    return rename


def output_columns(columns: tuple[str, ...]) -> list[str]:
    """Input columns (one named like an added column is kept as `input_<name>`) + the added ones."""
    rename = input_names(columns)
    return [rename.get(c, c) for c in columns] + list(ADDED_COLUMNS)


def _csv_chunks(columns: tuple[str, ...], rows: Iterable[FilteredRow]) -> Iterator[str]:
    """CSV text, CSV_CHUNK_ROWS rows a chunk (each chunk in a fresh buffer: none outgrows one chunk)."""
    names = output_columns(columns)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([neutralise_cell(k) for k in names])
    yield header.getvalue()
    values = iter_output_rows(columns, rows)
    while batch := list(itertools.islice(values, CSV_CHUNK_ROWS)):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([neutralise_cell(_csv_cell(row.get(k))) for k in names] for row in batch)
        yield buffer.getvalue()


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
