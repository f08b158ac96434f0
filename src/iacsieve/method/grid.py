"""Grid points -> run settings and run names, for both runners.

A run's settings are resolved BEFORE it is named, so every run directory reads
`<family>_lr<lr>_bs<bs>_ep<ep>_wd<wd>[_seed<s>]` with real values, in DVC and KFP alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iacsieve.core import layout
from iacsieve.core.artifacts import WINNER, read_artifact
from iacsieve.core.errors import ConfigError
from iacsieve.core.run_config import TrainConfig
from iacsieve.method.params import Params
from iacsieve.method.plan import stage_plan


def read_base(
    path: str | Path, *, hint: str = "give a select task's `selection` or a freeze task's `card`/`champion`"
) -> dict:
    """What a stage builds on, for both runners: a selection's winner.json or a champion.json, given as
    the file or the folder holding it (a DVC output or a KFP artifact)."""
    from iacsieve.steps.freeze import load_champion

    path = Path(path)
    if path.name == layout.CHAMPION_FILE or (path / layout.CHAMPION_FILE).is_file():
        return load_champion(path)
    return read_artifact(WINNER, path if path.suffix == ".json" else path / layout.WINNER_FILE, hint=hint)


def base_config(base: dict | None, *, stage: int) -> dict:
    """The run settings a stage builds on: a `winner.json`'s or a `champion.json`'s `config`."""
    config = base.get("config") if isinstance(base, dict) else None
    if not isinstance(config, dict):
        plan = stage_plan(stage)
        raise ConfigError(
            f"stage{stage}", f"needs the stage-{plan.previous} {plan.builds_on} (its `config`)", source="plan"
        )
    return config


def resolve_run_config(
    params: Params, stage: int, point: dict[str, Any], base: dict | None = None
) -> TrainConfig:
    """The TrainConfig of one grid point: defaults < families.<family> < point for stages that
    build on nothing; the previous winner's/champion's config < point otherwise."""
    if stage_plan(stage).builds_on != "nothing":
        return resolve_from_base(stage, point, base)
    family = point.get("family")
    if family is None:
        raise ConfigError(f"stage{stage}.families", "a run needs a family", source=params.source)
    values = {**params.defaults, **params.families.get(family, {}), **point}
    return TrainConfig.from_dict(values, where=f"stage{stage}")


def resolve_from_base(stage: int, point: dict[str, Any], base: dict | None) -> TrainConfig:
    """The settings of a point of a stage that builds on the previous winner/champion (no params
    needed: what a KFP `resolve` task computes at run time from the previous stage's artifact)."""
    return TrainConfig.from_dict({**base_config(base, stage=stage), **point}, where=f"stage{stage}")


def run_name(stage: int, config: TrainConfig) -> str:
    """A run's name (and directory name): its resolved settings; stage 4's names carry the seed."""
    return config.run_name(with_seed=stage_plan(stage).seed_in_run_name)


def stage_runs(params: Params, stage: int, base: dict | None = None) -> list[tuple[str, TrainConfig]]:
    """(run name, settings) of every point of the stage's grid, in grid order."""
    runs = [resolve_run_config(params, stage, p, base) for p in params.stage(stage).grid_points()]
    return [(run_name(stage, c), c) for c in runs]


def known_run_names(params: Params, stage: int) -> list[str] | None:
    """Run names knowable before training (stages that build on nothing), else None."""
    if stage_plan(stage).builds_on != "nothing":
        return None
    return [name for name, _ in stage_runs(params, stage)]
