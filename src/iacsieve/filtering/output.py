"""Write the filter's verdicts: every input row plus smell, score, keep (CSV / JSONL), or SARIF of the kept ones
(security smells only unless `SarifOptions.include_all`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from iacsieve.atomic import atomic_write_chunks
from iacsieve.errors import IacsieveError
from iacsieve.filtering.detections import DetectionSet
from iacsieve.filtering.evidence import row_reason
from iacsieve.filtering.sarif import SarifRow, to_sarif
from iacsieve.filtering.scripts import ScriptFolder
from iacsieve.filtering.uri_base import relative_uri_path, unresolved_uri_path
from iacsieve.filtering.verdicts import FilteredRow

OUTPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "sarif")
ADDED_COLUMNS: tuple[str, ...] = ("smell", "score", "keep")
REASON_COLUMN = "reason"  # with evidence: why the row was kept or dropped (iacsieve.filtering.evidence)
SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".sarif": "sarif",
    ".sarif.json": "sarif",
}


def output_format(out: str | Path, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from the file suffix; an unknown suffix is refused
    (silently writing CSV into `kept.json` would hand the next tool the wrong format)."""
    if fmt is not None:
        if fmt not in OUTPUT_FORMATS:
            raise IacsieveError(f"unknown output format {fmt!r} (known: {', '.join(OUTPUT_FORMATS)})")
        return fmt
    name = Path(out).name.lower()
    for suffix, found in SUFFIXES.items():
        if name.endswith(suffix):
            return found
    raise IacsieveError(
        f"{out}: unknown output extension; use {', '.join(SUFFIXES)} or pass --format "
        f"({'|'.join(OUTPUT_FORMATS)})"
    )


def _output_columns(parsed: DetectionSet, reason: bool = False) -> tuple[list[str], dict[str, str]]:
    """Input columns (an input column named like an added one is kept as `input_<name>`) + smell, score,
    keep (+ reason, with evidence)."""
    added = [*ADDED_COLUMNS, REASON_COLUMN] if reason else list(ADDED_COLUMNS)
    rename = {c: f"input_{c}" for c in parsed.columns if c in added}
    return [rename.get(c, c) for c in parsed.columns] + added, rename


def output_rows(parsed: DetectionSet, rows: list[FilteredRow]) -> list[dict]:
    """Every input row, in order, with its input values plus `smell`, `score` (None = unscored), `keep`."""
    return list(iter_output_rows(parsed, rows))


def iter_output_rows(
    parsed: DetectionSet, rows: Iterable[FilteredRow], reason: bool = False
) -> Iterator[dict]:
    """`output_rows` one at a time (the writer streams them: a large input is never held twice)."""
    _, rename = _output_columns(parsed, reason)
    for row in rows:
        values = {rename.get(k, k): v for k, v in row.detection.values.items()}
        values.update(
            smell=row.smell, score=None if row.score is None else round(row.score, 6), keep=row.keep
        )
        if reason:
            values[REASON_COLUMN] = row_reason(row)
        yield values


@dataclass(frozen=True)
class SarifOptions:
    """What goes into a SARIF log: code-quality smells too (`--sarif-all`), and the folder URIs start at."""

    base: Path  # real path holding --scripts (see iacsieve.filtering.uri_base)
    include_all: bool = False
    suppressed: bool = False  # --sarif-suppressed: dropped warnings too, as suppressed results


def in_sarif(row: FilteredRow, include_all: bool) -> bool:
    """A kept warning goes into SARIF when it is a security smell, or when code-quality smells are asked for."""
    return row.keep and (include_all or not row.detection.non_security)


def in_sarif_log(row: FilteredRow, options: SarifOptions) -> bool:
    """`in_sarif`, or (with --sarif-suppressed) a dropped warning that would otherwise qualify."""
    return in_sarif(row, options.include_all) or (
        options.suppressed and not row.keep and (options.include_all or not row.detection.non_security)
    )


def sarif_rows(rows: Iterable[FilteredRow], folder: ScriptFolder, options: SarifOptions) -> list[SarifRow]:
    """The kept warnings a SARIF log holds (and the dropped ones, suppressed), URIs relative to `options.base`."""
    return [
        SarifRow(
            rule_id=row.smell,
            uri=relative_uri_path(row.script, options.base)
            if row.script
            else unresolved_uri_path(row.detection.file, folder.root, options.base),
            line=row.detection.line,
            score=row.score,
            detector_code=row.detection.raw_smell,
            security=not row.detection.non_security,
            evidence=None if row.evidence is None else row.evidence.to_dict(text=False),
            suppression=None if row.keep else row_reason(row, text=False),
        )
        for row in rows
        if in_sarif_log(row, options)
    ]


def write_output(
    out: str | Path,
    out_format: str,
    parsed: DetectionSet,
    rows: list[FilteredRow],
    folder: ScriptFolder,
    threshold: float,
    sarif: SarifOptions | None = None,
    reason: bool = False,
) -> None:
    """Write `out` atomically; `sarif` (default: URIs relative to --scripts, security smells only) for SARIF."""
    if out_format == "sarif":
        options = sarif or SarifOptions(base=folder.root)
        log = to_sarif(sarif_rows(rows, folder, options), threshold=threshold)
        chunks: Iterable[str] = (json.dumps(log, indent=2, ensure_ascii=False) + "\n",)
    elif out_format == "jsonl":
        chunks = (json.dumps(r, ensure_ascii=False) + "\n" for r in iter_output_rows(parsed, rows, reason))
    else:
        chunks = _csv_chunks(parsed, rows, reason=reason)
    try:
        atomic_write_chunks(out, chunks)
    except OSError as exc:
        raise IacsieveError(f"{out}: cannot write the output: {exc.strerror or exc}") from None


def _csv_chunks(
    parsed: DetectionSet, rows: list[FilteredRow], per_chunk: int = 4096, reason: bool = False
) -> Iterator[str]:
    columns, _ = _output_columns(parsed, reason)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for n, values in enumerate(iter_output_rows(parsed, rows, reason), start=1):
        writer.writerow({k: _csv_cell(values.get(k)) for k in columns})
        if n % per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
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
