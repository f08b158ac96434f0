"""The filter's summary: counts per smell and what happened to rows whose script was missing or unreadable.

Counted as rows stream past (`Tally.add`), so the summary costs the same memory for 100 rows or 2M.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from iacsieve.filtering.verdicts import BASELINE, PASS_THROUGH, SCORED, FilteredRow, Status
from iacsieve.io.safe_text import terminal_safe

MAX_LISTED_PROBLEMS = 20  # missing / unreadable rows listed one by one in the summary, then counted


@dataclass
class Tally:
    """Running counts of the rows written so far."""

    rows: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_smell: dict[str, Counter] = field(default_factory=dict)
    missing_reasons: Counter = field(default_factory=Counter)
    unreadable_reasons: Counter = field(default_factory=Counter)
    missing_rows: list[str] = field(default_factory=list)
    unreadable_rows: list[str] = field(default_factory=list)
    kept: int = 0
    kept_security: int = 0
    dropped_scored: int = 0
    file_level: int = 0
    repointed: list[str] = field(default_factory=list)  # rows whose snippet sat on another line (rowcheck)
    repointed_count: int = 0

    def add(self, row: FilteredRow) -> None:
        self.rows += 1
        kind, reason = row.status, row.why
        self.by_status[kind] += 1
        counts = self.by_smell.setdefault(row.smell, Counter())
        counts["in"] += 1
        counts["scored"] += kind == SCORED or (kind == BASELINE and row.score is not None)
        counts["kept" if row.keep else "dropped"] += 1
        counts["missing"] += kind == Status.MISSING
        self.kept += row.keep
        self.kept_security += row.keep and row.security
        self.dropped_scored += kind == SCORED and not row.keep
        self.file_level += row.detection.file_level
        if kind in (SCORED, PASS_THROUGH, BASELINE) and row.problem:
            self.repointed_count += 1
            if len(self.repointed) < MAX_LISTED_PROBLEMS:
                self.repointed.append(row.problem)
        if kind == Status.MISSING:
            self.missing_reasons[reason] += 1
            if len(self.missing_rows) < MAX_LISTED_PROBLEMS and row.problem:
                self.missing_rows.append(row.problem)
        elif kind == Status.UNREADABLE:
            self.unreadable_reasons[reason] += 1
            if len(self.unreadable_rows) < MAX_LISTED_PROBLEMS and row.problem:
                self.unreadable_rows.append(row.problem)

    def counted(self, rows: Iterable[FilteredRow]) -> Iterator[FilteredRow]:
        """`rows` passed on unchanged, each counted as it goes by."""
        for row in rows:
            self.add(row)
            yield row

    def summary(self) -> dict:
        """The counts as the summary dict's row fields."""
        scored = sum(c["scored"] for c in self.by_smell.values())
        return {
            "warnings_in": self.rows,
            "scored": scored,
            "passed_through": self.by_status[PASS_THROUGH],
            "file_level": self.file_level,
            "kept": self.kept,
            "kept_security": self.kept_security,
            "dropped": self.rows - self.kept,
            "dropped_scored": self.dropped_scored,
            "in_baseline": self.by_status[BASELINE],
            "missing": sum(self.missing_reasons.values()),
            "missing_by_reason": dict(sorted(self.missing_reasons.items())),
            "missing_rows": list(self.missing_rows),
            "unreadable": sum(self.unreadable_reasons.values()),
            "unreadable_by_reason": dict(sorted(self.unreadable_reasons.items())),
            "unreadable_rows": list(self.unreadable_rows),
            "repointed": self.repointed_count,
            "repointed_rows": list(self.repointed),
            "by_smell": {
                smell: {k: c[k] for k in ("in", "scored", "kept", "dropped", "missing")}
                for smell, c in sorted(self.by_smell.items())
            },
        }


