"""One KFP pipeline per stage, built from params.yaml: prepare -> ParallelFor(train [-> sweep] -> evaluate)
-> select (over the collected evaluations) [-> freeze].

Stage inputs that come from an earlier stage are URIs (pipeline parameters) imported as typed
artifacts: stages 2-3 build on the previous stage's selection; stage 4 on the stage-3 champion,
whose config it re-seeds and whose frozen threshold it applies (both read from the same artifact).
(No `from __future__ import annotations`: KFP reads the pipeline functions' annotations as types.)
"""

import json
from pathlib import Path
from typing import NamedTuple

from kfp import dsl, kubernetes

from iacsieve.kfp.components import StepComponents, build_components
from iacsieve.kfp.settings import StageSettings, stage_settings

FREEZE_STAGES: frozenset[int] = frozenset({3, 4})
# What a stage's run hands on: the selection (every stage) and the frozen champion (stages 3, 4).
FrozenOutputs = NamedTuple("FrozenOutputs", [("selection", dsl.Artifact), ("champion", dsl.Model)])
SHM_VOLUME = "dshm"


def pipeline_name(stage: int) -> str:
    return f"iacsieve-stage{stage}"


def build_pipeline(stage: int, params_path: "str | Path" = "params.yaml", profile: "str | None" = None, *,
                   image: "str | None" = None, cluster: "bool | None" = None):
    """The stage's pipeline (a KFP GraphComponent: compile it, submit it, or call it under kfp.local).

    `cluster` adds the GPU, CPU/memory, node selector, tolerations and /dev/shm settings to train
    tasks; by default it is on for every profile but `local` (kfp.local ignores them anyway).
    """
    settings = stage_settings(stage, params_path, profile, image=image)
    on_cluster = settings.profile != "local" if cluster is None else cluster
    return _graph(settings, build_components(settings.image), on_cluster)


def _graph(s: StageSettings, c: StepComponents, on_cluster: bool):
    points = [json.dumps(p, sort_keys=True) for p in s.grid]  # strings: a dict item's ints would become floats

    def body(data_uri: str, selection_uri: str | None = None, champion_uri: str | None = None):
        raw = dsl.importer(artifact_uri=data_uri, artifact_class=dsl.Dataset, reimport=False)
        raw.set_display_name("raw-data")
        prepared = c.prepare(raw=raw.output).set_display_name("prepare")
        previous = champion = None
        if selection_uri is not None:
            previous = dsl.importer(artifact_uri=selection_uri, artifact_class=dsl.Artifact, reimport=False)
            previous.set_display_name(f"stage{s.stage - 1}-selection")
        if champion_uri is not None:
            previous = champion = dsl.importer(artifact_uri=champion_uri, artifact_class=dsl.Model, reimport=False)
            champion.set_display_name("stage3-champion")

        with dsl.ParallelFor(points, parallelism=s.cluster.parallelism) as point:
            extra = {"previous": previous.output} if previous is not None else {}
            train = c.train(data=prepared.outputs["prepared"], params_json=s.params_json, profile=s.profile_arg,
                            stage=s.stage, point_json=point, **extra)
            train.set_display_name("train").set_retry(num_retries=s.cluster.retries)
            if on_cluster:
                apply_train_resources(train, s)
            rule_inputs = {}
            if s.decision_rule == "threshold":
                sweep = c.threshold_sweep(run=train.outputs["run"], **s.sweep).set_display_name("threshold-sweep")
                rule_inputs["sweep"] = sweep.outputs["sweep"]
            if s.decision_rule == "frozen":
                rule_inputs["champion"] = champion.output
            evaluation = c.evaluate(run=train.outputs["run"], rule=s.decision_rule,
                                    bootstrap_samples=s.bootstrap_samples, bootstrap_seed=s.bootstrap_seed,
                                    **rule_inputs).set_display_name("evaluate")

        selected = c.select(evaluations=dsl.Collected(evaluation.outputs["evaluation"]),
                            mode=s.select_mode, stage=f"stage{s.stage}").set_display_name("select")
        if s.stage not in FREEZE_STAGES:
            return selected.outputs["selection"]
        frozen = c.freeze(selection=selected.outputs["selection"], runs=dsl.Collected(train.outputs["run"]),
                          data=prepared.outputs["prepared"]).set_display_name("freeze")
        return FrozenOutputs(selection=selected.outputs["selection"], champion=frozen.outputs["champion"])

    name = pipeline_name(s.stage)
    description = (f"iacsieve stage {s.stage} ({s.profile} profile): {len(s.grid)} runs, "
                   f"decision rule {s.decision_rule}, selection {s.select_mode}")
    # One signature per stage: KFP reads a pipeline's parameters and outputs from its function.
    if s.stage == 1:
        def stage1(data_uri: str) -> dsl.Artifact:
            return body(data_uri)
        func = stage1
    elif s.stage == 2:
        def stage2(data_uri: str, selection_uri: str) -> dsl.Artifact:
            return body(data_uri, selection_uri)
        func = stage2
    elif s.stage == 3:
        def stage3(data_uri: str, selection_uri: str) -> FrozenOutputs:
            return body(data_uri, selection_uri)
        func = stage3
    else:
        def stage4(data_uri: str, champion_uri: str) -> FrozenOutputs:
            return body(data_uri, champion_uri=champion_uri)
        func = stage4
    return dsl.pipeline(name=name, description=description)(func)


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
