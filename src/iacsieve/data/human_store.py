"""The human-label store: `data/human/labels.jsonl`, one record per warning and reviewer.

Reading / writing / merging the store (a relabel by another reviewer is kept: a disagreement),
resolving several reviewers into one label per warning (majority; a tie is left out as disputed), and
the guard that no warning of the test split (the human oracle) ever enters the store or training.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from iacsieve.core import layout
from iacsieve.core.errors import DataError, IacsieveError
from iacsieve.core.json_values import is_int, is_number
from iacsieve.core.layout import TECHS
from iacsieve.core.smells import canonical_smell
from iacsieve.data.records import LABELS, WarningRecord
from iacsieve.data.warning_keys import script_name, warning_key
from iacsieve.io.atomic import atomic_write_jsonl
from iacsieve.io.limits import DEFAULT as DEFAULT_LIMITS
from iacsieve.io.limits import shorten
from iacsieve.io.reading import decode_json_line, read_regular_text

log = logging.getLogger(__name__)

HUMAN_DIR = Path(layout.HUMAN_DIR)
LABELS_FILE = "labels.jsonl"
_REVIEWER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")  # fullmatch: `$` would pass "alice\n"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits: `\d` takes any script's


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
        row = {f.name: getattr(self, f.name) for f in fields(self)}  # flat values: asdict deep-copies
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
    if not is_int(line) or line < 1:
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
        if (
            not isinstance(row[field], str)
            or not pattern.fullmatch(row[field])
            or not _real_date(field, row[field])
        ):
            raise DataError(path, line_no, field, f"must be {what}, got {shorten(row[field])}")
    score = row.get("score")
    if score is not None and (not is_number(score) or not 0 <= score <= 1):
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


STORE_WAIT_S = 120.0  # how long a command waits for the store's lock before refusing in one line
_POLL_S = 0.2


def store_lock_path(human_dir: str | Path) -> Path:
    """`.<store>.lock` beside the store (outside the DVC-tracked folder, so its hash never sees it)."""
    store = Path(human_dir)
    return store.parent / f".{store.name}.lock"


@contextlib.contextmanager
def store_lock(human_dir: str | Path, *, shared: bool = False, wait_s: float | None = None) -> Iterator[Path]:
    """Hold the store's lock: exclusive for `labels add`'s load -> merge -> save -> dvc add, shared for
    a reader (`labels apply`, DVC's training-data stage).

    Two reviewers' `labels add` at once then run one after the other, and neither's labels are lost;
    a label never lands while a stage reads the store. The wait is bounded (`wait_s`, default
    `STORE_WAIT_S`), then one line. An advisory `flock`: the kernel drops it when the process dies,
    so a killed run never blocks the next one. A reader makes no lock file: where none exists (no
    `labels add` ran yet, a read-only mount) it reads without one.
    """
    store = Path(human_dir)
    lock_path = store_lock_path(store)
    try:
        if shared:  # a reader makes nothing (a writer arriving later checks DVC's rwlock and waits)
            fd = os.open(lock_path, os.O_RDONLY | os.O_NONBLOCK)
        else:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        if shared:
            log.debug("%s: no lock (%s); reading without it", store, exc)
            yield store
            return
        raise IacsieveError(
            f"{lock_path}: cannot make the labels store's lock: {exc.strerror or exc}"
        ) from None
    try:
        _flock_within(
            fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, store, STORE_WAIT_S if wait_s is None else wait_s
        )
        yield store
    finally:
        os.close(fd)  # closing releases the lock


def _flock_within(fd: int, mode: int, store: Path, wait_s: float) -> None:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        log.warning("%s: another `labels add` or `labels apply` is using the store; waiting for it", store)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise IacsieveError(
                    f"{store}: another `labels add` or `labels apply` has held the store for over "
                    f"{wait_s:.0f}s; nothing was read or written: run again when it has finished"
                ) from None
            time.sleep(_POLL_S)


def save_human_labels(human_dir: str | Path, labels: Iterable[HumanLabel]) -> Path:
    """Write the store atomically, sorted by (key, reviewer): stable diffs, same labels same bytes."""
    ordered = sorted(labels, key=lambda h: (h.key, h.reviewer))
    return atomic_write_jsonl(Path(human_dir) / LABELS_FILE, (h.to_row() for h in ordered))


def check_reviewer(reviewer: str) -> str:
    if not isinstance(reviewer, str) or not _REVIEWER.fullmatch(reviewer):
        raise IacsieveError(
            f"--reviewer must be a name of letters, digits and . _ @ + - (at most 64), got {ascii(reviewer)}"
        )
    return reviewer


def check_date(date: str) -> str:
    if not isinstance(date, str) or not _DATE.fullmatch(date) or not _real_date("date", date):
        raise IacsieveError(f"--date must be a real date YYYY-MM-DD, got {ascii(date)}")
    return date


def _real_date(field: str, value: str) -> bool:
    """True unless `field` is the date and `value` names no day of the calendar (2024-99-99)."""
    if field != "date":
        return True
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


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
    disagreements = []
    by_key: dict[str, list[HumanLabel]] = {}
    for h in merged:
        if h.key in touched:
            by_key.setdefault(h.key, []).append(h)
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
