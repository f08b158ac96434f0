"""The KFP pipelines: one per stage and one for the whole method, built by interpreting the stage
plan (`iacsieve.method.plan`) — which rule, whether runs sweep, what a run builds on, how the stage
selects, whether it freezes. Nothing here knows a stage's recipe by itself.

A stage: [resolve ->] train -> [threshold-sweep ->] evaluate, in a ParallelFor over its grid ->
select (over the collected evaluations) [-> freeze the chosen run, imported by its URI]. Train
tasks take only the data and their resolved settings (cache-stable: an unrelated params.yaml
edit changes no train task's inputs); sweep and evaluate read the small `scores` artifact, never
the weights. Per-stage pipelines take an earlier stage's output by URI (for resuming); the
all-stages pipeline wires stage N's output into stage N+1 in-graph.
(No `from __future__ import annotations`: KFP reads the pipeline functions' annotations as types.)
"""

from pathlib import Path
from typing import NamedTuple

from kfp import dsl, kubernetes

from iacsieve.kfp.components import StepComponents, build_components
from iacsieve.kfp.settings import CompileSettings, StageSettings, compile_settings
from iacsieve.method.plan import FINAL_STAGE, STAGES, stage_plan

ALL = "all"
SHM_VOLUME = "dshm"
StageOutputs = NamedTuple("StageOutputs", [("selection", dsl.Artifact)])
FrozenOutputs = NamedTuple("FrozenOutputs", [("selection", dsl.Artifact), ("champion", dsl.Model),
                                             ("card", dsl.Artifact)])
# What a stage's pipeline takes from an earlier stage, by what the plan says it builds on.
BASE_INPUTS: dict[str, str] = {"winner": "selection_uri", "champion": "champion_uri"}


def pipeline_name(stage: "int | str") -> str:
    return "iacsieve-all-stages" if stage == ALL else f"iacsieve-stage{stage}"


def stage_inputs(stage: "int | str") -> list[str]:
    """The pipeline parameters of a stage's pipeline (the all-stages pipeline takes only the data)."""
    builds_on = "nothing" if stage == ALL else stage_plan(int(stage)).builds_on
    return ["data_uri"] + ([BASE_INPUTS[builds_on]] if builds_on in BASE_INPUTS else [])


def build_pipeline(stage: "int | str", params_path: "str | Path" = "params.yaml", profile: "str | None" = None, *,
                   image: "str | None" = None, cluster: "bool | None" = None):
    """A stage's pipeline, or the whole method's (`stage="all"`): a KFP GraphComponent to compile,
    submit, or call under kfp.local.

    `cluster` adds the GPU, CPU/memory, node selector, tolerations and /dev/shm settings to train
    tasks; by default it is on for every profile but `local` (kfp.local ignores them anyway).
    """
    settings = compile_settings(params_path, profile, image=image)
    on_cluster = settings.profile != "local" if cluster is None else cluster
    components = build_components(settings.image)
    if stage == ALL:
        return _all_stages(settings, components, on_cluster)
    return _one_stage(int(stage), settings, components, on_cluster)


def _stage_tasks(s: StageSettings, c: StepComponents, prepared, base, on_cluster: bool) -> dict:
    """One stage's tasks inside an enclosing pipeline; returns its outputs (selection [, champion, card])."""
    plan, n = s.plan, s.plan.number
    with dsl.ParallelFor(s.configs or s.points, parallelism=s.cluster.parallelism) as item:
        if plan.builds_on == "nothing":
            config = item
        else:
            config = c.resolve(base=base, stage=n, point_json=item).set_display_name(f"s{n}-resolve").output
        train = c.train(data=prepared, config_json=config, stage=n)
        train.set_display_name(f"s{n}-train").set_retry(num_retries=s.cluster.retries)
        if on_cluster:
            apply_train_resources(train, s)
        rule_inputs = {}
        if plan.sweeps:
            sweep = c.threshold_sweep(scores=train.outputs["scores"], start=s.sweep.start, stop=s.sweep.stop,
                                      step=s.sweep.step).set_display_name(f"s{n}-threshold-sweep")
            rule_inputs["sweep"] = sweep.outputs["sweep"]
        if plan.evaluate_consumes == "champion":
            rule_inputs["champion"] = base
        evaluation = c.evaluate(scores=train.outputs["scores"], rule=plan.decision_rule,
                                bootstrap_samples=s.bootstrap_samples, bootstrap_seed=s.bootstrap_seed,
                                **rule_inputs).set_display_name(f"s{n}-evaluate")
    selected = c.select(evaluations=dsl.Collected(evaluation.outputs["evaluation"]), mode=plan.selection_mode,
                        stage=f"stage{n}").set_display_name(f"s{n}-select")
    outputs = {"selection": selected.outputs["selection"]}
    if plan.freezes:
        run = dsl.importer(artifact_uri=selected.outputs["run_uri"], artifact_class=dsl.Model, reimport=False)
        run.set_display_name(f"s{n}-chosen-run")
        frozen = c.freeze(selection=selected.outputs["selection"], run=run.output,
                          data=prepared).set_display_name(f"s{n}-freeze")
        outputs.update(champion=frozen.outputs["champion"], card=frozen.outputs["card"])
    return outputs


