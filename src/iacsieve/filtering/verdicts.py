"""One input warning and the filter's verdict on it (what the output and the summary are made from)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iacsieve.filtering.detections import Detection

if TYPE_CHECKING:
    from iacsieve.filtering.evidence import Evidence

# Row statuses: "scored", "pass_through", "missing:<reason>" (--on-missing decides keep),
# "unreadable:<reason>" (binary / undecodable script: kept, unscored), "baseline" (kept, but in --baseline).
SCORED, PASS_THROUGH, BASELINE = "scored", "pass_through", "baseline"


@dataclass
class FilteredRow:
    """One input warning and the filter's verdict."""

    detection: Detection
    smell: str
    score: float | None = None
    keep: bool = True
    status: str = PASS_THROUGH
    script: Path | None = None  # resolved real path (None when it could not be resolved)
    location: str | None = None  # the script's path relative to --scripts (resolved or best guess), POSIX
    fingerprint: str = ""  # line-shift tolerant identity of the warning (see iacsieve.filtering.fingerprint)
    problem: str | None = None  # why the script could not be used, for the summary
    evidence: Evidence | None = None  # why it was kept or dropped (shared by rows of one model input)

    @property
    def security(self) -> bool:
        """A security smell (GLITCH's design/implementation smells are not)."""
        return not self.detection.non_security
