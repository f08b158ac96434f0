"""Load and validate labelled detector warnings; build the one model-input text every family uses.

Raw rows come from `data/raw/<tech>/<tech>_<split>.jsonl` (see data/README.md); prepared rows
(`data/prepared/<split>/<set>.jsonl`) are the same rows with the canonical smell and a `tech` field.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from iacsieve.atomic import atomic_directory, atomic_write_json, atomic_write_jsonl
from iacsieve.errors import DataError, IacsieveError
from iacsieve.smells import canonical_smell

TECHS: tuple[str, ...] = ("ansible", "chef", "puppet")
SPLITS: tuple[str, ...] = ("train", "val", "test")
TEST_SETS: tuple[str, ...] = ("combined", *TECHS)
LABELS: dict[str, int] = {"FP": 0, "TP": 1}
CONTEXT_RADIUS = 5  # lines either side of the target in `with_context`


@dataclass(frozen=True)
class WarningRecord:
    """One detector warning, optionally labelled (1 = real smell / TP, 0 = false alarm / FP)."""

    smell: str  # canonical name (smells.py)
    tech: str
    file: str
    line: int
    content: str
    label: int | None = None
    with_context: str = ""
    source: str | None = None

    def to_row(self) -> dict:
        """The prepared-JSONL form (labels written back as TP/FP, as in the raw data)."""
        row = asdict(self)
        row["label"] = None if self.label is None else ("TP" if self.label == 1 else "FP")
        return row


# ----------------------------------------------------------------------------- validation

def parse_row(row: object, *, path: object, line_no: int, tech: str | None = None) -> WarningRecord:
    """Validate one decoded JSON row and return its record; raise DataError naming the field."""
    if not isinstance(row, dict):
        raise DataError(path, line_no, "<row>", f"expected a JSON object, got {type(row).__name__}")

    def need(field: str) -> object:
        if field not in row or row[field] is None:
            raise DataError(path, line_no, field, "missing required field")
        return row[field]

    raw_smell = need("smell")
    smell = canonical_smell(raw_smell) if isinstance(raw_smell, str) else None
    if smell is None:
        raise DataError(path, line_no, "smell", f"unknown smell name {raw_smell!r}")
    file = need("file")
    if not isinstance(file, str) or not file:
        raise DataError(path, line_no, "file", "must be a non-empty string")
    line = need("line")
    if isinstance(line, bool) or not isinstance(line, int) or line < 1:
        raise DataError(path, line_no, "line", f"must be an integer >= 1, got {line!r}")
    content = need("content")
    if not isinstance(content, str):
        raise DataError(path, line_no, "content", f"must be a string, got {type(content).__name__}")
    label_raw = need("label")
    if label_raw not in LABELS:
        raise DataError(path, line_no, "label", f"must be 'TP' or 'FP', got {label_raw!r}")
    context = row.get("with_context") or ""
    if not isinstance(context, str):
        raise DataError(path, line_no, "with_context", f"must be a string, got {type(context).__name__}")
    row_tech = row.get("tech", tech)
    if row_tech not in TECHS:
        raise DataError(path, line_no, "tech", f"must be one of {', '.join(TECHS)}, got {row_tech!r}")
    source = row.get("source")
    return WarningRecord(
        smell=smell, tech=row_tech, file=file, line=line, content=content,
        label=LABELS[label_raw], with_context=context, source=source if isinstance(source, str) else None,
    )


def load_jsonl(path: str | Path, *, tech: str | None = None, skip_invalid: bool = False) -> tuple[list[WarningRecord], int]:
    """Read a labelled JSONL file. Returns (records, number of invalid rows skipped).

    Without `skip_invalid` the first bad row raises a DataError (file, line, field).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IacsieveError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IacsieveError(f"{path}: cannot read: {exc}") from None
    records: list[WarningRecord] = []
    skipped = 0
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(path, line_no, "<json>", f"invalid JSON ({exc.msg} at column {exc.colno})") from None
            records.append(parse_row(row, path=path, line_no=line_no, tech=tech))
        except DataError:
            if not skip_invalid:
                raise
            skipped += 1
    return records, skipped


def load_raw_split(raw_dir: str | Path, split: str, *, skip_invalid: bool = False) -> tuple[list[WarningRecord], int]:
    """All techs of one split from the raw layout `<raw_dir>/<tech>/<tech>_<split>.jsonl`."""
    records: list[WarningRecord] = []
    skipped = 0
    for tech in TECHS:
        recs, bad = load_jsonl(Path(raw_dir) / tech / f"{tech}_{split}.jsonl", tech=tech, skip_invalid=skip_invalid)
        records += recs
        skipped += bad
    return records, skipped


def prepared_path(prepared_dir: str | Path, split: str, test_set: str = "combined") -> Path:
    """Where `prepare` writes one split × set (`combined` or a tech)."""
    return Path(prepared_dir) / split / f"{test_set}.jsonl"


