"""The KFP pipelines: one per stage and one for the whole method, built by interpreting the stage
plan (`iacsieve.method.plan`) — which rule, whether runs sweep, what a run builds on, how the stage
selects, whether it freezes. Nothing here knows a stage's recipe by itself.

A stage: [resolve ->] train -> [threshold-sweep ->] evaluate, in a ParallelFor over its grid ->
select (over the collected evaluations) [-> freeze the chosen run, imported by its URI inside a
sub-DAG]. Shaped by what a real KFP backend runs (docs/kfp-backend-rules.md, checked by
`iacsieve.kfp.check` on every compiled spec): the importer of the chosen run takes its URI from its
own DAG's input (rule 1), evaluate and select never come from the cache (rule 2), and in the
all-stages pipeline a stage's grid waits for the previous stage's select (rule 4a). Train
tasks take only the data and their resolved settings (cache-stable: an unrelated params.yaml
edit changes no train task's inputs); sweep and evaluate read the small `scores` artifact, never
the weights. Per-stage pipelines take an earlier stage's output by URI (for resuming); the
all-stages pipeline wires stage N's output into stage N+1 in-graph.
(No `from __future__ import annotations`: KFP reads the pipeline functions' annotations as types.)
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from kfp import dsl

from iacsieve.core import layout
from iacsieve.kfp.components import StepComponents, build_components, named
from iacsieve.kfp.image_ref import pinned
from iacsieve.kfp.pods import configure_task
from iacsieve.kfp.settings import CompileSettings, StageSettings, compile_settings
from iacsieve.kfp.task_keys import pipeline_name, read_back_key
from iacsieve.method.cluster import PodSettings
from iacsieve.method.plan import FINAL_STAGE, STAGES, stage_plan

ALL = "all"
__all__ = ["ALL", "build_pipeline", "pipeline_name", "stage_inputs"]


class StageOutputs(NamedTuple):
    selection: dsl.Artifact


class FrozenOutputs(NamedTuple):
    selection: dsl.Artifact
    champion: dsl.Model
    card: dsl.Artifact


# What a stage's pipeline takes from an earlier stage, by what the plan says it builds on.
BASE_INPUTS: dict[str, str] = {"winner": "selection_uri", "champion": "champion_uri"}


def stage_inputs(stage: "int | str") -> list[str]:
    """The required pipeline parameters of a stage's pipeline (the all-stages pipeline takes only the
    data); every pipeline also takes `data_md5` (data.dvc's md5: prepare refuses other data)."""
    builds_on = "nothing" if stage == ALL else stage_plan(int(stage)).builds_on
    return ["data_uri"] + ([BASE_INPUTS[builds_on]] if builds_on in BASE_INPUTS else [])


def build_pipeline(
    stage: "int | str",
    params_path: "str | Path" = layout.PARAMS_FILE,
    profile: "str | None" = None,
    *,
    image: "str | None" = None,
    cluster: "bool | None" = None,
    human: bool = False,
    pin_image: bool = True,
) -> Any:
    """A stage's pipeline, or the whole method's (`stage="all"`): a KFP GraphComponent to compile,
    submit, or call under kfp.local.

    `cluster` adds the GPU, CPU/memory, node selector, tolerations and /dev/shm settings to train
    tasks; by default it is on for every profile but `local` (kfp.local ignores them anyway).
    `pin_image`: name the image by its source tag (`iacsieve.kfp.image_ref.pinned`), as a backend
    needs (its cache keys on the image string); kfp.local runs the image as given.
    `human`: runs train and select on the prepared data with your reviewers' labels applied (the
    labels store by the `human_uri` parameter; params.yaml's `human:` block says how), as DVC's
    training-data stage does; without it, on the prepared data (no labels: the same data).
    """
    settings = compile_settings(params_path, profile, image=image)
    on_cluster = settings.profile != "local" if cluster is None else cluster
    components = build_components(pinned(settings.image) if pin_image else settings.image)
    pods = settings.cluster.pods if on_cluster else None
    if stage == ALL:
        return on_a_short_stack(_all_stages, settings, components, on_cluster, human, pods)

    def one_stage() -> Any:
        freezer = freeze_chosen(components, pods)
        return _one_stage(int(stage), settings, components, on_cluster, human, freezer)

    return on_a_short_stack(one_stage)


def on_a_short_stack(build: Any, *args: Any) -> Any:
    """`build(*args)` on a fresh thread, whose stack holds only these frames.

    kfp 2.17's task setters (`set_cpu_limit`, `set_retry`, ...) call `inspect.stack()` only to name
    themselves in an error (`PipelineTask._ensure_container_spec_exists`); that reads every frame of
    the caller's stack and, for a frame of no module file (`<string>`: a test runner's or a
    launcher's exec'd code), scans all of `sys.modules`. With ~40 configured tasks a pipeline spent
    half its build there (2x under pytest-xdist's workers). A short stack makes each call cheap and
    touches nothing of kfp's.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="iacsieve-kfp-graph") as pool:
        return pool.submit(build, *args).result()


def _stage_tasks(
    s: StageSettings,
    c: StepComponents,
    prepared: Any,
    base: Any,
    on_cluster: bool,
    prefix: str = "",
    after: Any = None,
    freezer: Any = None,
    keyed: "int | None" = None,
) -> dict[str, Any]:
    """One stage's tasks inside an enclosing pipeline; returns its outputs (selection [, champion, card])
    and its select task (`_select`). `after`: a task every train task waits for (the previous
    stage's select), so two stages' GPU loops never run at once.

    Display names are the step names (`train`, `select`, ...: KFP's task names in a one-stage
    pipeline, which `--from-run` looks up), prefixed `s<N>-` in the all-stages pipeline, where
    `keyed` (the stage) also keys select `s<N>-select` (`iacsieve.kfp.task_keys`).
    Long because a `dsl.ParallelFor` body must be built inside its `with` block, in one scope.
    """
    plan, n = s.plan, s.plan.number

    def on_pod(task: Any, kind: str) -> Any:
        """Pod settings (resources, retries with backoff, GPU and weights for train) on a cluster only."""
        return configure_task(task, s.cluster.pods, kind) if on_cluster else task

    with dsl.ParallelFor(s.configs or s.points, parallelism=s.cluster.parallelism) as item:
        if plan.builds_on == "nothing":
            config = item
        else:
            resolve = c.resolve(base=base, stage=n, point_json=item).set_display_name(f"{prefix}resolve")
            config = on_pod(resolve, "light").output
        train = c.train(data=prepared, config_json=config, stage=n).set_display_name(f"{prefix}train")
        if after is not None:
            train.after(after)
        on_pod(train, "train")
        rule_inputs = {}
        if plan.sweeps:
            sweep = c.threshold_sweep(
                scores=train.outputs["scores"], start=s.sweep.start, stop=s.sweep.stop, step=s.sweep.step
            ).set_display_name(f"{prefix}threshold-sweep")
            on_pod(sweep, "light")
            rule_inputs["sweep"] = sweep.outputs["sweep"]
        if plan.evaluate_consumes == "champion":
            rule_inputs["champion"] = base
        evaluation = c.evaluate(
            scores=train.outputs["scores"],
            rule=plan.decision_rule,
            bootstrap_samples=s.bootstrap_samples,
            bootstrap_seed=s.bootstrap_seed,
            **rule_inputs,
        ).set_display_name(f"{prefix}evaluate")
        # Never from the cache: select's collected inputs must all lie under this run's prefix (rule 2).
        on_pod(evaluation, "light").set_caching_options(False)
    select = c.select if keyed is None else named(c.select, read_back_key("select", keyed))
    selected = select(
        evaluations=dsl.Collected(evaluation.outputs["evaluation"]),
        mode=plan.selection_mode,
        stage=f"stage{n}",
    ).set_display_name(read_back_key("select", keyed) if keyed is not None else f"{prefix}select")
    on_pod(selected, "light").set_caching_options(False)
    outputs = {"selection": selected.outputs["selection"], "_select": selected}
    if plan.freezes:
        frozen = freezer(
            selection=selected.outputs["selection"], run_uri=selected.outputs["run_uri"], data=prepared
        ).set_display_name(f"{prefix}freeze-chosen")
        outputs.update(champion=frozen.outputs["champion"], card=frozen.outputs["card"])
    return outputs


class Frozen(NamedTuple):
    champion: dsl.Model
    card: dsl.Artifact


def freeze_chosen(c: StepComponents, pods: "PodSettings | None", stage: "int | None" = None) -> Any:
    """A sub-DAG: import the chosen run by the URI it takes as an input, then freeze it.

    Built outside the enclosing pipeline (KFP refuses a pipeline defined inside another); `pods`:
    the cluster's pod settings, None off the cluster. The backend's importer resolves a runtime URI
    only from its parent DAG's inputs, never from a task output (rule 1); inside this DAG `run_uri`
    is such an input. The chosen run alone is downloaded, by KFP's launcher with the pipeline
    root's credentials. `stage` (the all-stages pipeline): one sub-DAG per stage whose freeze task
    is keyed `s<N>-freeze`, so two stages' champions never share an output path.
    """
    key = read_back_key("freeze", stage)
    freeze = c.freeze if stage is None else named(c.freeze, key)

    @dsl.pipeline(name=f"{'' if stage is None else f's{stage}-'}freeze-chosen")
    def sub(selection: dsl.Artifact, run_uri: str, data: dsl.Dataset) -> Frozen:
        run = dsl.importer(artifact_uri=run_uri, artifact_class=dsl.Model, reimport=False)
        run.set_display_name("chosen-run")
        frozen = freeze(selection=selection, run=run.output, data=data).set_display_name(key)
        if pods is not None:
            configure_task(frozen, pods, "light")
        return Frozen(champion=frozen.outputs["champion"], card=frozen.outputs["card"])

    return sub


def _prepared(
    c: StepComponents,
    data_uri: str,
    data_md5: str,
    human_uri: "str | None",
    settings: CompileSettings,
    on_cluster: bool,
) -> Any:
    """The raw data by URI, prepared (`data_md5`, data.dvc's or "" for none, is checked before a row
    is read), with the reviewers' labels at `human_uri` applied when it is given."""
    raw = dsl.importer(artifact_uri=data_uri, artifact_class=dsl.Dataset, reimport=False)
    raw.set_display_name("raw-data")
    prepare = c.prepare(raw=raw.output, expected_md5=data_md5).set_display_name("prepare")
    if on_cluster:
        configure_task(prepare, settings.cluster.pods, "light")
    if human_uri is None:
        return prepare.outputs["prepared"]
    labels = dsl.importer(artifact_uri=human_uri, artifact_class=dsl.Dataset, reimport=False)
    labels.set_display_name("human-labels")
    training = c.training_data(
        prepared=prepare.outputs["prepared"], human=labels.output, settings_json=settings.human_json
    ).set_display_name("training-data")
    if on_cluster:
        configure_task(training, settings.cluster.pods, "light")
    return training.outputs["training"]


def _returned(outputs: dict[str, Any]) -> Any:
    if "champion" in outputs:
        return FrozenOutputs(
            selection=outputs["selection"], champion=outputs["champion"], card=outputs["card"]
        )
    return StageOutputs(selection=outputs["selection"])


def _one_stage(
    n: int, settings: CompileSettings, c: StepComponents, on_cluster: bool, human: bool, freezer: Any
) -> Any:
    s = settings.stages[n]
    plan = s.plan

    def body(data_uri: str, data_md5: str, human_uri: str, base_uri: "str | None" = None) -> Any:
        prepared = _prepared(c, data_uri, data_md5, human_uri if human else None, settings, on_cluster)
        base = None
        if base_uri is not None:
            base = dsl.importer(artifact_uri=base_uri, artifact_class=dsl.Artifact, reimport=False)
            base.set_display_name(f"stage{plan.previous}-{plan.builds_on}")
            base = base.output
        return _returned(_stage_tasks(s, c, prepared, base, on_cluster, freezer=freezer))

    returns = FrozenOutputs if plan.freezes else StageOutputs
    # One signature per kind of stage: KFP reads a pipeline's parameters and outputs from its function.
    # `human_uri` is read only by a pipeline built with human=True.
    if plan.builds_on == "winner":

        def func(data_uri: str, selection_uri: str, data_md5: str = "", human_uri: str = "") -> returns:  # type: ignore[valid-type]
            return body(data_uri, data_md5, human_uri, selection_uri)
    elif plan.builds_on == "champion":

        def func(data_uri: str, champion_uri: str, data_md5: str = "", human_uri: str = "") -> returns:  # type: ignore[misc, valid-type]
            return body(data_uri, data_md5, human_uri, champion_uri)
    else:

        def func(data_uri: str, data_md5: str = "", human_uri: str = "") -> returns:  # type: ignore[misc, valid-type]
            return body(data_uri, data_md5, human_uri)

    func.__name__ = f"stage{n}"
    description = (
        f"iacsieve stage {n} ({settings.profile} profile): {plan.purpose}; {s.runs} runs, "
        f"decision rule {plan.decision_rule}, selection {plan.selection_mode}"
    )
    return dsl.pipeline(name=pipeline_name(n), description=description)(func)


def _all_stages(
    settings: CompileSettings, c: StepComponents, on_cluster: bool, human: bool, pods: "PodSettings | None"
) -> Any:
    freezers = {n: freeze_chosen(c, pods, n) for n in STAGES if settings.stages[n].plan.freezes}

    def all_stages(data_uri: str, data_md5: str = "", human_uri: str = "") -> FrozenOutputs:
        prepared = _prepared(c, data_uri, data_md5, human_uri if human else None, settings, on_cluster)
        outputs: dict[int, dict[str, Any]] = {}
        for n in STAGES:
            plan = settings.stages[n].plan
            base = None
            if plan.builds_on in ("winner", "champion"):  # the previous stage's selection, or its card
                assert plan.previous is not None
                base = outputs[plan.previous]["selection" if plan.builds_on == "winner" else "card"]
            after = outputs[n - 1]["_select"] if n - 1 in outputs else None
            outputs[n] = _stage_tasks(
                settings.stages[n],
                c,
                prepared,
                base,
                on_cluster,
                prefix=f"s{n}-",
                after=after,
                freezer=freezers.get(n),
                keyed=n,
            )
        return _returned(outputs[FINAL_STAGE])

    sizes = ", ".join(f"stage {n}: {s.runs} runs" for n, s in settings.stages.items())
    return dsl.pipeline(
        name=pipeline_name(ALL),
        description=f"iacsieve, the whole method ({settings.profile} profile): {sizes}",
    )(all_stages)
