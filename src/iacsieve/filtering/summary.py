"""The filter's summary: counts per smell and what happened to rows whose script was missing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from iacsieve.filtering.champion import Champion
from iacsieve.filtering.detections import DetectionSet
from iacsieve.filtering.verdicts import FilteredRow

MAX_LISTED_PROBLEMS = 20  # missing rows listed one by one in the summary, then counted


def summarise(
    parsed: DetectionSet,
    rows: list[FilteredRow],
    problems: list[str],
    champion: Champion,
    threshold: float,
    threshold_source: str,
    model_inputs: int,
    out: str | Path,
    out_format: str,
    on_missing: str,
    use_context: bool,
) -> dict:
    by_smell: dict[str, Counter] = {}
    for row in rows:
        counts = by_smell.setdefault(row.smell, Counter())
        counts["in"] += 1
        counts["scored"] += row.status == "scored"
        counts["kept" if row.keep else "dropped"] += 1
        counts["missing"] += row.status.startswith("missing")
    missing_reasons = Counter(row.status.split(":", 1)[1] for row in rows if row.status.startswith("missing"))
    return {
        "detections": str(parsed.path),
        "format": parsed.format,
        "out": str(out),
        "out_format": out_format,
        "model": str(champion.model_dir),
        "family": champion.family,
        "use_context": use_context,
        "threshold": threshold,
        "threshold_source": threshold_source,
        "covered_smells": sorted(champion.covered),
        "covered_smells_recorded": champion.covered_recorded,
        "warnings_in": len(rows),
        "scored": sum(r.status == "scored" for r in rows),
        "model_inputs": model_inputs,
        "passed_through": sum(r.status == "pass_through" for r in rows),
        "kept": sum(r.keep for r in rows),
        "dropped": sum(not r.keep for r in rows),
        "dropped_scored": sum(r.status == "scored" and not r.keep for r in rows),
        "missing": sum(missing_reasons.values()),
        "missing_by_reason": dict(sorted(missing_reasons.items())),
        "on_missing": on_missing,
        "missing_rows": problems[:MAX_LISTED_PROBLEMS],
        "by_smell": {
            smell: {k: c[k] for k in ("in", "scored", "kept", "dropped", "missing")}
            for smell, c in sorted(by_smell.items())
        },
    }


def format_summary(summary: dict) -> str:
    """The human summary `iacsieve filter` prints on stderr."""
    lines = [
        f"iacsieve filter: {summary['warnings_in']} warnings in ({summary['format']}) -> "
        f"{summary['out']} ({summary['out_format']})",
        f"  model {summary['model']} ({summary['family']}), threshold {summary['threshold']:.4g} "
        f"({summary['threshold_source']}), covers {', '.join(summary['covered_smells'])}"
        + ("" if summary["covered_smells_recorded"] else " (default: not recorded in the champion)"),
        f"  scored {summary['scored']} ({summary['model_inputs']} model inputs after dedup), "
        f"kept {summary['kept']}, dropped {summary['dropped']}, passed through {summary['passed_through']}",
    ]
    width = max([len("smell")] + [len(s) for s in summary["by_smell"]])
    lines.append(f"  {'smell':<{width}} {'in':>6} {'scored':>6} {'kept':>6} {'dropped':>7} {'missing':>7}")
    for smell, c in summary["by_smell"].items():
        lines.append(
            f"  {smell:<{width}} {c['in']:>6} {c['scored']:>6} {c['kept']:>6} {c['dropped']:>7} {c['missing']:>7}"
        )
    if "sarif_results" in summary:
        left_out = (
            f"; {summary['sarif_left_out']} kept code-quality notes left out (--sarif-all adds them)"
            if summary["sarif_left_out"]
            else ""
        )
        lines.append(
            f"  SARIF: {summary['sarif_results']} results{left_out}; URIs relative to {summary['uri_base']}"
        )
    if summary.get("lines_cut"):
        lines.append(
            f"  cut: {summary['lines_cut']} model inputs had a script line longer than "
            f"{summary['max_line_chars']} characters, cut to that length before scoring "
            f"(raise with --max-line-length)"
        )
    if summary["missing"]:
        reasons = ", ".join(f"{k} {v}" for k, v in summary["missing_by_reason"].items())
        action = "kept" if summary["on_missing"] == "keep" else "dropped"
        lines.append(
            f"  missing: {summary['missing']} rows {action} (--on-missing {summary['on_missing']}): {reasons}"
        )
        lines += [f"    {p}" for p in summary["missing_rows"]]
        if summary["missing"] > len(summary["missing_rows"]):
            lines.append(f"    ... and {summary['missing'] - len(summary['missing_rows'])} more")
    return "\n".join(lines)
