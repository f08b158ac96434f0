"""Load and validate labelled detector warnings; build the one model-input text every family uses.

Raw rows come from `data/raw/<tech>/<tech>_<split>.jsonl` (see data/README.md); prepared rows
(`data/prepared/<split>/<set>.jsonl`) are the same rows with the canonical smell and a `tech` field.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from iacsieve.core.errors import DataError, IacsieveError
from iacsieve.core.json_values import is_int
from iacsieve.core.layout import STATS_FILE
from iacsieve.core.layout import TECHS as TECHS  # re-exported: the data layer's importers read it here
from iacsieve.core.layout import TEST_SETS as TEST_SETS
from iacsieve.core.smells import canonical_smell
from iacsieve.io.atomic import atomic_write_json, atomic_write_jsonl
from iacsieve.io.limits import DEFAULT, Limits, shorten
from iacsieve.io.output_policy import check_folder_output, output_folder
from iacsieve.io.reading import decode_json_line, read_regular_text

SPLITS: tuple[str, ...] = ("train", "val", "test")
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
        raise DataError(path, line_no, "smell", f"unknown smell name {shorten(raw_smell)}")
    file = need("file")
    if not isinstance(file, str) or not file:
        raise DataError(path, line_no, "file", "must be a non-empty string")
    line = need("line")
    if not is_int(line) or line < 1:
        raise DataError(path, line_no, "line", f"must be an integer >= 1, got {shorten(line)}")
    content = need("content")
    if not isinstance(content, str):
        raise DataError(path, line_no, "content", f"must be a string, got {type(content).__name__}")
    label_raw = need("label")
    if not isinstance(label_raw, str) or label_raw not in LABELS:
        raise DataError(path, line_no, "label", f"must be 'TP' or 'FP', got {shorten(label_raw)}")
    context = row.get("with_context") or ""
    if not isinstance(context, str):
        raise DataError(path, line_no, "with_context", f"must be a string, got {type(context).__name__}")
    row_tech = row.get("tech", tech)
    if row_tech not in TECHS:
        raise DataError(path, line_no, "tech", f"must be one of {', '.join(TECHS)}, got {shorten(row_tech)}")
    source = row.get("source")
    return WarningRecord(
        smell=smell,
        tech=row_tech,
        file=file,
        line=line,
        content=content,
        label=LABELS[label_raw],
        with_context=context,
        source=source if isinstance(source, str) else None,
    )


def load_jsonl(
    path: str | Path, *, tech: str | None = None, skip_invalid: bool = False, limits: Limits = DEFAULT
) -> tuple[list[WarningRecord], int]:
    """Read a labelled JSONL file. Returns (records, number of invalid rows skipped).

    Without `skip_invalid` the first bad row raises a DataError (file, line, field). Only a regular
    file within `limits` (size, rows) is read. Lines end at "\\n" only: JSON strings may hold U+2028.
    """
    path = Path(path)
    text = read_regular_text(path, max_bytes=limits.max_file_bytes, what="file")
    records: list[WarningRecord] = []
    skipped = 0
    rows = 0
    for line_no, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        rows += 1
        limits.check_rows(path, line_no, rows)
        try:
            row = decode_json_line(raw, path=path, line_no=line_no)
            records.append(parse_row(row, path=path, line_no=line_no, tech=tech))
        except DataError:
            if not skip_invalid:
                raise
            skipped += 1
    return records, skipped


def load_raw_split(
    raw_dir: str | Path, split: str, *, skip_invalid: bool = False, limits: Limits = DEFAULT
) -> tuple[list[WarningRecord], int]:
    """All techs of one split from the raw layout `<raw_dir>/<tech>/<tech>_<split>.jsonl`."""
    records: list[WarningRecord] = []
    skipped = 0
    for tech in TECHS:
        recs, bad = load_jsonl(
            Path(raw_dir) / tech / f"{tech}_{split}.jsonl",
            tech=tech,
            skip_invalid=skip_invalid,
            limits=limits,
        )
        records += recs
        skipped += bad
    return records, skipped


def prepared_path(prepared_dir: str | Path, split: str, test_set: str = "combined") -> Path:
    """Where `prepare` writes one split × set (`combined` or a tech)."""
    return Path(prepared_dir) / split / f"{test_set}.jsonl"


def write_prepared(prepared_dir: str | Path, splits: dict[str, list[WarningRecord]]) -> None:
    """The prepared layout: per split, `combined.jsonl` and one file per tech (what `load_prepared` reads)."""
    for split, records in splits.items():
        atomic_write_jsonl(prepared_path(prepared_dir, split), (r.to_row() for r in records))
        for tech in TECHS:
            rows = (r.to_row() for r in records if r.tech == tech)
            atomic_write_jsonl(prepared_path(prepared_dir, split, tech), rows)


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
    raw = [ln for ln in with_context.splitlines() if ln.strip() and not _CONTEXT_HEADER.match(ln.strip())]
    marked = any(ln.startswith(">>>") for ln in raw)
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
    return build_input_text(
        record.smell, record.content, record.with_context, use_context=use_context, line=record.line
    )


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
                    smell: {
                        "TP": sum(r.label == 1 for r in recs if r.smell == smell),
                        "FP": sum(r.label == 0 for r in recs if r.smell == smell),
                    }
                    for smell in sorted({r.smell for r in recs})
                },
            }
        stats[split] = by_tech
    return stats


def warning_key(record: WarningRecord) -> tuple[str, str, int, str]:
    """What makes two rows the same warning: the same smell flagged on the same line of the same script."""
    return (record.tech, record.file, record.line, record.smell)


def split_problems(splits: dict[str, list[WarningRecord]]) -> dict:
    """Duplicates within a split, warnings shared by two splits (leakage), and empty splits / sets."""
    keys = {split: Counter(warning_key(r) for r in records) for split, records in splits.items()}
    names = list(splits)
    overlap = {
        f"{a}&{b}": sorted(keys[a].keys() & keys[b].keys())
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    empty = [split for split in names if not splits[split]]
    empty += [
        f"{split}/{tech}"
        for split in names
        if splits[split]
        for tech in TECHS
        if not any(r.tech == tech for r in splits[split])
    ]
    return {
        "duplicate_rows": {split: sum(n - 1 for n in counts.values()) for split, counts in keys.items()},
        "overlap": overlap,
        "empty": empty,
    }


def warning_counts(problems: dict) -> dict:
    """`split_problems` as stats.json's `warnings`: counts per split / pair, the empty sets, their total."""
    overlap = {pair: len(keys) for pair, keys in problems["overlap"].items()}
    return {
        "duplicate_rows": problems["duplicate_rows"],
        "overlap": overlap,
        "empty": problems["empty"],
        "count": sum(problems["duplicate_rows"].values()) + sum(overlap.values()) + len(problems["empty"]),
    }


