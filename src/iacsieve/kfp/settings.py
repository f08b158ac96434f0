"""What a pipeline is compiled from, read once at compile time from params.yaml.

`iacsieve.method.params` validates the file (one config for DVC and KFP) and `iacsieve.method.plan`
says what each stage does; this module resolves each stage's grid into run settings (stages that
build on nothing) or override points (stages that build on the previous stage's output).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from iacsieve.core.layout import PARAMS_FILE
from iacsieve.method.grid import stage_runs
from iacsieve.method.params import ClusterParams, Params, SweepParams, load_params
from iacsieve.method.plan import STAGES, StagePlan, stage_plan


@dataclass(frozen=True)
class StageSettings:
    """Everything one stage's part of a pipeline is compiled from."""

    plan: StagePlan
    configs: list[str]  # resolved run settings (JSON), for stages that build on nothing
    points: list[str]  # grid points (JSON) to resolve at run time, for the others
    sweep: SweepParams
    bootstrap_samples: int
    bootstrap_seed: int
    cluster: ClusterParams

    @property
    def runs(self) -> int:
        return len(self.configs) or len(self.points)


@dataclass(frozen=True)
class CompileSettings:
    profile: str
    image: str
    stages: dict[int, StageSettings]
    cluster: ClusterParams
    human_json: str  # params.yaml's `human:` block, for the training-data task (when human labels are given)


def stage_settings(params: Params, stage: int) -> StageSettings:
    plan = stage_plan(stage)
    as_json = lambda d: json.dumps(d, sort_keys=True)  # noqa: E731 (strings: dict items' ints would become floats)
    if plan.builds_on == "nothing":
        configs, points = [as_json(c.to_dict()) for _, c in stage_runs(params, stage)], []
    else:
        configs, points = [], [as_json(p) for p in params.stage(stage).grid_points()]
    return StageSettings(
        plan=plan,
        configs=configs,
        points=points,
        sweep=params.threshold_sweep,
        bootstrap_samples=params.evaluation.bootstrap_samples,
        bootstrap_seed=params.evaluation.bootstrap_seed,
        cluster=params.cluster,
    )


def compile_settings(
    params_path: str | Path = PARAMS_FILE, profile: str | None = None, image: str | None = None
) -> CompileSettings:
    params = load_params(params_path, profile=profile)
    return CompileSettings(
        profile=params.profile,
        image=image or params.cluster.image,
        stages={n: stage_settings(params, n) for n in STAGES},
        cluster=params.cluster,
        human_json=json.dumps(asdict(params.human), sort_keys=True),
    )