def _prepared(c: StepComponents, data_uri: str):
    raw = dsl.importer(artifact_uri=data_uri, artifact_class=dsl.Dataset, reimport=False)
    raw.set_display_name("raw-data")
    return c.prepare(raw=raw.output).set_display_name("prepare").outputs["prepared"]


def _returned(outputs: dict):
    if "champion" in outputs:
        return FrozenOutputs(selection=outputs["selection"], champion=outputs["champion"], card=outputs["card"])
    return StageOutputs(selection=outputs["selection"])


def _one_stage(n: int, settings: CompileSettings, c: StepComponents, on_cluster: bool):
    s = settings.stages[n]
    plan = s.plan

    def body(data_uri: str, base_uri: "str | None" = None):
        prepared = _prepared(c, data_uri)
        base = None
        if base_uri is not None:
            base = dsl.importer(artifact_uri=base_uri, artifact_class=dsl.Artifact, reimport=False)
            base.set_display_name(f"stage{plan.previous}-{plan.builds_on}")
            base = base.output
        return _returned(_stage_tasks(s, c, prepared, base, on_cluster))

    returns = FrozenOutputs if plan.freezes else StageOutputs
    # One signature per kind of stage: KFP reads a pipeline's parameters and outputs from its function.
    if plan.builds_on == "winner":
        def func(data_uri: str, selection_uri: str) -> returns:
            return body(data_uri, selection_uri)
    elif plan.builds_on == "champion":
        def func(data_uri: str, champion_uri: str) -> returns:
            return body(data_uri, champion_uri)
    else:
        def func(data_uri: str) -> returns:
            return body(data_uri)
    func.__name__ = f"stage{n}"
    description = (f"iacsieve stage {n} ({settings.profile} profile): {plan.purpose}; {s.runs} runs, "
                   f"decision rule {plan.decision_rule}, selection {plan.selection_mode}")
    return dsl.pipeline(name=pipeline_name(n), description=description)(func)


def _all_stages(settings: CompileSettings, c: StepComponents, on_cluster: bool):
    def all_stages(data_uri: str) -> FrozenOutputs:
        prepared = _prepared(c, data_uri)
        outputs: dict[int, dict] = {}
        for n in STAGES:
            plan = settings.stages[n].plan
            base = None
            if plan.builds_on == "winner":
                base = outputs[plan.previous]["selection"]
            elif plan.builds_on == "champion":
                base = outputs[plan.previous]["card"]
            outputs[n] = _stage_tasks(settings.stages[n], c, prepared, base, on_cluster)
        return _returned(outputs[FINAL_STAGE])

    sizes = ", ".join(f"stage {n}: {s.runs} runs" for n, s in settings.stages.items())
    return dsl.pipeline(name=pipeline_name(ALL),
                        description=f"iacsieve, the whole method ({settings.profile} profile): {sizes}")(all_stages)


def apply_train_resources(task: dsl.PipelineTask, s: StageSettings) -> dsl.PipelineTask:
    """GPU, CPU/memory requests and limits, node selector, tolerations and a memory-backed /dev/shm."""
    r = s.cluster.train_resources
    if r.gpu > 0:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(r.gpu)
    task.set_cpu_request(r.cpu_request).set_cpu_limit(r.cpu_limit)
    task.set_memory_request(r.memory_request).set_memory_limit(r.memory_limit)
    for key, value in s.cluster.node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for toleration in s.cluster.tolerations:
        kubernetes.add_toleration(task, **toleration)
    # PyTorch's DataLoader workers share tensors through /dev/shm, which is 64 MiB in a default pod.
    kubernetes.empty_dir_mount(task, volume_name=SHM_VOLUME, mount_path="/dev/shm", medium="Memory",
                               size_limit=r.shm_size)
    return task
