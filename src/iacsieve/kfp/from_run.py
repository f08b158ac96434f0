"""`--from-run RUN_ID`: an earlier KFP run's outputs (selection, champion, card) found where KFP writes them.

Released backends (2.14 to 2.17, and master) list no task outputs in the run API
(kubeflow/pipelines#9858) and serve no artifact API (#13986, which would add one, is unmerged), so
the one path that works is the launcher's output layout (backend/src/v2/driver/driver.go
`provisionOutputs`): `<pipeline root>/<pipeline name>/<run id>/<task key>/<id>/<output>`. The run
(`kfp.Client.get_run`) gives its id, its pipeline root and, when it was submitted as a package (what
`iacsieve kfp submit` does), its pipeline spec and so the pipeline's name; a run started from an
uploaded pipeline version carries no spec: then `--pipeline-name` names it. A task served from KFP's
cache keeps an earlier run's outputs, so it has none there: the error says so and names the URI flags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from iacsieve.core.errors import IacsieveError
from iacsieve.io.object_store import open_uri, uri_of

log = logging.getLogger(__name__)

# What the next stage needs -> (the producing task's key, its output name). Stage 4 takes the card:
# champion.json alone, never the weights.
PRODUCERS: dict[str, tuple[str, str]] = {
    "selection": ("select", "selection"),
    "champion": ("freeze", "champion"),
    "card": ("freeze", "card"),
}
# What a stage's pipeline parameter is fed from: stage 3 the winner's selection, stage 4 the card.
STAGE_INPUT = {"winner": ("selection", "selection_uri"), "champion": ("card", "champion_uri")}
DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"  # KFP's, unless the run or kfp-launcher set another


def resolve_run_outputs(
    client: Any,
    run_id: str,
    producers: Mapping[str, tuple[str, str]] = PRODUCERS,
    *,
    pipeline_root: str | None = None,
    pipeline_name: str | None = None,
    endpoint_url: str | None = None,
) -> dict[str, str]:
    """URIs of a finished run's outputs, keyed as in `producers` (default: selection, champion, card).

    A key is present when the run holds that output (a stage-1 run has no `freeze`); a run that did
    not succeed, or holds none of them, is a one-line IacsieveError. `pipeline_root` overrides the
    run's own; `pipeline_name` names a run whose spec the API does not return; `endpoint_url` for
    s3:// / minio://.
    """
    run = _call(client, f"run {run_id}", client.get_run, run_id)
    state = str(getattr(run, "state", "") or "UNKNOWN")
    if state != "SUCCEEDED":
        raise IacsieveError(f"run {run_id}: state {state}; only a SUCCEEDED run's outputs can be used")
    return outputs_by_layout(
        run, producers, pipeline_root=pipeline_root, pipeline_name=pipeline_name, endpoint_url=endpoint_url
    )


def stage_inputs_from_run(client: Any, run_id: str, stage: int | str, **where: str | None) -> dict[str, str]:
    """The `StageInputs` field stage `stage` takes from an earlier (one-stage) run, as the stage plan
    says: the previous stage's selection (winner), or its champion's card (champion.json, no weights).

    `where`: `pipeline_root` / `pipeline_name` / `endpoint_url`, as for `resolve_run_outputs`.
    """
    from iacsieve.method.plan import stage_plan

    builds_on = stage_plan(int(stage)).builds_on if stage != "all" else None
    if builds_on not in STAGE_INPUT:
        raise IacsieveError(f"--from-run: stage {stage} builds on no earlier run (stages 3-4 do)")
    output, field = STAGE_INPUT[builds_on]
    found = resolve_run_outputs(client, run_id, {output: PRODUCERS[output]}, **where)
    return {field: found[output]}


def outputs_by_layout(
    run: Any,
    producers: Mapping[str, tuple[str, str]],
    *,
    pipeline_root: str | None = None,
    pipeline_name: str | None = None,
    endpoint_url: str | None = None,
) -> dict[str, str]:
    """The outputs where KFP's launcher writes them: `<root>/<pipeline>/<run id>/<task>/<id>/<output>`."""
    run_id = run.run_id
    root = (
        pipeline_root
        or getattr(getattr(run, "runtime_config", None), "pipeline_root", None)
        or DEFAULT_PIPELINE_ROOT
    )
    base = f"{root.rstrip('/')}/{pipeline_name or _pipeline_name(run)}/{run_id}"
    fs, path = open_uri(base, endpoint_url)
    uris: dict[str, str] = {}
    for key, (task, output) in producers.items():
        found = sorted(fs.glob(f"{path}/{task}/*/{output}"))
        if len(found) > 1:
            raise IacsieveError(
                f"run {run_id}: {len(found)} `{task}` outputs `{output}` under {base}, expected 1"
            )
        if found:
            uris[key] = uri_of(base, found[0])
    if not uris:
        wanted = ", ".join(f"{task}/<id>/{output}" for task, output in producers.values())
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