def load_prepared(prepared_dir: str | Path, split: str, test_set: str = "combined") -> list[WarningRecord]:
    """Load a prepared split (already validated by `prepare`, validated again all the same)."""
    return load_jsonl(prepared_path(prepared_dir, split, test_set))[0]


# ----------------------------------------------------------------------------- model input

# Context windows come in two formats: train/val number only the target line, strip indentation and
# start with "# <Tech> file: NAME"; test (and render_context) number every line, mark the target
# with ">>>" and start with "# File: NAME" / "# Target line: N". context_body() maps both to one form.
_CONTEXT_HEADER = re.compile(r"^#\s*(\w+\s+)?(file|target line):", re.IGNORECASE)
_NUMBERED = re.compile(r"^(>>>)?\s*(\d+):\s?(.*)$")


def render_context(lines: list[str], target: int, *, file: str = "", radius: int = CONTEXT_RADIUS) -> str:
    """Render the numbered context window around 1-based `target` (the test split's format)."""
    lo, hi = max(1, target - radius), min(len(lines), target + radius)
    body = [f"{'>>>' if n == target else '   '}{n:>4}: {lines[n - 1]}" for n in range(lo, hi + 1)]
    return f"# File: {file}\n# Target line: {target}\n\n" + "\n".join(body)


def context_body(with_context: str, target: int | None = None) -> str:
    """The context window in one canonical form, whatever its source format.

    Header, blank lines, line numbers and indentation are dropped; the target line is prefixed
    with ">>> ". This removes a train/test format difference a model could otherwise latch onto.
    """
    raw = [l for l in with_context.splitlines() if l.strip() and not _CONTEXT_HEADER.match(l.strip())]
    marked = any(l.startswith(">>>") for l in raw)
    out = []
    for line in raw:
        match = _NUMBERED.match(line)
        if not match:
            is_target = False
        elif marked:
            is_target = bool(match.group(1))
        else:  # train/val format: usually only the target is numbered, sometimes its neighbours too
            is_target = target is None or int(match.group(2)) == target
        text = (match.group(3) if match else line).strip()
        out.append(f">>> {text}" if is_target else text)
    return "\n".join(out)


def build_input_text(
    smell: str, content: str, with_context: str = "", *, use_context: bool = False, line: int | None = None
) -> str:
    """The text a model reads for one warning. Training, evaluation and `filter` all call this."""
    text = f"smell: {smell.replace('_', ' ')}\nline: {content.strip()}"
    if use_context and with_context:
        text += "\ncontext:\n" + context_body(with_context, target=line)
    return text


def record_text(record: WarningRecord, *, use_context: bool = False) -> str:
    """`build_input_text` for a record."""
    return build_input_text(record.smell, record.content, record.with_context, use_context=use_context, line=record.line)


# ----------------------------------------------------------------------------- prepare + stats

def compute_stats(splits: dict[str, list[WarningRecord]]) -> dict:
    """Counts per split × tech × label × smell (and totals), for `stats.json`."""
    stats: dict = {}
    for split, records in splits.items():
        by_tech: dict = {}
        for tech in (*TECHS, "combined"):
            recs = records if tech == "combined" else [r for r in records if r.tech == tech]
            labels = Counter("TP" if r.label == 1 else "FP" for r in recs)
            by_tech[tech] = {
                "total": len(recs),
                "TP": labels.get("TP", 0),
                "FP": labels.get("FP", 0),
                "by_smell": {
                    smell: {"TP": sum(r.label == 1 for r in recs if r.smell == smell),
                            "FP": sum(r.label == 0 for r in recs if r.smell == smell)}
                    for smell in sorted({r.smell for r in recs})
                },
            }
        stats[split] = by_tech
    return stats


def prepare(raw_dir: str | Path, out_dir: str | Path, *, skip_invalid: bool = False,
            expected_md5: str | None = None) -> dict:
    """Validate + normalise the raw splits into `out_dir` (combined and per tech) and stats.json.

    The whole directory is replaced atomically: an interrupted run leaves the old one intact.
    `expected_md5` (data.dvc's): refuse raw data whose DVC md5 differs, before reading a row.
    Returns the stats, with `skipped_invalid_rows` per split.
    """
    if expected_md5:
        from iacsieve.data_identity import check_data_md5

        check_data_md5(raw_dir, expected_md5)
    splits: dict[str, list[WarningRecord]] = {}
    skipped: dict[str, int] = {}
    for split in SPLITS:
        splits[split], skipped[split] = load_raw_split(raw_dir, split, skip_invalid=skip_invalid)
    stats = compute_stats(splits)
    stats["skipped_invalid_rows"] = skipped
    with atomic_directory(out_dir) as tmp:
        for split, records in splits.items():
            atomic_write_jsonl(prepared_path(tmp, split), (r.to_row() for r in records))
            for tech in TECHS:
                atomic_write_jsonl(prepared_path(tmp, split, tech), (r.to_row() for r in records if r.tech == tech))
        atomic_write_json(Path(tmp) / "stats.json", stats)
    return stats
