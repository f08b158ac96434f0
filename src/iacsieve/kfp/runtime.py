"""Glue the component bodies share: turning KFP's typed artifacts into the library's paths and back.

Everything here runs inside a component's container (or a kfp.local subprocess). It knows about
artifact layouts, never about models or metrics: the steps themselves are the library functions.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError

RUN_REF_FILE = "run_ref.json"  # {"run", "uri"}: which Model artifact a scores/evaluation artifact belongs to


def champion_file(artifact_path: str | Path) -> Path:
    return Path(artifact_path) / layout.CHAMPION_FILE


def publish_scores(run_dir: Path, scores_path: str | Path, *, run_uri: str) -> None:
    """Copy a run's small files (settings, score files, log) into its `scores` artifact."""
    out = Path(scores_path)
    out.mkdir(parents=True, exist_ok=True)
    for name in layout.SCORE_FILES:
        shutil.copy(run_dir / name, out / name)
    (out / RUN_REF_FILE).write_text(json.dumps({"run": run_dir.name, "uri": run_uri}), encoding="utf-8")


def carry_run_ref(scores_path: str | Path, evaluation_path: str | Path) -> None:
    shutil.copy(Path(scores_path) / RUN_REF_FILE, Path(evaluation_path) / RUN_REF_FILE)


def chosen_run_uri(selected: dict) -> str:
    """The Model artifact URI of a selection's chosen run (recorded beside its evaluation)."""
    ref = Path(selected["results_dir"]) / RUN_REF_FILE
    try:
        return json.loads(ref.read_text(encoding="utf-8"))["uri"]
    except (OSError, ValueError, KeyError) as exc:
        raise IacsieveError(f"{ref}: unreadable run reference ({exc})") from None


def headline_metrics(summary: dict) -> dict[str, float]:
    """The numbers the KFP UI shows for an evaluated run, a selection or a champion (the DVC metrics' shape)."""
    from iacsieve.steps.metrics import headline

    val = summary.get("val") or ({"f1": summary["val_f1"]} if "val_f1" in summary else None)
    return headline(summary.get("threshold"), val, (summary.get("test") or {}).get("combined"))


def log_headline(metrics: Any, summary: dict) -> dict[str, float]:
    """`Metrics.log_metric` each headline number (KFP writes them to the run's metrics view)."""
    values = headline_metrics(summary)
    for name, value in values.items():
        metrics.log_metric(name, value)
    return values
