"""Glue the component bodies share: turning KFP's typed artifacts into the library's paths and back.

Everything here runs inside a component's container (or a kfp.local subprocess). It knows about
artifact layouts, never about models or metrics: the steps themselves are the library functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from iacsieve.errors import IacsieveError

def params_from_json(params_json: str, profile: str | None = None):
    """Rebuild `iacsieve.method.params.Params` from the params.yaml mapping a pipeline was compiled with.

    The same validation as `load_params`, so a component resolves a run exactly as DVC does.
    """
    from iacsieve.method.params import parse_params

    return parse_params(json.loads(params_json), profile=profile or None, source="params.yaml (compiled)")


def selection_file(artifact_path: str | Path) -> Path:
    """The `selection.json` inside a select task's output artifact (a directory)."""
    from iacsieve.steps.selection import SELECTION_FILE

    return Path(artifact_path) / SELECTION_FILE


def read_previous(artifact: Any | None) -> dict | None:
    """What a run builds on (None in stage 1): a select task's `selection.json`, or a champion's
    `champion.json` (stage 4); `iacsieve.method.params.resolve_run_config` reads the config from either."""
    from iacsieve.steps.freeze import CHAMPION_FILE, load_champion
    from iacsieve.steps.metrics import read_json_object

    if artifact is None:
        return None
    folder = Path(artifact.path)
    if (folder / CHAMPION_FILE).is_file():
        return load_champion(folder)
    return read_json_object(selection_file(folder), hint="give a select task's `selection` or a freeze task's `champion`")


def run_dir_in(model_path: str | Path) -> Path:
    """The run directory a train task wrote inside its Model artifact.

    Why a sub-directory: the library names a run by its directory (`<family>_lr..._wd...`), and a
    KFP output path always ends in the output's name, so the run lives one level down.
    """
    root = Path(model_path)
    runs = sorted(p for p in root.iterdir() if p.is_dir() and (p / "config_used.yaml").is_file()) if root.is_dir() else []
    if len(runs) != 1:
        raise IacsieveError(f"{root}: expected exactly one run directory (with config_used.yaml), found {len(runs)}")
    return runs[0]


def headline_metrics(summary: dict) -> dict[str, float]:
    """The numbers the KFP UI shows for an evaluated run or a champion: val/test F1 and FP reduction."""
    test = summary.get("test", {}).get("combined", {})
    val = summary.get("val", {})
    values = {
        "threshold": summary.get("threshold"),
        "val_f1": val.get("f1", summary.get("val_f1")),
        "val_fp_reduction": val.get("fp_reduction"),
        "test_f1": test.get("f1"),
        "test_fp_reduction": test.get("fp_reduction"),
        "test_tp_retention": test.get("tp_retention"),
    }
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def log_headline(metrics: Any, summary: dict) -> dict[str, float]:
    """`Metrics.log_metric` each headline number (KFP writes them to the run's metrics view)."""
    values = headline_metrics(summary)
    for name, value in values.items():
        metrics.log_metric(name, value)
    return values


def check_selected_run(selection_path: str | Path, run_paths: list[str]) -> Path:
    """The selected run dir, checked to be one of this stage's train outputs (a stale selection fails)."""
    selected = json.loads(Path(selection_path).read_text(encoding="utf-8"))["selected"]["run_dir"]
    selected_path = Path(selected).resolve()
    if not any(selected_path.parent == Path(p).resolve() for p in run_paths):
        raise IacsieveError(f"{selection_path}: selected run_dir {selected} is not an output of this stage's train tasks")
    return selected_path
