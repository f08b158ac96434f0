"""Human labels as versioned data, and what the pipeline does with them.

A security team's reviewers label warnings (`iacsieve review` -> a filled sheet -> `iacsieve labels
add`); the labels live in `data/human/labels.jsonl`, one record per warning and reviewer, tracked by
DVC (`data/human.dvc`). This module is the one place that knows that store:

- the warning key (`warning_key`: script name, line, canonical smell) that ties a human label to the
  same warning in the LLM-labelled splits, in a review sheet and in a detector's output;
- reading / writing / merging the store (a relabel by another reviewer is kept: a disagreement);
- resolving several reviewers into one label per warning (majority; a tie is left out as disputed);
- the guard that no warning of the test split (the human oracle) ever enters the store or training;
- the pipeline side (`HumanSettings`, `apply_human_labels`, `human_validation_split`,
  `build_training_data`): override LLM train labels, form a human validation split. With no human
  labels every function returns its input unchanged, so the pipeline behaves exactly as without them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path, PurePosixPath

from iacsieve import layout
from iacsieve.atomic import atomic_write_json, atomic_write_jsonl
from iacsieve.data.records import (
    LABELS,
    SPLITS,
    TECHS,
    WarningRecord,
    compute_stats,
    load_prepared,
    load_raw_split,
    prepared_path,
    split_problems,
    warning_counts,
)
from iacsieve.errors import ConfigError, DataError, IacsieveError
from iacsieve.limits import DEFAULT as DEFAULT_LIMITS
from iacsieve.limits import shorten
from iacsieve.output_policy import check_folder_output, output_folder
from iacsieve.reading import decode_json_line, read_regular_text
from iacsieve.smells import canonical_smell

log = logging.getLogger(__name__)

HUMAN_DIR = Path(layout.HUMAN_DIR)
LABELS_FILE = "labels.jsonl"
REPORT_FILE = layout.HUMAN_REPORT
TRAIN_MODES: tuple[str, ...] = ("off", "override", "add")
VALIDATION_MODES: tuple[str, ...] = ("llm", "human", "merged")
_REVIEWER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ----------------------------------------------------------------------------- warning identity


def script_name(file: str) -> str:
    """A script path flattened the way the dataset names scripts (`owner@repo-path-to-file.pp`).

    Dataset names have no `/` and stay as they are; a path relative to a review's `--scripts` folder
    (`modules/ssh/manifests/init.pp`) keeps every part, so the many `init.pp` of a repo stay apart.
    """
    parts = [p for p in PurePosixPath(str(file).replace("\\", "/")).parts if p not in ("/", ".", "..")]
    return "-".join(parts)


def warning_key(file: str, line: int, smell: str) -> str:
    """`<script name>:<line>:<canonical smell>`: the same warning in every split, sheet and detector run.

    Smell aliases collapse (GLITCH's secret/password/user flags on one line are one warning).
    """
    return f"{script_name(file)}:{int(line)}:{canonical_smell(smell) or smell}"


def record_key(record: WarningRecord) -> str:
    return warning_key(record.file, record.line, record.smell)


def key_id(key: str) -> str:
    """A short stable id of a warning key (a sheet's `id` column; an edited file/line/smell shows)."""
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


def split_keys(records: Iterable[WarningRecord]) -> frozenset[str]:
    return frozenset(record_key(r) for r in records)


def test_split_keys(raw_dir: str | Path = "data/raw") -> frozenset[str]:
    """Keys of the human-oracle test split: these warnings never enter data/human or training."""
    if not Path(raw_dir).is_dir():
        raise IacsieveError(
            f"{raw_dir}: raw data not found, so the test split cannot be checked; "
            f"run `dvc pull data.dvc` first (or pass --raw)"
        )
    return split_keys(load_raw_split(raw_dir, "test")[0])


# ----------------------------------------------------------------------------- the store


@dataclass(frozen=True)
class HumanLabel:
    """One reviewer's verdict on one warning (label 1 = real smell / TP, 0 = false alarm / FP)."""

    key: str
    tech: str
    smell: str
    file: str
    line: int
    content: str
    label: int
    reviewer: str
    date: str
    with_context: str = ""
    note: str = ""
    origin: str = ""  # "detections" (a review of a detector's output) or "train" (a label audit)
    score: float | None = None  # the model's score when the sheet was made

    def to_row(self) -> dict:
        row = {
            f.name: getattr(self, f.name) for f in fields(self)
        }  # flat values: no deepcopy (asdict is 10x slower)
        row["label"] = "TP" if self.label == 1 else "FP"
        return row

    def record(self) -> WarningRecord:
        """The warning as training data, labelled by this reviewer."""
        return WarningRecord(
            smell=self.smell,
            tech=self.tech,
            file=script_name(self.file),
            line=self.line,
            content=self.content,
            label=self.label,
            with_context=self.with_context,
            source=f"human:{self.reviewer}",
        )


def parse_label_row(row: object, *, path: object, line_no: int) -> HumanLabel:
    """Validate one stored record; DataError names the file, line and field."""
    if not isinstance(row, dict):
        raise DataError(path, line_no, "<row>", "expected a JSON object")
    for field in ("key", "tech", "smell", "file", "line", "content", "label", "reviewer", "date"):
        if row.get(field) is None:
            raise DataError(path, line_no, field, "missing required field")
    if not isinstance(row["label"], str) or row["label"] not in LABELS:
        raise DataError(path, line_no, "label", f"must be 'TP' or 'FP', got {shorten(row['label'])}")
    if row["tech"] not in TECHS:
        raise DataError(
            path, line_no, "tech", f"must be one of {', '.join(TECHS)}, got {shorten(row['tech'])}"
        )
    line = row["line"]
    if isinstance(line, bool) or not isinstance(line, int) or line < 1:
        raise DataError(path, line_no, "line", f"must be an integer >= 1, got {shorten(line)}")
    for field in ("key", "file", "smell"):
        if not isinstance(row[field], str):
            raise DataError(path, line_no, field, f"must be a string, got {type(row[field]).__name__}")
    smell = canonical_smell(row["smell"])
    if smell is None:
        raise DataError(path, line_no, "smell", f"unknown smell name {shorten(row['smell'])}")
    if row["key"] != warning_key(row["file"], line, smell):
        raise DataError(
            path,
            line_no,
            "key",
            f"expected {warning_key(row['file'], line, smell)!r}, got {shorten(row['key'])}",
        )
    for field, pattern, what in (
        ("reviewer", _REVIEWER, "a name of letters, digits and . _ @ + -"),
        ("date", _DATE, "a date YYYY-MM-DD"),
    ):
        if not isinstance(row[field], str) or not pattern.match(row[field]):
            raise DataError(path, line_no, field, f"must be {what}, got {shorten(row[field])}")
    score = row.get("score")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1
    ):
        raise DataError(path, line_no, "score", f"must be a number in [0, 1], got {shorten(score)}")
    return HumanLabel(
        key=row["key"],
        tech=row["tech"],
        smell=smell,
        file=str(row["file"]),
        line=line,
        content=str(row["content"]),
        label=LABELS[row["label"]],
        reviewer=str(row["reviewer"]),
        date=str(row["date"]),
        with_context=str(row.get("with_context") or ""),
        note=str(row.get("note") or ""),
        origin=str(row.get("origin") or ""),
        score=None if score is None else float(score),
    )


def load_human_labels(human_dir: str | Path = HUMAN_DIR) -> list[HumanLabel]:
    """Every stored label (all `*.jsonl` under `human_dir`); a missing folder means no labels yet."""
    human_dir = Path(human_dir)
    if not human_dir.is_dir():
        if human_dir.exists() or human_dir.is_symlink():
            raise IacsieveError(
                f"--human {human_dir}: not a folder (the labels store is a folder of *.jsonl)"
            )
        return []
    labels: list[HumanLabel] = []
    for path in sorted(human_dir.glob("*.jsonl")):
        text = read_regular_text(path, max_bytes=DEFAULT_LIMITS.max_file_bytes, what="labels file")
        for line_no, raw in enumerate(text.split("\n"), start=1):
            if not raw.strip():
                continue
            row = decode_json_line(raw, path=path, line_no=line_no)
            labels.append(parse_label_row(row, path=path, line_no=line_no))
    return labels


@contextlib.contextmanager
def store_lock(human_dir: str | Path) -> Iterator[Path]:
    """Hold the store's exclusive lock (`.<store>.lock` beside it) for a load -> merge -> save.

    Two reviewers' `labels add` at once then run one after the other, and neither's labels are lost.
    An advisory `flock`: the kernel drops it when the process dies, so a killed run never blocks
    the next one.
    """
    store = Path(human_dir)
    lock_path = store.parent / f".{store.name}.lock"
    store.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: another `labels add` is writing the store; waiting for it", store)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield store
    finally:
        os.close(fd)  # closing releases the lock


def save_human_labels(human_dir: str | Path, labels: Iterable[HumanLabel]) -> Path:
    """Write the store atomically, sorted by (key, reviewer): stable diffs, same labels same bytes."""
    ordered = sorted(labels, key=lambda h: (h.key, h.reviewer))
    return atomic_write_jsonl(Path(human_dir) / LABELS_FILE, (h.to_row() for h in ordered))


def check_reviewer(reviewer: str) -> str:
    if not isinstance(reviewer, str) or not _REVIEWER.match(reviewer):
        raise IacsieveError(f"--reviewer must be a name of letters, digits and . _ @ + - (got {reviewer!r})")
    return reviewer


def check_date(date: str) -> str:
    if not _DATE.match(date):
        raise IacsieveError(f"--date must be YYYY-MM-DD, got {date!r}")
    return date


def refuse_test_rows(labels: Iterable[HumanLabel], test_keys: frozenset[str], where: object) -> None:
    """Raise if any label is on a test-split warning (the test split must stay an untouched oracle)."""
    leaked = sorted({h.key for h in labels if h.key in test_keys})
    if leaked:
        raise IacsieveError(
            f"{where}: {len(leaked)} human label(s) on warnings of the test split (e.g. {leaked[0]}); "
            f"test rows never enter data/human or training: remove them"
        )


@dataclass
class MergeResult:
    """What `merge_labels` changed, for `labels add` to print."""

    labels: list[HumanLabel]
    added: list[HumanLabel]
    relabelled: list[tuple[HumanLabel, HumanLabel]]  # (old, new), same reviewer
    updated: list[HumanLabel]  # same reviewer and label, another note (or code text)
    unchanged: int
    disagreements: list[tuple[str, list[tuple[str, str]]]]  # key, [(reviewer, TP|FP)] for new conflicts


def merge_labels(existing: Sequence[HumanLabel], new: Sequence[HumanLabel]) -> MergeResult:
    """Add `new` to `existing`: one record per (warning, reviewer).

    The same reviewer relabelling a warning replaces their record; another reviewer's verdict is kept
    beside the first, and a differing verdict is reported as a disagreement.
    """
    by_pair = {(h.key, h.reviewer): h for h in existing}
    added, relabelled, updated, unchanged = [], [], [], 0
    touched: set[str] = set()
    for h in new:
        old = by_pair.get((h.key, h.reviewer))
        if old is None:
            added.append(h)
        elif old.label != h.label:
            relabelled.append((old, h))
        elif (old.note, old.content, old.with_context) != (h.note, h.content, h.with_context):
            updated.append(h)
        else:
            unchanged += 1
            continue
        by_pair[(h.key, h.reviewer)] = h
        touched.add(h.key)
    merged = sorted(by_pair.values(), key=lambda h: (h.key, h.reviewer))
    by_key: dict[str, list[HumanLabel]] = {}
    for h in merged:
        if h.key in touched:
            by_key.setdefault(h.key, []).append(h)
    disagreements = []
    for key in sorted(touched):  # linear: one pass over the store, not one per touched warning
        verdicts = [(h.reviewer, "TP" if h.label else "FP") for h in by_key[key]]
        if len({v for _, v in verdicts}) > 1:
            disagreements.append((key, verdicts))
    return MergeResult(merged, added, relabelled, updated, unchanged, disagreements)


def resolve_labels(labels: Iterable[HumanLabel]) -> tuple[dict[str, HumanLabel], list[str]]:
    """One label per warning: the reviewers' majority (the latest such record carries it).

    A tie (two reviewers disagreeing) is left out and returned as disputed: neither verdict teaches
    the model until a third reviewer decides.
    """
    by_key: dict[str, list[HumanLabel]] = {}
    for h in labels:
        by_key.setdefault(h.key, []).append(h)
    resolved: dict[str, HumanLabel] = {}
    disputed: list[str] = []
    for key in sorted(by_key):
        votes = Counter(h.label for h in by_key[key])
        (top, count), *rest = votes.most_common()
        if rest and rest[0][1] == count:
            disputed.append(key)
            continue
        resolved[key] = max((h for h in by_key[key] if h.label == top), key=lambda h: (h.date, h.reviewer))
    return resolved, disputed


# ----------------------------------------------------------------------------- the pipeline side


@dataclass(frozen=True)
class HumanSettings:
    """The `human:` block of params.yaml: what human labels do in the pipeline.

    - `train`: `off` (ignored), `override` (replace the LLM label of the same train warning), `add`
      (override, and also train on human-labelled warnings outside the dataset that hash to train);
    - `validation`: `llm` (today's validation split), `human` (only human-labelled validation
      warnings), `merged` (the validation split with human labels overriding the LLM's, plus human-
      labelled warnings outside the dataset that hash to validation);
    - `val_fraction`: share of human-labelled warnings outside the dataset's splits held out for
      validation (by a stable hash of the warning key, so switching modes never moves a warning);
    - `min_val_rows`: `validation: human` refuses to select on fewer rows than this.
    """

    dir: str = str(HUMAN_DIR)
    train: str = "override"
    validation: str = "llm"
    val_fraction: float = 0.5
    min_val_rows: int = 30

    @classmethod
    def from_dict(cls, block: Mapping | None, *, source: object = "params.yaml") -> HumanSettings:
        block = dict(block or {})
        known = {"dir", "train", "validation", "val_fraction", "min_val_rows"}
        for key in sorted(set(block) - known):
            raise ConfigError(
                f"human.{key}", f"unknown key (known: {', '.join(sorted(known))})", source=source
            )
        settings = cls(**block)
        if settings.train not in TRAIN_MODES:
            raise ConfigError(
                "human.train",
                f"must be one of {', '.join(TRAIN_MODES)}, got {settings.train!r}",
                source=source,
            )
        if settings.validation not in VALIDATION_MODES:
            raise ConfigError(
                "human.validation",
                f"must be one of {', '.join(VALIDATION_MODES)}, got {settings.validation!r}",
                source=source,
            )
        fraction = settings.val_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction <= 1.0:
            raise ConfigError(
                "human.val_fraction", f"must be a number in [0, 1], got {fraction!r}", source=source
            )
        if (
            isinstance(settings.min_val_rows, bool)
            or not isinstance(settings.min_val_rows, int)
            or settings.min_val_rows < 1
        ):
            raise ConfigError(
                "human.min_val_rows", f"must be an integer >= 1, got {settings.min_val_rows!r}", source=source
            )
        return settings


def held_out_for_validation(key: str, val_fraction: float) -> bool:
    """Stable hash split of a warning outside the dataset: validation when its hash falls below the fraction."""
    value = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return value < val_fraction


def assign_split(key: str, train_keys: frozenset[str], val_keys: frozenset[str], val_fraction: float) -> str:
    """Where a human label is used: the split its warning is in, else train/val by hash."""
    if key in val_keys:
        return "val"
    if key in train_keys:
        return "train"
    return "val" if held_out_for_validation(key, val_fraction) else "train"


def apply_human_labels(
    train_records: Sequence[WarningRecord],
    human: Mapping[str, HumanLabel],
    *,
    mode: str = "override",
    val_keys: frozenset[str] = frozenset(),
    val_fraction: float = 0.5,
) -> list[WarningRecord]:
    """Train records with each human-labelled warning's LLM label replaced by the human one.

    `human`: resolved labels (`resolve_labels`). Order is kept; a replaced row's `source` becomes
    `human:<reviewer>`. Mode `add` also appends human-labelled warnings that are in no split and hash
    to train (sorted by key). Labels on validation warnings never reach train. No labels: the same list.
    """
    if mode not in TRAIN_MODES:
        raise ConfigError("human.train", f"must be one of {', '.join(TRAIN_MODES)}, got {mode!r}")
    if mode == "off" or not human:
        return list(train_records)
    out = []
    for record in train_records:
        h = human.get(record_key(record))
        out.append(record if h is None else replace(record, label=h.label, source=f"human:{h.reviewer}"))
    if mode == "add":
        train_keys = split_keys(train_records)
        out += [
            h.record()
            for key, h in sorted(human.items())
            if key not in train_keys and assign_split(key, train_keys, val_keys, val_fraction) == "train"
        ]
    return out


def human_validation_split(
    val_records: Sequence[WarningRecord],
    human: Mapping[str, HumanLabel],
    *,
    mode: str = "human",
    train_keys: frozenset[str] = frozenset(),
    val_fraction: float = 0.5,
    min_rows: int = 1,
) -> list[WarningRecord]:
    """The validation rows that threshold sweep and selection read.

    `llm`: `val_records` unchanged. `merged`: validation rows with human labels overriding the LLM's,
    plus human-labelled warnings in no split that hash to validation. `human`: only human-labelled
    rows (those same two sources); fewer than `min_rows` is an error (selection on a handful of rows
    is noise). With no human labels every mode is `llm`. Never includes a warning of `train_keys`.
    """
    if mode not in VALIDATION_MODES:
        raise ConfigError("human.validation", f"must be one of {', '.join(VALIDATION_MODES)}, got {mode!r}")
    if mode == "llm" or not human:  # no human labels: today's validation split, whatever the mode
        return list(val_records)
    relabelled = []
    for record in val_records:
        h = human.get(record_key(record))
        if h is not None:
            relabelled.append(replace(record, label=h.label, source=f"human:{h.reviewer}"))
        elif mode == "merged":
            relabelled.append(record)
    val_keys = split_keys(val_records)
    extra = [
        h.record()
        for key, h in sorted(human.items())
        if key not in val_keys and assign_split(key, train_keys, val_keys, val_fraction) == "val"
    ]
    rows = relabelled + extra
    if mode == "human" and len(rows) < min_rows:
        raise IacsieveError(
            f"human validation split has {len(rows)} rows, fewer than human.min_val_rows={min_rows}: "
            f"label more warnings (iacsieve review) or use human.validation: merged"
        )
    return rows


def build_training_data(
    prepared_dir: str | Path,
    human_dir: str | Path,
    out_dir: str | Path,
    settings: HumanSettings = HumanSettings(),
    *,
    raw_dir: str | Path | None = None,
) -> dict:
    """The data every training run reads: `prepared_dir` with human labels applied, as `out_dir`.

    Writes `<out_dir>/<split>/<set>.jsonl` (the prepared layout: train with human overrides, val per
    `settings.validation`, test copied unchanged), `stats.json`, and `human.json` (what was applied,
    incl. `validation`: which labels selection is made on). With no human labels the JSONL files are
    byte-identical to `prepared_dir`'s. A human label on a test warning is an error.
    """
    check_folder_output(
        out_dir,
        inputs={"--prepared": prepared_dir, "--human": human_dir},
        human=human_dir,
        owned=(*SPLITS, "stats.json", REPORT_FILE),
    )
    prepared = {split: load_prepared(prepared_dir, split) for split in SPLITS}
    labels = load_human_labels(human_dir)
    test_keys = split_keys(prepared["test"]) | (
        test_split_keys(raw_dir) if raw_dir is not None else frozenset()
    )
    refuse_test_rows(labels, test_keys, human_dir)
    human, disputed = resolve_labels(labels)
    train_keys, val_keys = split_keys(prepared["train"]), split_keys(prepared["val"])
    train = apply_human_labels(
        prepared["train"], human, mode=settings.train, val_keys=val_keys, val_fraction=settings.val_fraction
    )
    val = human_validation_split(
        prepared["val"],
        human,
        mode=settings.validation,
        train_keys=train_keys,
        val_fraction=settings.val_fraction,
        min_rows=settings.min_val_rows,
    )
    splits = {"train": train, "val": val, "test": prepared["test"]}
    report = {
        "train_mode": settings.train,
        "validation": settings.validation if human else "llm",
        "labels": len(labels),
        "warnings": len(human) + len(disputed),
        "disputed": disputed,
        "train_relabelled": sum(
            r.source is not None and r.source.startswith("human:") for r in train[: len(prepared["train"])]
        ),
        "train_added": len(train) - len(prepared["train"]),
        "val_rows": len(val),
        "val_human_rows": sum(r.source is not None and r.source.startswith("human:") for r in val),
        "label_flips": {"train": _flips(prepared["train"], train), "val": _flips(prepared["val"], val)},
    }
    with output_folder(out_dir) as tmp:
        for split, records in splits.items():
            atomic_write_jsonl(prepared_path(tmp, split), (r.to_row() for r in records))
            for tech in TECHS:
                atomic_write_jsonl(
                    prepared_path(tmp, split, tech), (r.to_row() for r in records if r.tech == tech)
                )
        atomic_write_json(Path(tmp) / "stats.json", _stats(prepared_dir, splits))
        atomic_write_json(Path(tmp) / REPORT_FILE, report)
    return report


def _stats(prepared_dir: str | Path, splits: dict[str, list[WarningRecord]]) -> dict:
    """`prepare`'s stats.json for the applied splits (its skipped-row counts carried over, its data
    warnings recomputed for these splits)."""
    stats = compute_stats(splits)
    stats["warnings"] = warning_counts(split_problems(splits))
    path = Path(prepared_dir) / "stats.json"
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if "skipped_invalid_rows" in previous:
            stats["skipped_invalid_rows"] = previous["skipped_invalid_rows"]
    return stats


def _flips(before: Sequence[WarningRecord], after: Sequence[WarningRecord]) -> int:
    """Rows whose label a human changed (relabels that agree with the LLM are not flips)."""
    old = {record_key(r): r.label for r in before}
    return sum(
        1
        for r in after
        if r.source
        and r.source.startswith("human:")
        and record_key(r) in old
        and old[record_key(r)] != r.label
    )
