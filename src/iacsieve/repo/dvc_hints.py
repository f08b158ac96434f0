"""DVC's Python API without its hints for people at a terminal.

Why: `Repo.add` logs "To track the changes with git, run: git add ..." and "To enable auto staging,
run: dvc config core.autostage true" at INFO. The commands that call it (`labels add`,
`kfp pull-champion`) print their own line naming every file to commit, so DVC's hint is noise, and the
CLI's own log handler shows it a second time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def without_dvc_hints() -> Iterator[None]:
    """DVC's INFO messages silenced for the block (warnings and errors still show)."""
    dvc_log = logging.getLogger("dvc")
    level = dvc_log.level
    dvc_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        dvc_log.setLevel(level)