def format_summary(summary: dict) -> str:
    """The human summary `iacsieve filter` prints on stderr (every name from the input escaped)."""
    safe = terminal_safe
    lines = [
        f"iacsieve {summary.get('command', 'filter')}: {summary['warnings_in']} warnings in ({summary['format']}) -> "
        f"{safe(summary['out'])} ({summary['out_format']})",
        f"  model {safe(summary['model'])} ({summary['family']}), threshold {summary['threshold']:.4g} "
        f"({summary['threshold_source']}), covers {', '.join(summary['covered_smells'])}"
        + ("" if summary["covered_smells_recorded"] else " (default: not recorded in the champion)"),
        f"  scored {summary['scored']} ({summary['model_inputs']} model inputs after dedup), "
        f"kept {summary['kept']}, dropped {summary['dropped']}, passed through {summary['passed_through']}"
        + (f" ({summary['file_level']} whole-file)" if summary.get("file_level") else ""),
    ]
    lines += _provenance(summary)
    width = max([len("smell")] + [len(safe(s)) for s in summary["by_smell"]])
    lines.append(f"  {'smell':<{width}} {'in':>6} {'scored':>6} {'kept':>6} {'dropped':>7} {'missing':>7}")
    for smell, c in summary["by_smell"].items():
        lines.append(
            f"  {safe(smell):<{width}} {c['in']:>6} {c['scored']:>6} {c['kept']:>6} {c['dropped']:>7} "
            f"{c['missing']:>7}"
        )
    if "sarif_results" in summary:
        left_out = (
            f"; {summary['sarif_left_out']} kept code-quality notes left out (--sarif-all adds them)"
            if summary["sarif_left_out"]
            else ""
        )
        lines.append(
            f"  SARIF: {summary['sarif_results']} results{left_out}; URIs relative to {safe(summary['uri_base'])}"
        )
    if summary.get("baseline"):
        lines.append(
            f"  baseline {safe(summary['baseline'])}: {summary['in_baseline']} kept warnings already in it "
            f"(keep=false, left out of SARIF); {summary['kept_security']} new security warnings"
        )
    if summary.get("lines_cut"):
        lines.append(
            f"  cut: {summary['lines_cut']} model inputs had a script line longer than "
            f"{summary['max_line_chars']} characters, cut to that length before scoring "
            f"(raise with --max-line-length)"
        )
    if summary["unreadable"]:
        reasons = ", ".join(f"{k} {v}" for k, v in summary["unreadable_by_reason"].items())
        lines.append(f"  unreadable scripts or lines: {summary['unreadable']} rows kept unscored: {reasons}")
        lines += _listed(summary["unreadable_rows"], summary["unreadable"])
    if summary["missing"]:
        reasons = ", ".join(f"{k} {v}" for k, v in summary["missing_by_reason"].items())
        action = "kept" if summary["on_missing"] == "keep" else "dropped"
        lines.append(
            f"  missing: {summary['missing']} rows {action} (--on-missing {summary['on_missing']}): {reasons}"
        )
        lines += _listed(summary["missing_rows"], summary["missing"])
    lines += _repointed(summary) + _not_analysed(summary)
    return "\n".join(lines)


def _provenance(summary: dict) -> list[str]:
    """Which champion judged the run: its SHA-256 (the archive's when it came as one), source, version."""
    if not summary.get("champion_sha256"):
        return []
    return [
        f"  champion SHA-256 {summary['champion_sha256']} (of the {summary['champion_sha256_of']}; "
        f"{summary['champion_source']}), iacsieve {summary['package_version']}"
    ]


def _repointed(summary: dict) -> list[str]:
    """Rows scored on another line of their script than the detector said (iacsieve.filtering.rowcheck)."""
    if not summary.get("repointed"):
        return []
    head = (
        f"  re-pointed: {summary['repointed']} rows scored on the one line of their script that holds "
        f"the detector's snippet (their own line did not)"
    )
    return [head, *_listed(summary["repointed_rows"], summary["repointed"])]


def _not_analysed(summary: dict) -> list[str]:
    """What the detector did not analyse (scan), or that it analysed everything it read."""
    if "not_analysed" not in summary:
        return []
    count = summary["not_analysed"]
    if not count:
        return ["  not analysed: none (the detector reported no file it could not read)"]
    reasons = ", ".join(f"{k} {v}" for k, v in summary["not_analysed_by_reason"].items())
    named = [
        f"{f['file'] or '(a file the detector did not name)'}: {f['message']}"
        for f in summary["not_analysed_files"][:MAX_LISTED_PROBLEMS]
    ]
    header = f"  not analysed by the detector: {count} files ({reasons}); no warning of theirs is above"
    return [header, *_listed(named, count)]


def _listed(rows: list[str], total: int) -> list[str]:
    out = [f"    {terminal_safe(p)}" for p in rows]
    if total > len(rows):
        out.append(f"    ... and {total - len(rows)} more")
    return out