def prepare(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    skip_invalid: bool = False,
    allow_overlap: bool = False,
    expected_md5: str | None = None,
    limits: Limits = DEFAULT,
) -> dict:
    """Validate + normalise the raw splits into `out_dir` (combined and per tech) and stats.json.

    `out_dir` may not be, hold or lie inside `raw_dir` (it is replaced whole). The whole directory is
    replaced atomically: an interrupted run leaves the old one intact. `expected_md5` (data.dvc's):
    refuse raw data whose DVC md5 differs, before reading a row. A warning in two splits is an error
    (leakage) unless `allow_overlap`; duplicates and empty splits are warnings. Returns the stats, with
    `skipped_invalid_rows` per split and `warnings` (those counts; `count` is their total).
    """
    check_folder_output(out_dir, inputs={"--raw": raw_dir}, owned=(*SPLITS, STATS_FILE))
    if expected_md5:
        from iacsieve.data.identity import check_data_md5

        check_data_md5(raw_dir, expected_md5)
    splits: dict[str, list[WarningRecord]] = {}
    skipped: dict[str, int] = {}
    for split in SPLITS:
        splits[split], skipped[split] = load_raw_split(
            raw_dir, split, skip_invalid=skip_invalid, limits=limits
        )
    problems = split_problems(splits)
    shared = {pair: keys for pair, keys in problems["overlap"].items() if keys}
    if shared and not allow_overlap:
        pair, keys = next(iter(shared.items()))
        tech, file, line, smell = keys[0]
        raise IacsieveError(
            f"{raw_dir}: {len(keys)} warnings are in both {pair.replace('&', ' and ')} (leakage), "
            f"e.g. {tech} {file}:{line} {smell}; fix the splits or pass --allow-overlap"
        )
    stats = compute_stats(splits)
    stats["skipped_invalid_rows"] = skipped
    stats["warnings"] = warning_counts(problems)
    with output_folder(out_dir) as tmp:
        write_prepared(tmp, splits)
        atomic_write_json(Path(tmp) / STATS_FILE, stats)
    return stats
