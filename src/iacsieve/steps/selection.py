"""Choose a run from a set of evaluated runs — by validation F1 only; test metrics are reported.

`best`: the top run of the ranking (val F1, then val FP reduction, then lower training cost).
`median`: across seeds, the run whose val F1 is the (lower) median — a typical run, not a lucky one.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from iacsieve.core.artifacts import RUN_SUMMARY, SELECTION, WINNER, read_artifact, write_artifact
from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.json_values import is_number
from iacsieve.core.layout import RANKING_CSV, RANKING_MD, SELECTION_FILE, SUMMARY_FILE, TEST_SETS, WINNER_FILE
from iacsieve.io.atomic import atomic_write_text

MODES: tuple[str, ...] = ("best", "median")
# What the next stage reads of a selection: the winner's settings, not the whole ranking, so a
# rerun of a losing run leaves later stages up to date.
WINNER_KEYS: tuple[str, ...] = ("run", "family", "config", "threshold", "threshold_source", "val_f1")


def read_summary(results_dir: str | Path) -> dict:
    """One evaluated run's `summary.json` as a ranking row (val metrics first, test carried along)."""
    path = Path(results_dir) / SUMMARY_FILE
    summary = read_artifact(RUN_SUMMARY, path, hint="run `iacsieve step evaluate` for this run first")
    try:
        val = summary["val"]
        row = {
            "run": summary["run"],
            "family": summary["family"],
            "run_dir": summary["run_dir"],
            "results_dir": str(results_dir),
            "config": summary["config"],
            "use_context": summary.get("use_context", summary["config"].get("use_context", False)),
            "threshold": summary["threshold"],
            "threshold_source": summary["threshold_source"],
            "val_f1": float(val["f1"]),
            "val_fp_reduction": float(val["fp_reduction"]),
            "val_tp_retention": float(val["tp_retention"]),
            "samples_seen": summary.get("samples_seen"),
            "test": summary["test"],
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise IacsieveError(f"{path}: missing or malformed key {exc}") from None
    return row


def rank_runs(rows: list[dict]) -> list[dict]:
    """Best first: val F1 desc, val FP reduction desc, training cost asc, then run name.

    Training cost is the deterministic `samples_seen` (rows x epochs), not wall time, so the same
    runs always give the same choice.
    """

    def key(row: dict) -> tuple:
        cost = row.get("samples_seen")
        return (
            -row["val_f1"],
            -row["val_fp_reduction"],
            cost if isinstance(cost, (int, float)) else math.inf,
            row["run"],
            row["results_dir"],
        )

    return sorted(rows, key=key)


def pick(ranked: list[dict], mode: str) -> dict:
    """The chosen row of a ranking. Median: the lower median val F1, best-ranked among equals."""
    if mode == "best":
        return ranked[0]
    if mode == "median":
        values = sorted(row["val_f1"] for row in ranked)
        median = values[(len(values) - 1) // 2]
        return next(row for row in ranked if row["val_f1"] == median)
    raise ConfigError("mode", f"unknown selection mode {mode!r} (known: {', '.join(MODES)})", source="select")


def select_runs(
    results_dirs: Sequence[str | Path], out_dir: str | Path, mode: str = "best", *, stage: str | None = None
) -> dict:
    """Rank evaluated runs by validation metrics, pick one; write selection.json (the ranking),
    winner.json (the chosen run's settings: what the next stage depends on) and ranking.csv/md."""
    if mode not in MODES:
        raise ConfigError(
            "mode", f"unknown selection mode {mode!r} (known: {', '.join(MODES)})", source="select"
        )
    if not results_dirs:
        raise IacsieveError("no results directories to select from")
    ranked = rank_runs([read_summary(d) for d in results_dirs])
    chosen = pick(ranked, mode)
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
        row["selected"] = row is chosen
    selected = {
        k: chosen[k]
        for k in (
            "run",
            "family",
            "run_dir",
            "results_dir",
            "config",
            "use_context",
            "threshold",
            "threshold_source",
            "val_f1",
            "test",
            "rank",
        )
    }
    selection = {"mode": mode, "stage": stage, "selected": selected, "runs": ranked}
    if mode == "median":
        selection["median_val_f1"] = chosen["val_f1"]
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / RANKING_CSV, ranking_csv(ranked))
    atomic_write_text(out_dir / RANKING_MD, ranking_markdown(ranked, mode))
    write_artifact(WINNER, out_dir / WINNER_FILE, {"stage": stage, **{k: chosen[k] for k in WINNER_KEYS}})
    write_artifact(
        SELECTION, out_dir / SELECTION_FILE, selection
    )  # last: its presence marks a complete selection
    return selection


def _flat(row: dict) -> dict:
    flat = {
        "rank": row["rank"],
        "run": row["run"],
        "family": row["family"],
        "val_f1": row["val_f1"],
        "val_fp_reduction": row["val_fp_reduction"],
        "val_tp_retention": row["val_tp_retention"],
    }
    for name in TEST_SETS:
        flat[f"test_f1_{name}"] = row["test"].get(name, {}).get("f1")
    combined = row["test"].get("combined", {})
    flat["test_fp_reduction"] = combined.get("fp_reduction")
    flat["test_tp_retention"] = combined.get("tp_retention")
    flat.update(
        {
            "training_cost": row["samples_seen"],
            "threshold": row["threshold"],
            "threshold_source": row["threshold_source"],
            "selected": row["selected"],
            "results_dir": row["results_dir"],
        }
    )
    return flat


def ranking_csv(ranked: list[dict]) -> str:
    """All runs, one row each, val and test metrics (CSV, for spreadsheets and DVC plots)."""
    buffer = io.StringIO()
    rows = [_flat(r) for r in ranked]
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def ranking_markdown(ranked: list[dict], mode: str) -> str:
    """A readable table of all runs; the chosen run is marked. Test columns are for reporting only."""

    def num(value: object, fmt: str = ".4f") -> str:
        return format(value, fmt) if is_number(value) else "—"

    head = [
        "#",
        "run",
        "family",
        "val F1",
        *(f"test F1 {s}" for s in TEST_SETS),
        "FP reduction (test)",
        "TP retention (test)",
        "training cost (rows x epochs)",
        "threshold",
        "",
    ]
    lines = [
        f"Runs ranked by validation F1 (mode: {mode}); test metrics are reported, never used to choose.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in ranked:
        flat = _flat(row)
        cells = [
            str(flat["rank"]),
            flat["run"],
            flat["family"],
            num(flat["val_f1"]),
            *(num(flat[f"test_f1_{s}"]) for s in TEST_SETS),
            num(flat["test_fp_reduction"]),
            num(flat["test_tp_retention"]),
            num(flat["training_cost"], "d"),
            num(flat["threshold"], ".2f"),
            "**selected**" if flat["selected"] else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
