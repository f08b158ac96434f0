"""Warning identity: the key that ties a human label to the same warning everywhere.

The same warning in the LLM-labelled splits, a review sheet, the human-label store and a detector's
output has one key (`warning_key`: script name, line, canonical smell); this module is the one place
that computes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.core.smells import canonical_smell
from iacsieve.data.records import WarningRecord, load_raw_split


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


def test_split_keys(raw_dir: str | Path = layout.RAW_DIR) -> frozenset[str]:
    """Keys of the human-oracle test split: these warnings never enter data/human or training."""
    if not Path(raw_dir).is_dir():
        raise IacsieveError(
            f"{raw_dir}: raw data not found, so the test split cannot be checked; "
            f"run `dvc pull data.dvc` first (or pass --raw)"
        )
    return split_keys(load_raw_split(raw_dir, "test")[0])
