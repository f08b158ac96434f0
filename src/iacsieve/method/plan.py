"""The four-stage method, stated once: what each stage runs, what each step consumes, what a run
builds on, how the stage selects, and whether it freezes.

Both runners interpret this table and nothing else: `iacsieve.method.dvc` (the commands dvc.yaml
calls) and `iacsieve.kfp.graph` (the KFP pipelines). Neither knows a stage's recipe by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from iacsieve.core import layout

Rule = Literal["argmax", "threshold", "frozen"]
BuildsOn = Literal["nothing", "winner", "champion"]
SelectionMode = Literal["best", "median"]

# Grid lists a params block may hold, and the run setting each one sets.
RUN_LISTS: dict[str, str] = {
    "families": "family",
    "learning_rates": "learning_rate",
    "batch_sizes": "batch_size",
    "epochs": "epochs",
    "weight_decays": "weight_decay",
}
SEED_LISTS: dict[str, str] = {"seeds": "seed"}


@dataclass(frozen=True)
class StagePlan:
    """One stage of the method.

    `builds_on`: where a run's settings start. `nothing`: params defaults < family overrides < the
    grid point (the grid names every value, so run names are known before training). `winner`:
    the previous stage's winner (`winner.json`) < the point's overrides. `champion`: the previous
    stage's frozen champion (its config, and its threshold for the `frozen` rule).
    """

    number: int
    purpose: str
    decision_rule: Rule
    builds_on: BuildsOn
    lists: dict[str, str]  # grid lists this stage's params block may hold
    required_lists: tuple[str, ...]
    selection_mode: SelectionMode
    freezes: bool
    seed_in_run_name: bool = False

    @property
    def sweeps(self) -> bool:
        """Whether each run gets a validation threshold sweep (its own threshold)."""
        return self.decision_rule == "threshold"

    @property
    def evaluate_consumes(self) -> str | None:
        """What evaluate reads besides the run's scores: the run's sweep, the champion's threshold, or nothing."""
        return {"argmax": None, "threshold": "sweep", "frozen": "champion"}[self.decision_rule]

    @property
    def previous(self) -> int | None:
        """The stage whose output a run builds on (None for stages that build on nothing)."""
        return None if self.builds_on == "nothing" else self.number - 1


PLAN: dict[int, StagePlan] = {
    1: StagePlan(
        1,
        "broad candidates: which model family?",
        "argmax",
        "nothing",
        RUN_LISTS,
        tuple(RUN_LISTS),
        "best",
        freezes=False,
    ),
    2: StagePlan(
        2,
        "focused tuning: learning rates, batch sizes, weight decay",
        "argmax",
        "nothing",
        RUN_LISTS,
        tuple(RUN_LISTS),
        "best",
        freezes=False,
    ),
    3: StagePlan(
        3,
        "final sweep: the stage-2 winner + a validation-F1 threshold",
        "threshold",
        "winner",
        {k: v for k, v in RUN_LISTS.items() if k != "families"},
        (),
        "best",
        freezes=True,
    ),
    4: StagePlan(
        4,
        "multi-seed stability at the frozen stage-3 threshold",
        "frozen",
        "champion",
        SEED_LISTS,
        ("seeds",),
        "median",
        freezes=True,
        seed_in_run_name=True,
    ),
}
STAGES: tuple[int, ...] = tuple(PLAN)
FINAL_STAGE = STAGES[-1]


def champion_dir(stage: int, root: str | Path = ".") -> Path:
    """Where a stage's frozen champion lives: the final stage's is THE champion (`models/champion`)."""
    if stage == FINAL_STAGE:
        return Path(root) / layout.CHAMPION_DIR
    return layout.stage_champion_dir(stage, root)


def sweep_stage() -> int:
    """The stage whose frozen champion carries the validation threshold sweep (the plots show it)."""
    return next(n for n, p in PLAN.items() if p.sweeps and p.freezes)


def stage_plan(number: int) -> StagePlan:
    from iacsieve.core.errors import ConfigError

    if number not in PLAN:
        raise ConfigError(
            "stage", f"no stage {number!r} (stages: {', '.join(map(str, STAGES))})", source="plan"
        )
    return PLAN[number]
