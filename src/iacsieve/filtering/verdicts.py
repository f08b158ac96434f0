"""One input warning and the filter's verdict on it (what the output and the summary are made from)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from iacsieve.filtering.detections import Detection

if TYPE_CHECKING:
    from iacsieve.filtering.evidence import Evidence


class Status(StrEnum):
    """What the filter did with a row (the `status` of `--explain`, with the script problem's reason
    after a colon for MISSING and UNREADABLE: `missing:not_found`)."""

    SCORED = "scored"
    PASS_THROUGH = "pass_through"  # a smell the champion does not judge, or a whole-file one
    MISSING = "missing"  # the script is missing, outside --scripts or too short: --on-missing decides keep
    UNREADABLE = "unreadable"  # binary / undecodable script: kept, unscored
    BASELINE = "baseline"  # in --baseline: kept=false, left out of SARIF


SCORED, PASS_THROUGH, BASELINE = Status.SCORED, Status.PASS_THROUGH, Status.BASELINE


@dataclass
class FilteredRow:
    """One input warning and the filter's verdict."""

    detection: Detection
    smell: str
    score: float | None = None
    keep: bool = True
    status: Status = Status.PASS_THROUGH
    why: str = ""  # MISSING / UNREADABLE: the script problem's reason (`not_found`, `binary`, ...)
    script: Path | None = None  # resolved real path (None when it could not be resolved)
    location: str | None = None  # the script's path relative to --scripts (resolved or best guess), POSIX
    fingerprint: str = ""  # line-shift tolerant identity of the warning (see iacsieve.filtering.fingerprint)
    problem: str | None = None  # why the script could not be used, for the summary
    evidence: Evidence | None = None  # why it was kept or dropped (shared by rows of one model input)

    @property
    def status_text(self) -> str:
        """The status as written out: `scored`, `missing:not_found`."""
        return f"{self.status.value}:{self.why}" if self.why else self.status.value

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
