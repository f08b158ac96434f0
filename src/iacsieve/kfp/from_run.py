"""`--from-run RUN_ID`: an earlier KFP run's outputs (selection, champion) by the KFP API, not pasted URIs.

`kfp.Client.get_run` gives the run's task details; each task lists its output artifacts by id
(`outputs: {name: {artifact_ids: [...]}}`), and the API server's artifact service
(`GET /apis/v2beta1/artifacts/{id}`, kubeflow/pipelines#13986) gives each artifact's URI.

Released backends up to 2.17 keep artifacts in ML Metadata and leave task outputs empty
(kubeflow/pipelines#9858). There the run (from the same API) still names its pipeline and pipeline
root, and KFP's launcher writes each output to `<pipeline root>/<pipeline>/<run id>/<task>/<id>/<output>`:
the one match of that pattern in the object store is the artifact. (A task served from KFP's cache
keeps an earlier run's outputs, so it has none there: the error says so and names the URI flags.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from iacsieve.errors import IacsieveError
from iacsieve.object_store import open_uri, uri_of

log = logging.getLogger(__name__)

# What the next stage needs -> (the producing task's display name, its output name).
PRODUCERS: dict[str, tuple[str, str]] = {
    "selection": ("select", "selection"),
    "champion": ("freeze", "champion"),
}
ARTIFACT_PATH = "/apis/v2beta1/artifacts/{artifact_id}"
DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"  # KFP's, unless the run or kfp-launcher set another


def resolve_run_outputs(
    client: Any,
    run_id: str,
    producers: Mapping[str, tuple[str, str]] = PRODUCERS,
    *,
    pipeline_root: str | None = None,
    endpoint_url: str | None = None,
) -> dict[str, str]:
    """URIs of a finished run's outputs, keyed as in `producers` (default: `selection`, `champion`).

    A key is present when the run has its producing task (a stage-1 run has no `freeze`); a run that
    did not succeed, or holds none of them, is a one-line IacsieveError. When the backend lists no
    task outputs, they are found under the run's pipeline root (`pipeline_root` overrides it;
    `endpoint_url` for s3:// / minio://).
    """
    run = _call(client, f"run {run_id}", client.get_run, run_id)
    state = str(getattr(run, "state", "") or "UNKNOWN")
    if state != "SUCCEEDED":
        raise IacsieveError(f"run {run_id}: state {state}; only a SUCCEEDED run's outputs can be used")
    tasks = list(getattr(getattr(run, "run_details", None), "task_details", None) or [])
    if not any(getattr(t, "outputs", None) for t in tasks):
        return outputs_by_layout(run, producers, pipeline_root=pipeline_root, endpoint_url=endpoint_url)
    uris: dict[str, str] = {}
    for key, (task_name, output) in producers.items():
        artifact_id = _output_artifact_id(run_id, tasks, task_name, output)
        if artifact_id is not None:
            uris[key] = artifact_uri(client, artifact_id)
    if not uris:
        wanted = ", ".join(f"{task}.{output}" for task, output in producers.values())
        raise IacsieveError(
            f"run {run_id}: none of {wanted} among its tasks "
            f"({', '.join(sorted({str(t.display_name) for t in tasks})) or 'none'})"
        )
    log.info("run %s: %s", run_id, uris)
    return uris


def stage_inputs_from_run(client: Any, run_id: str, stage: int, **where: str | None) -> dict[str, str]:
    """The `StageInputs` field stage `stage` takes from an earlier (one-stage) run, as the stage plan
    says: the previous stage's selection (winner) or its champion.

    `where`: `pipeline_root` / `endpoint_url`, as for `resolve_run_outputs`.
    """
    from iacsieve.method.plan import stage_plan

    need = (
        {"winner": "selection", "champion": "champion"}.get(stage_plan(int(stage)).builds_on)
        if stage != "all"
        else None
    )
    if need is None:
        raise IacsieveError(f"--from-run: stage {stage} builds on no earlier run (stages 3-4 do)")
    found = resolve_run_outputs(client, run_id, {need: PRODUCERS[need]}, **where)
    return {f"{need}_uri": found[need]}


def outputs_by_layout(
    run: Any,
    producers: Mapping[str, tuple[str, str]],
    *,
    pipeline_root: str | None = None,
    endpoint_url: str | None = None,
) -> dict[str, str]:
    """The outputs where KFP's launcher writes them: `<root>/<pipeline>/<run id>/<task>/<id>/<output>`."""
    run_id = run.run_id
    root = (
        pipeline_root
        or getattr(getattr(run, "runtime_config", None), "pipeline_root", None)
        or DEFAULT_PIPELINE_ROOT
    )
    base = f"{root.rstrip('/')}/{_pipeline_name(run)}/{run_id}"
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
            f"run {run_id}: the API lists no output artifacts and {base} holds none of {wanted} "
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
        raise IacsieveError(
            f"run {run.run_id}: the API returned no pipeline spec to find its outputs by; "
            f"pass the URIs instead (--selection-uri / --champion-uri)"
        )
    return str(name)


def _output_artifact_id(run_id: str, tasks: list, task_name: str, output: str) -> str | None:
    """The one artifact id of `task_name`'s `output` (None when the run has no such task)."""
    matches = [t for t in tasks if t.display_name == task_name and output in (t.outputs or {})]
    if not matches:
        return None
    ids = {i for t in matches for i in (_ids(t.outputs[output]) or [])}
    if len(ids) != 1:
        raise IacsieveError(
            f"run {run_id}: task {task_name!r} output {output!r} has {len(ids)} artifacts, expected 1"
        )
    return ids.pop()


def _ids(artifact_list: Any) -> list[str] | None:
    if isinstance(artifact_list, dict):
        return artifact_list.get("artifact_ids")
    return getattr(artifact_list, "artifact_ids", None)


def artifact_uri(client: Any, artifact_id: str) -> str:
    """An artifact's URI from the API server's artifact service, with the client's own authentication."""
    api = getattr(client, "_run_api", None)
    if api is None:
        raise IacsieveError("--from-run needs a kfp.Client")
    artifact = _call(
        client,
        f"artifact {artifact_id}",
        api.api_client.call_api,
        ARTIFACT_PATH,
        "GET",
        path_params={"artifact_id": artifact_id},
        header_params={"Accept": "application/json"},
        response_type="object",
        auth_settings=["Bearer"],
        _return_http_data_only=True,
    )
    uri = artifact.get("uri") if isinstance(artifact, dict) else None
    if not uri:
        raise IacsieveError(f"artifact {artifact_id}: the API server returned no uri")
    return str(uri)


def _call(client: Any, what: str, func, *args, **kwargs):
    """Call the KFP API; its HTTP errors become one line (404 on artifacts: an older backend)."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # kfp_server_api.ApiException, urllib3 errors
        if not exc.__class__.__module__.startswith(("kfp_server_api", "urllib3")):
            raise
        status = getattr(exc, "status", None)
        if status == 404 and what.startswith("artifact"):
            raise IacsieveError(
                f"{what}: the KFP backend has no artifact API ({ARTIFACT_PATH}); "
                f"pass the URIs instead (--selection-uri / --champion-uri)"
            ) from None
        host = getattr(getattr(client, "_existing_config", None), "host", "KFP")
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise IacsieveError(f"{host}: {what}: HTTP {status or '-'} {reason}") from None
