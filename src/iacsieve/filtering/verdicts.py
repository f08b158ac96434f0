"""One input warning and the filter's verdict on it (what the output and the summary are made from)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iacsieve.filtering.detections import Detection

if TYPE_CHECKING:
    from iacsieve.filtering.evidence import Evidence


@dataclass
class FilteredRow:
    """One input warning and the filter's verdict."""

    detection: Detection
    smell: str
    score: float | None = None
    keep: bool = True
    status: str = "pass_through"  # scored | pass_through | missing
    script: Path | None = None  # resolved real path (None when it could not be resolved)
    evidence: Evidence | None = None  # why it was kept or dropped (shared by rows of one model input)
