"""The `train` step: one run of one family on the prepared data, written as a complete run dir.

A run dir holds `config_used.yaml`, `model/` (loadable by `load_scorer`), `val_scores.jsonl`,
`test_scores.jsonl` (test/combined) and `train_log.json`. It is built in a temp dir and renamed
into place, so an existing run dir is replaced only when the new run succeeded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from iacsieve.core.artifacts import TRAIN_LOG as TRAIN_LOG_ARTIFACT
from iacsieve.core.artifacts import write_artifact
from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import (
    CONFIG_FILE,
    MODEL_DIR,
    SCORE_FILES,
    SWEEP_FILE,
    TEST_SCORES,
    TRAIN_LOG,
    VAL_SCORES,
)
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import WarningRecord, load_prepared
from iacsieve.io.atomic import atomic_directory, atomic_write_jsonl, atomic_write_text
from iacsieve.io.output_policy import check_folder_output
from iacsieve.models import family_module, get_family, load_scorer

log = logging.getLogger(__name__)


def score_rows(records: Sequence[WarningRecord], scores: np.ndarray) -> list[dict]:
    """One `{"file","line","smell","tech","label","score"}` row per record, in the split's order."""
    if len(records) != len(scores):
        raise IacsieveError(f"model returned {len(scores)} scores for {len(records)} records")
    return [
        {
            "file": r.file,
            "line": r.line,
            "smell": r.smell,
            "tech": r.tech,
            "label": int(r.label),  # type: ignore[arg-type]  # prepared rows are labelled
            "score": float(s),
        }
        for r, s in zip(records, scores)
    ]


def _labelled(records: list[WarningRecord], where: str) -> list[WarningRecord]:
    if not records:
        raise IacsieveError(f"{where}: no rows")
    if any(r.label is None for r in records):
        raise IacsieveError(f"{where}: every row needs a label (TP/FP) to train or score")
    return records


TIMING_KEYS: tuple[str, ...] = ("wall_time_s", "train_loop_s", "samples_per_s")
# What a run dir holds (train, then the sweep): an older run's folder may be replaced, a user's may not.
RUN_DIR_NAMES: tuple[str, ...] = (*SCORE_FILES, MODEL_DIR, SWEEP_FILE)


def train(
    config: TrainConfig,
    prepared_dir: str | Path,
    run_dir: str | Path,
    *,
    name: str | None = None,
    timings: dict | None = None,
) -> Path:
    """Train `config.family` on `prepared_dir` and write the run dir atomically; returns `run_dir`.

    Dispatches on the family's kind (`models/<kind>.py`: hf, tiny, classical). Scores are
    computed by reloading the saved model, so the run dir is known to load before it is published.
    `name` is the run's name (default: the directory's name). `train_log.json` holds no wall time
    (DVC hashes the run dir); pass `timings` (a dict) to receive wall time and throughput.
    """
    spec = get_family(config.family)
    run_dir = check_folder_output(run_dir, inputs={"--data": prepared_dir}, owned=RUN_DIR_NAMES)
    train_records = _labelled(load_prepared(prepared_dir, "train"), f"{prepared_dir}/train")
    val_records = _labelled(load_prepared(prepared_dir, "val"), f"{prepared_dir}/val")
    test_records = _labelled(load_prepared(prepared_dir, "test", "combined"), f"{prepared_dir}/test")
    log.info(
        "training %s (%s) on %d rows -> %s",
        config.run_name(with_seed=True),
        spec.kind,
        len(train_records),
        run_dir,
    )
    with atomic_directory(run_dir) as tmp:
        atomic_write_text(tmp / CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False))
        start = time.perf_counter()
        train_log = dict(family_module(spec.kind).fit(config, train_records, val_records, tmp / MODEL_DIR))
        fit_seconds = time.perf_counter() - start
        scorer = load_scorer(tmp / MODEL_DIR)
        atomic_write_jsonl(tmp / VAL_SCORES, score_rows(val_records, scorer.predict_proba(val_records)))
        atomic_write_jsonl(tmp / TEST_SCORES, score_rows(test_records, scorer.predict_proba(test_records)))
        train_log.setdefault("epochs", [])
        train_log.setdefault("stopped_early", False)
        train_log.setdefault("best_epoch", None)
        train_log.setdefault("device", "cpu")
        measured = {
            "wall_time_s": round(fit_seconds, 3),  # model load/build + training + saving
            "train_loop_s": train_log.get("train_loop_s"),
            "samples_per_s": train_log.get("samples_per_s")
            or (round(len(train_records) / fit_seconds, 3) if fit_seconds > 0 else None),
        }
        for key in TIMING_KEYS:
            train_log.pop(key, None)
        if timings is not None:
            timings.update(measured)
        train_log.update(family=config.family, kind=spec.kind, run=name or run_dir.name)
        write_artifact(TRAIN_LOG_ARTIFACT, tmp / TRAIN_LOG, train_log)
    log.info("wrote %s (%.1fs)", run_dir, fit_seconds)
    return run_dir
