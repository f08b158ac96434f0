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


def score_comparison(score: float, threshold: float, score_digits: int = 2, threshold_digits: int = 2) -> str:
    """`0.62 >= 0.50`: the score against the threshold with as many decimals as make the comparison
    shown true (0.4987 against 0.50 is `0.499 < 0.500`, never `0.50 < 0.50`)."""
    return " ".join(comparison_parts(score, threshold, score_digits, threshold_digits))


def comparison_parts(
    score: float, threshold: float, score_digits: int = 2, threshold_digits: int = 2
) -> tuple[str, str, str]:
    """(score, `>=` or `<`, threshold) as `score_comparison` writes them."""
    keep = score >= threshold
    extra = 0
    while True:
        s, t = f"{score:.{score_digits + extra}f}", f"{threshold:.{threshold_digits + extra}f}"
        if (float(s) >= float(t)) == keep or extra >= 15:
            return s, (">=" if keep else "<"), t
        extra += 1
