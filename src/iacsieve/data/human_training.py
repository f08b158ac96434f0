"""The pipeline side of human labels: override LLM train labels, form a human validation split.

`HumanSettings` (params.yaml's `human:` block), `apply_human_labels`, `human_validation_split` and
`build_training_data`. With no human labels every function returns its input unchanged, so the
pipeline behaves exactly as without them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from iacsieve.core import layout
from iacsieve.core.artifacts import HUMAN_REPORT, write_artifact
from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.settings import parse_block, setting
from iacsieve.data.human_store import (
    HUMAN_DIR,
    HumanLabel,
    load_human_labels,
    refuse_test_rows,
    resolve_labels,
)
from iacsieve.data.records import (
    SPLITS,
    WarningRecord,
    compute_stats,
    load_prepared,
    split_problems,
    warning_counts,
    write_prepared,
)
from iacsieve.data.warning_keys import record_key, split_keys, test_split_keys
from iacsieve.io.atomic import atomic_write_json
from iacsieve.io.output_policy import check_folder_output, output_folder

REPORT_FILE = layout.HUMAN_REPORT
TRAIN_MODES: tuple[str, ...] = ("off", "override", "add")
VALIDATION_MODES: tuple[str, ...] = ("llm", "human", "merged")


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

    block: ClassVar[str] = "human"
    dir: str = setting(str(HUMAN_DIR), "the labels store", flag="--human")
    train: str = setting("override", "what human labels do to training", choices=TRAIN_MODES)
    validation: str = setting("merged", "which labels validation selects on", choices=VALIDATION_MODES)
    val_fraction: float = setting(
        0.5, "share of new human-labelled warnings held out for validation", min=0.0, max=1.0
    )
    min_val_rows: int = setting(30, "validation: human refuses to select on fewer rows", min=1, max=10**9)

    @classmethod
    def from_dict(cls, block: Mapping | None, *, source: object = layout.PARAMS_FILE) -> HumanSettings:
        return parse_block(cls, block, cls.block, source=source)


_DEFAULT = HumanSettings()  # the declared defaults, for the functions below


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
    mode: str = _DEFAULT.train,
    val_keys: frozenset[str] = frozenset(),
    val_fraction: float = _DEFAULT.val_fraction,
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
    val_fraction: float = _DEFAULT.val_fraction,
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

    Long because it is the one place the three splits' rules sit side by side (train overridden, val
    per setting, test untouched), with the output checks before any of them.
    """
    check_folder_output(
        out_dir,
        inputs={"--prepared": prepared_dir, "--human": human_dir},
        human=human_dir,
        owned=(*SPLITS, layout.STATS_FILE, REPORT_FILE),
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
        write_prepared(tmp, splits)
        atomic_write_json(Path(tmp) / layout.STATS_FILE, _stats(prepared_dir, splits))
        write_artifact(HUMAN_REPORT, Path(tmp) / REPORT_FILE, report)
    return report


def _stats(prepared_dir: str | Path, splits: dict[str, list[WarningRecord]]) -> dict:
    """`prepare`'s stats.json for the applied splits (its skipped-row counts carried over, its data
    warnings recomputed for these splits)."""
    stats = compute_stats(splits)
    stats["warnings"] = warning_counts(split_problems(splits))
    path = Path(prepared_dir) / layout.STATS_FILE
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
