"""What a stage's pipeline is built from, read once at compile time from params.yaml.

`iacsieve.method.params` validates the file (one config for DVC and KFP); this module only picks out the
values the pipeline graph needs, and the params mapping that travels to the train tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iacsieve.method.params import STAGES, ClusterParams, load_params, read_yaml
from iacsieve.errors import ConfigError
from iacsieve.method.dvc import SELECTION_MODES  # the same choice per stage as DVC's `iacsieve stage-select`


@dataclass(frozen=True)
class StageSettings:
    """Everything one stage's pipeline is compiled from."""

    stage: int
    profile: str  # the profile the grids came from (params.yaml's `profile:` when none was asked for)
    profile_arg: str  # what train tasks pass to parse_params: the asked-for profile, "" for the top-level grids
    params_json: str  # the whole params.yaml mapping, passed to train tasks as a constant
    grid: list[dict[str, Any]]
    decision_rule: str
    select_mode: str
    sweep: dict[str, float]
    bootstrap_samples: int
    bootstrap_seed: int
    image: str
    cluster: ClusterParams


def stage_settings(stage: int, params_path: str | Path = "params.yaml", profile: str | None = None,
                   image: str | None = None) -> StageSettings:
    """Load params.yaml with `profile` applied (None: the active top-level grids) and pick a stage's settings."""
    if stage not in STAGES:
        raise ConfigError("stage", f"must be one of {', '.join(map(str, STAGES))}, got {stage!r}", source="kfp")
    params = load_params(params_path, profile=profile)
    block = params.stage(stage)
    grid = block.grid_points()
    if not grid:
        raise ConfigError(f"stage{stage}", "the grid is empty: nothing to train", source=params_path)
    return StageSettings(
        stage=stage,
        profile=params.profile,
        profile_arg=profile or "",
        params_json=json.dumps(read_yaml(params_path), sort_keys=True),
        grid=grid,
        decision_rule=block.decision_rule,
        select_mode=SELECTION_MODES[stage],
        sweep=params.threshold_sweep.to_dict(),
        bootstrap_samples=params.evaluation.bootstrap_samples,
        bootstrap_seed=params.evaluation.bootstrap_seed,
        image=image or params.cluster.image,
        cluster=params.cluster,
    )
