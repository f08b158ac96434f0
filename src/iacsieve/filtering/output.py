"""Write the filter's verdicts: every input row plus smell, score, keep (CSV / JSONL), or SARIF of the kept ones."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import IacsieveError
from .detections import DetectionSet
from .sarif import SarifRow, to_sarif
from .scripts import ScriptFolder
from .verdicts import FilteredRow

OUTPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "sarif")
ADDED_COLUMNS: tuple[str, ...] = ("smell", "score", "keep")


def output_format(out: str | Path, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from the file suffix (.jsonl, .sarif), else csv."""
    if fmt is not None:
        if fmt not in OUTPUT_FORMATS:
            raise IacsieveError(f"unknown output format {fmt!r} (known: {', '.join(OUTPUT_FORMATS)})")
        return fmt
    name = Path(out).name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith((".sarif", ".sarif.json")):
        return "sarif"
    return "csv"


def _output_columns(parsed: DetectionSet) -> tuple[list[str], dict[str, str]]:
    """Input columns (an input column named like an added one is kept as `input_<name>`) + smell, score, keep."""
    rename = {c: f"input_{c}" for c in parsed.columns if c in ADDED_COLUMNS}
    return [rename.get(c, c) for c in parsed.columns] + list(ADDED_COLUMNS), rename


def output_rows(parsed: DetectionSet, rows: list[FilteredRow]) -> list[dict]:
    """Every input row, in order, with its input values plus `smell`, `score` (None = unscored), `keep`."""
    _, rename = _output_columns(parsed)
    result = []
    for row in rows:
        values = {rename.get(k, k): v for k, v in row.detection.values.items()}
        values.update(smell=row.smell, score=None if row.score is None else round(row.score, 6), keep=row.keep)
        result.append(values)
    return result


def write_output(out: str | Path, out_format: str, parsed: DetectionSet, rows: list[FilteredRow],
                  folder: ScriptFolder, threshold: float) -> None:
    if out_format == "sarif":
        kept = [
            SarifRow(rule_id=row.smell, uri=folder.relative(row.script) if row.script else row.detection.file,
                     line=row.detection.line, score=row.score, detector_code=row.detection.raw_smell,
                     security=not row.detection.non_security)
            for row in rows if row.keep
        ]
        text = json.dumps(to_sarif(kept, threshold=threshold), indent=2, ensure_ascii=False) + "\n"
    elif out_format == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in output_rows(parsed, rows))
    else:
        columns, _ = _output_columns(parsed)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for values in output_rows(parsed, rows):
            writer.writerow({k: _csv_cell(values.get(k)) for k in columns})
        text = buffer.getvalue()
    try:
        atomic_write_text(out, text)
    except OSError as exc:
        raise IacsieveError(f"{out}: cannot write the output: {exc.strerror or exc}") from None


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
