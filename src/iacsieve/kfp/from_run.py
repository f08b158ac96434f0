"""`--from-run RUN_ID`: an earlier KFP run's outputs (selection, champion, card) found where KFP writes them.

Released backends (2.14 to 2.17, and master) list no task outputs in the run API
(kubeflow/pipelines#9858) and serve no artifact API (#13986, which would add one, is unmerged), so
the one path that works is the launcher's output layout (backend/src/v2/driver/driver.go
`provisionOutputs`): `<pipeline root>/<pipeline name>/<run id>/<task key>/<uuid>/<output>`. The run
(`kfp.Client.get_run`) gives its id and, when it was submitted as a package (what `iacsieve kfp
submit` does), its pipeline spec and so the pipeline's name; a run started from an uploaded pipeline
version carries no spec: then `--pipeline-name` names it. The run carries its pipeline root only
when its submitter sent one (backend/src/apiserver/server/api_converter.go; `iacsieve kfp submit`
always does); otherwise `--pipeline-root` must name it: the launcher's default comes from the
namespace's kfp-launcher ConfigMap, which the API does not return. In an all-stages run the task
keys carry the stage (`s3-freeze`, `iacsieve.kfp.task_keys`). A task served from KFP's cache keeps
an earlier run's outputs, so it has none there: the error says so and names the URI flags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from iacsieve.core.errors import IacsieveError
from iacsieve.io.object_store import open_uri, uri_of
from iacsieve.kfp.store_errors import store_errors
from iacsieve.kfp.task_keys import ALL_STAGES_PIPELINE, read_back_key
from iacsieve.method.plan import FINAL_STAGE

log = logging.getLogger(__name__)

# What the next stage needs -> (the producing step, its output name); the task key is the step's
# (`read_back_key`: `s<N>-<step>` in an all-stages run). Stage 4 takes the card: champion.json alone.
PRODUCERS: dict[str, tuple[str, str]] = {
    "selection": ("select", "selection"),
    "champion": ("freeze", "champion"),
    "card": ("freeze", "card"),
}
# What a stage's pipeline parameter is fed from: stage 3 the winner's selection, stage 4 the card.
STAGE_INPUT = {"winner": ("selection", "selection_uri"), "champion": ("card", "champion_uri")}


def resolve_run_outputs(
    client: Any,
    run_id: str,
    producers: Mapping[str, tuple[str, str]] = PRODUCERS,
    *,
    pipeline_root: str | None = None,
    pipeline_name: str | None = None,
    endpoint_url: str | None = None,
    stage: int = FINAL_STAGE,
) -> dict[str, str]:
    """URIs of a finished run's outputs, keyed as in `producers` (default: selection, champion, card).

    A key is present when the run holds that output (a stage-1 run has no `freeze`); a run that did
    not succeed, or holds none of them, is a one-line IacsieveError. `pipeline_root` overrides the
    run's own; `pipeline_name` names a run whose spec the API does not return; `endpoint_url` for
    s3:// / minio://; `stage`: whose outputs, in an all-stages run (default: the last stage's).
    """
    run = _call(client, f"run {run_id}", client.get_run, run_id)
    state = str(getattr(run, "state", "") or "UNKNOWN")
    if state != "SUCCEEDED":
        raise IacsieveError(f"run {run_id}: state {state}; only a SUCCEEDED run's outputs can be used")
    return outputs_by_layout(
        run,
        producers,
        pipeline_root=pipeline_root,
        pipeline_name=pipeline_name,
        endpoint_url=endpoint_url,
        stage=stage,
    )


def stage_inputs_from_run(client: Any, run_id: str, stage: int | str, **where: str | None) -> dict[str, str]:
    """The `StageInputs` field stage `stage` takes from an earlier run (the previous stage's, or an
    all-stages run: then its stage `previous`'s outputs), as the stage plan says: the previous
    stage's selection (winner), or its champion's card (champion.json, no weights).

    `where`: `pipeline_root` / `pipeline_name` / `endpoint_url`, as for `resolve_run_outputs`.
    """
    from iacsieve.method.plan import stage_plan

    builds_on = stage_plan(int(stage)).builds_on if stage != "all" else None
    if builds_on not in STAGE_INPUT:
        raise IacsieveError(f"--from-run: stage {stage} builds on no earlier run (stages 3-4 do)")
    output, field = STAGE_INPUT[builds_on]
    previous = stage_plan(int(stage)).previous
    assert previous is not None
    found = resolve_run_outputs(client, run_id, {output: PRODUCERS[output]}, stage=previous, **where)
    return {field: found[output]}


def outputs_by_layout(
    run: Any,
    producers: Mapping[str, tuple[str, str]],
    *,
    pipeline_root: str | None = None,
    pipeline_name: str | None = None,
    endpoint_url: str | None = None,
    stage: int = FINAL_STAGE,
) -> dict[str, str]:
    """The outputs where KFP's launcher writes them: `<root>/<pipeline>/<run id>/<task>/<uuid>/<output>`;
    in an all-stages run, stage `stage`'s (its task keys `s<stage>-<step>`)."""
    run_id = run.run_id
    root = pipeline_root or getattr(getattr(run, "runtime_config", None), "pipeline_root", None)
    if not root:
        raise IacsieveError(
            f"run {run_id} records no pipeline root (it was submitted without one, so the launcher "
            "used the kfp-launcher ConfigMap's defaultPipelineRoot): name it with --pipeline-root"
        )
    name = pipeline_name or _pipeline_name(run)
    keyed = stage if name == ALL_STAGES_PIPELINE else None
    tasks = {key: (read_back_key(step, keyed), output) for key, (step, output) in producers.items()}
    base = f"{root.rstrip('/')}/{name}/{run_id}"
    fs, path = open_uri(base, endpoint_url)
    uris: dict[str, str] = {}
    for key, (task, output) in tasks.items():
        with store_errors(base, endpoint_url):
            found = sorted(fs.glob(f"{path}/{task}/*/{output}"))
        if len(found) > 1:
            raise IacsieveError(
                f"run {run_id}: {len(found)} `{task}` outputs `{output}` under {base}, expected 1"
            )
        if found:
            uris[key] = uri_of(base, found[0])
    if not uris:
        wanted = ", ".join(f"{task}/<id>/{output}" for task, output in tasks.values())
        raise IacsieveError(
            f"run {run_id}: {base} holds none of {wanted} "
            f"(cached tasks keep an earlier run's outputs; another pipeline root: --pipeline-root); "
            f"pass the URIs instead (--selection-uri / --champion-uri)"
        )
    log.info("run %s (by layout under %s): %s", run_id, base, uris)
    return uris


def _pipeline_name(run: Any) -> str:
    """The compiled pipeline's name (`pipelineInfo.name`), which KFP uses in its output paths."""
    spec = getattr(run, "pipeline_spec", None) or {}
    spec = spec.get("pipeline_spec", spec) if isinstance(spec, dict) else {}
    name = (spec.get("pipelineInfo") or {}).get("name") if isinstance(spec, dict) else None
    if not name:
        version = " (it was started from an uploaded pipeline version)" if _version_ref(run) else ""
        raise IacsieveError(
            f"run {run.run_id}: the API returned no pipeline spec{version}; name its pipeline with "
            f"--pipeline-name (e.g. iacsieve-stage3), or pass the URIs (--selection-uri / --champion-uri)"
        )
    return str(name)


def _version_ref(run: Any) -> bool:
    return bool(getattr(run, "pipeline_version_reference", None) or getattr(run, "pipeline_version_id", None))


def _call(client: Any, what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the KFP API; its HTTP errors become one line."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # kfp_server_api.ApiException, urllib3 errors
        if not exc.__class__.__module__.startswith(("kfp_server_api", "urllib3")):
            raise
        status = getattr(exc, "status", None)
        host = getattr(getattr(client, "_existing_config", None), "host", "KFP")
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise IacsieveError(f"{host}: {what}: HTTP {status or '-'} {reason}") from None
