"""The task keys of the tasks whose outputs are read back from a finished run (`--from-run`).

KFP's launcher writes a task's outputs under `<run root>/<task>/<uuid>/<output>`, where `<task>` is
the task's key in its DAG (backend/src/v2/driver/driver.go `provisionOutputs`, given `opts.TaskName`
on master; `taskInfo.name`, the display name, in earlier releases). Keys are unique only within one
DAG, so two stages' `freeze` tasks (each inside its own `freeze-chosen` sub-DAG) would share one
path. In the all-stages pipeline every read-back task is therefore keyed *and* displayed
`s<N>-<step>`, unique across the whole graph on every backend; a one-stage pipeline keeps `<step>`.
"""

from __future__ import annotations

ALL_STAGES_PIPELINE = "iacsieve-all-stages"
READ_BACK_STEPS: tuple[str, ...] = ("select", "freeze")


def pipeline_name(stage: int | str) -> str:
    """The compiled pipeline's name (`pipelineInfo.name`): a stage's, or the all-stages one."""
    return ALL_STAGES_PIPELINE if stage == "all" else f"iacsieve-stage{stage}"


def read_back_key(step: str, stage: int | None) -> str:
    """The key (and display name) of `step`'s task: `s<stage>-<step>` in the all-stages pipeline
    (`stage` given), `<step>` in a one-stage pipeline."""
    return f"s{stage}-{step}" if stage is not None else step
