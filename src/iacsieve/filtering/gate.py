"""The gate: one exit code and one reason per run, from the summary (`filter` and `scan`).

Exit codes (docs/filter.md): 0 nothing to stop for; 1 kept security warnings remain (`--fail-on kept`);
2 bad input or a failed detector (any IacsieveError, cli.app); 3 files the detector did not analyse,
more than `--allow-unanalysed` allows (scan). 3 wins over 1: a verdict over unread files is incomplete
whatever it found.
"""

from __future__ import annotations

EXIT_CLEAN, EXIT_KEPT, EXIT_BAD_INPUT, EXIT_NOT_ANALYSED = 0, 1, 2, 3
REASONS: dict[int, str] = {
    EXIT_CLEAN: "clean",
    EXIT_KEPT: "warnings_kept",
    EXIT_BAD_INPUT: "bad_input",
    EXIT_NOT_ANALYSED: "not_analysed",
}


def gate(summary: dict, fail_on: str, allow_unanalysed: int | None = None) -> int:
    """The run's exit code; `allow_unanalysed` None: the run does not know what was analysed (filter)."""
    not_analysed = summary.get("not_analysed", 0)
    if allow_unanalysed is not None and not_analysed > allow_unanalysed:
        return EXIT_NOT_ANALYSED
    if fail_on == "kept" and summary["kept_security"]:
        return EXIT_KEPT
    return EXIT_CLEAN


def gate_message(command: str, summary: dict, code: int, allow_unanalysed: int | None) -> str | None:
    """The one line that says why the gate failed (None when it did not)."""
    if code == EXIT_NOT_ANALYSED:
        kept = (
            f"; {summary['kept_security']} security warnings kept besides" if summary["kept_security"] else ""
        )
        return (
            f"iacsieve {command}: {summary['not_analysed']} files not analysed by the detector (allowed: "
            f"{allow_unanalysed}, --allow-unanalysed N){kept}: exit {code}"
        )
    if code == EXIT_KEPT:
        return f"iacsieve {command}: {summary['kept_security']} security warnings kept (--fail-on kept): exit {code}"
    return None
