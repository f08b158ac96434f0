"""The review sheet: a CSV a person fills in a spreadsheet (`iacsieve review` writes it, `labels add` reads it).

Columns: `id` (a hash of the warning key: an edited file/line/smell shows), `tech`, `smell`, `file`,
`line`, `code` (the flagged line), `context` (numbered lines around it, the flagged one marked `>>>`),
`score` (the model's P(real smell)), `reason` (why the model leaned that way: the threshold, the nearest
labelled training warnings, top features; `iacsieve.filtering.evidence`), `similar` (other warnings with the same smell and code line,
collapsed into this row), `llm_label` (label audits only), and the two a person fills: `label` (TP =
real smell, FP = false alarm; empty = not reviewed) and `note`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from iacsieve.core.errors import DataError, IacsieveError
from iacsieve.core.smells import canonical_smell
from iacsieve.data.human import HumanLabel, key_id, parse_label_row, warning_key
from iacsieve.data.records import LABELS, TECHS
from iacsieve.io.atomic import atomic_write_text
from iacsieve.io.limits import DEFAULT as DEFAULT_LIMITS
from iacsieve.io.reading import csv_rows, read_regular_text
from iacsieve.io.safe_text import neutralise_cell, unneutralise_cell

SHEET_COLUMNS: tuple[str, ...] = (
    "id",
    "tech",
    "smell",
    "file",
    "line",
    "code",
    "context",
    "score",
    "reason",
    "similar",
    "llm_label",
    "label",
    "note",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("id", "tech", "smell", "file", "line", "code", "label")


@dataclass
class SheetRow:
    """One warning to review."""

    tech: str
    smell: str
    file: str
    line: int
    code: str
    context: str = ""
    score: float | None = None
    similar: int = 0
    llm_label: str = ""
    origin: str = "detections"
    reason: str = ""

    @property
    def key(self) -> str:
        return warning_key(self.file, self.line, self.smell)


def write_sheet(path: str | Path, rows: list[SheetRow]) -> Path:
    """Write the sheet atomically (UTF-8 CSV with a header; multi-line context cells are quoted)."""
    if Path(path).is_dir():
        raise IacsieveError(f"{path}: is a directory; --out needs a file name")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SHEET_COLUMNS)
    for row in rows:
        cells = [
            key_id(row.key),
            row.tech,
            row.smell,
            row.file,
            row.line,
            row.code,
            row.context,
            "" if row.score is None else f"{row.score:.4f}",
            row.reason,
            row.similar,
            row.llm_label,
            "",
            "",
        ]
        writer.writerow([neutralise_cell(str(cell)) for cell in cells])  # no formula reaches a spreadsheet
    try:
        return atomic_write_text(path, buffer.getvalue())
    except OSError as exc:
        raise IacsieveError(f"{path}: cannot write the sheet: {exc.strerror or exc}") from None


@dataclass
class SheetReading:
    """A read sheet: the valid labelled rows, one problem line per bad row, and unreviewed rows."""

    labels: list[HumanLabel]
    problems: list[str]
    not_reviewed: int


def read_sheet(
    path: str | Path, *, reviewer: str, date: str, test_keys: frozenset[str] = frozenset()
) -> SheetReading:
    """Validate a filled sheet. Each bad row gives one `file:line: field 'x': expected ...` problem.

    A row with an empty `label` is not reviewed (skipped, counted). A row on a test-split warning is a
    problem (the test split is the human oracle; its rows never enter data/human).
    Long because each column's check sits in the one row loop, in the sheet's column order.
    """
    path = Path(path)
    text = read_regular_text(
        path, max_bytes=DEFAULT_LIMITS.max_file_bytes, what="sheet", encoding="utf-8-sig"
    )
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:  # e.g. a bare carriage return inside the header
        raise DataError(path, 1, "<header>", f"expected a CSV header row ({exc})") from None
    if header is None:
        raise IacsieveError(f"{path}: empty sheet; expected a header with {', '.join(REQUIRED_COLUMNS)}")
    header = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(path, 1, missing[0], f"missing column (a sheet needs {', '.join(REQUIRED_COLUMNS)})")
    labels: list[HumanLabel] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    not_reviewed = 0
    for line_no, cells, error in csv_rows(reader):
        if error is not None or cells is None:
            problems.append(str(DataError(path, line_no, "<row>", f"expected a CSV row ({error})")))
            continue
        if not any(c.strip() for c in cells):
            continue
        row = dict(zip(header, (unneutralise_cell(c) for c in cells)))
        try:
            label = _parse_row(row, path=path, line_no=line_no, reviewer=reviewer, date=date)
        except DataError as exc:
            problems.append(str(exc))
            continue
        if label is None:
            not_reviewed += 1
            continue
        if label.key in test_keys:
            problems.append(
                str(
                    DataError(
                        path,
                        line_no,
                        "file",
                        f"expected a warning outside the test split; "
                        f"{label.key} is a test (human-oracle) row and never enters data/human",
                    )
                )
            )
            continue
        if label.key in seen:
            problems.append(
                str(
                    DataError(
                        path,
                        line_no,
                        "id",
                        f"expected each warning once; same warning as line {seen[label.key]}",
                    )
                )
            )
            continue
        seen[label.key] = line_no
        labels.append(label)
    return SheetReading(labels, problems, not_reviewed)


def _parse_row(row: dict, *, path: Path, line_no: int, reviewer: str, date: str) -> HumanLabel | None:
    """One filled sheet row as a label, or None to skip it.

    Long because each cell's check is a line or two and the errors must name this row's file:line:key."""

    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    raw_label = cell("label").upper()
    if not raw_label:
        return None
    if raw_label not in LABELS:
        raise DataError(
            path,
            line_no,
            "label",
            f"expected TP (real smell) or FP (false alarm), or empty for not reviewed; got {cell('label')!r}",
        )
    tech = cell("tech")
    if tech not in TECHS:
        raise DataError(path, line_no, "tech", f"expected one of {', '.join(TECHS)}, got {tech!r}")
    smell = canonical_smell(cell("smell"))
    if smell is None:
        raise DataError(path, line_no, "smell", f"expected a known smell name, got {cell('smell')!r}")
    file = cell("file")
    if not file:
        raise DataError(path, line_no, "file", "expected the script's path, got an empty cell")
    try:
        line = int(cell("line"))
    except ValueError:
        line = 0
    if line < 1:
        raise DataError(path, line_no, "line", f"expected an integer >= 1, got {cell('line')!r}")
    key = warning_key(file, line, smell)
    if cell("id") != key_id(key):
        raise DataError(
            path, line_no, "id", f"expected {key_id(key)} for {key} (were file, line or smell edited?)"
        )
    code = (row.get("code") or "").strip()
    if not code:
        raise DataError(path, line_no, "code", "expected the flagged code line, got an empty cell")
    score = None
    if cell("score"):
        try:
            score = float(cell("score"))
        except ValueError:
            raise DataError(
                path, line_no, "score", f"expected a number or empty, got {cell('score')!r}"
            ) from None
    stored = HumanLabel(
        key=key,
        tech=tech,
        smell=smell,
        file=file,
        line=line,
        content=code,
        label=LABELS[raw_label],
        reviewer=reviewer,
        date=date,
        with_context=row.get("context") or "",
        note=cell("note"),
        origin="train" if cell("llm_label") else "detections",
        score=score,
    ).to_row()
    return parse_label_row(
        stored, path=path, line_no=line_no
    )  # the store's own rules: what enters, reads back
