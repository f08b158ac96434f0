"""Compile a stage's pipeline to YAML, submit it to a KFP cluster, or run it here with kfp.local."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp import compiler

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.core.image import DEFAULT_IMAGE, check_image
from iacsieve.io.atomic import atomic_write_text
from iacsieve.kfp.caching import caching_off
from iacsieve.kfp.check import IMPORTER_SCHEMES as PIPELINE_ROOT_SCHEMES
from iacsieve.kfp.check import refuse_violations
from iacsieve.kfp.connection import kfp_errors, kfp_target
from iacsieve.kfp.graph import build_pipeline, pipeline_name, stage_inputs
from iacsieve.kfp.local_workers import core_workers
from iacsieve.kfp.output import plain, task_lines
from iacsieve.method.params import load_params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageInputs:
    """A stage run's inputs: the raw data, and what an earlier stage produced (URIs or local paths)."""

    data_uri: str
    selection_uri: str | None = None  # stage 3: the stage-2 select task's `selection`
    champion_uri: str | None = None  # stage 4: the stage-3 freeze task's `card` (or `champion`)
    data_md5: str | None = None  # data.dvc's md5: the prepare task refuses data that differs
    human_uri: str | None = None  # your reviewers' labels store (data/human): applied before training

    def arguments(self, stage: int | str) -> dict[str, str]:
        """The pipeline arguments the plan says `stage` needs; a missing one is a user error naming the flag."""
        args = {}
        for name in stage_inputs(stage):
            value = getattr(self, name)
            if not value:
                flag = "--" + name.replace("_", "-")
                raise IacsieveError(
                    f"stage {stage} needs {flag}: the previous stage's "
                    f"{'select task `selection`' if name == 'selection_uri' else 'freeze task `card`'}"
                )
            args[name] = value
        if self.data_md5:
            args["data_md5"] = self.data_md5
        if self.human_uri:
            args["human_uri"] = self.human_uri
        return args


def compile_stage(
    stage: int | str,
    out_file: str | Path,
    params_path: str | Path = layout.PARAMS_FILE,
    profile: str | None = None,
    *,
    image: str | None = None,
    cluster: bool | None = None,
    human: bool = False,
) -> Path:
    """Write the stage's pipeline YAML (atomically: a half-written spec is never left behind);
    `human`: with the training-data task that applies the reviewers' labels (`human_uri`)."""
    check_cluster_image(params_path, profile, image)
    pipeline = build_pipeline(stage, params_path, profile, image=image, cluster=cluster, human=human)
    with tempfile.TemporaryDirectory(prefix="iacsieve-kfp-") as tmp:
        tmp_file = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline, str(tmp_file))
        # What a real backend would fail or run otherwise: refused here, one line per violation.
        cluster_params = load_params(params_path, profile=profile).cluster
        refuse_violations(
            tmp_file,
            cluster_params.parallelism * max(1, cluster_params.pods.resources["train"].gpu),
            name=f"{pipeline_name(stage)} (compiled)",
            train_time_budget=cluster_params.pods.retry.train_time_budget,
        )
        return atomic_write_text(out_file, tmp_file.read_text(encoding="utf-8"))


def check_cluster_image(params_path: str | Path, profile: str | None, image: str | None) -> None:
    """A compiled or submitted spec must name an image a cluster can pull (iacsieve.core.image.check_image)."""
    effective = image or load_params(params_path, profile=profile).cluster.image
    try:
        check_image(effective)
    except IacsieveError as exc:
        raise IacsieveError(f"{'--image' if image else f'{params_path}: cluster.image'}: {exc}") from None


def submit_pipeline_root(params_path: str | Path, profile: str | None, given: str | None) -> str:
    """The pipeline root a run is submitted with: `--pipeline-root`, else params.yaml's
    `cluster.pipeline_root`; neither is a one-line error.

    Always sent, because the run API returns `runtime_config.pipeline_root` only when the submitter
    sent one (backend/src/apiserver/server/api_converter.go), and `--from-run` must know where the
    launcher wrote; it should be your `kfp-launcher` ConfigMap's `defaultPipelineRoot`.
    """
    root = given or load_params(params_path, profile=profile).cluster.pipeline_root
    where = "--pipeline-root" if given else f"{params_path}: cluster.pipeline_root"
    if not root:
        raise IacsieveError(
            "submit needs --pipeline-root (or cluster.pipeline_root in params.yaml): the bucket prefix "
            "your kfp-launcher ConfigMap's defaultPipelineRoot names, e.g. s3://BUCKET/iacsieve/pipelines"
        )
    if not root.startswith(PIPELINE_ROOT_SCHEMES) or not root.split("://", 1)[1].strip("/"):
        raise IacsieveError(
            f"{where}: {root!r}: the launcher writes only to {', '.join(PIPELINE_ROOT_SCHEMES)} URIs"
        )
    return root


def make_client(
    host: str | None,
    *,
    namespace: str | None = None,
    token: str | None = None,
    cookies: str | None = None,
    sa_token_path: str | None = None,
) -> Any:
    """A `kfp.Client`, authenticated the usual ways (see `iacsieve kfp submit --help`).

    Order: an explicit token; a service-account token file (`--sa-token-path` or
    KF_PIPELINES_SA_TOKEN_PATH, the in-cluster way); session cookies (Kubeflow's dex/oauth2-proxy);
    else kfp.Client's own defaults (no auth for a port-forwarded host, in-cluster config or kubeconfig).
    Without `host` and with neither of those, or when the server cannot be reached: IacsieveError.
    """
    import kfp

    credentials = None
    sa_path = sa_token_path or os.environ.get("KF_PIPELINES_SA_TOKEN_PATH")
    if not token and sa_path:
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        credentials = ServiceAccountTokenVolumeCredentials(path=sa_path)
    kwargs: dict[str, Any] = {
        "host": host,
        "existing_token": token or None,
        "cookies": cookies or None,
        "credentials": credentials,
    }
    if namespace:
        kwargs["namespace"] = namespace
    with kfp_errors(kfp_target(host)), warnings.catch_warnings():
        # "This client only works with Kubeflow Pipeline v2.0.0-beta.2 and later": said on every call
        warnings.filterwarnings("ignore", category=FutureWarning, module="kfp.client")
        return kfp.Client(**kwargs)


def submit_stage(
    stage: int | str,
    inputs: StageInputs,
    *,
    host: str | None,
    params_path: str | Path = layout.PARAMS_FILE,
    profile: str | None = "cluster",
    image: str | None = None,
    experiment: str = "iacsieve",
    namespace: str | None = None,
    run_name: str | None = None,
    pipeline_root: str | None = None,
    enable_caching: bool | None = None,
    client: Any = None,
    **auth: str | None,
) -> str:
    """Compile the stage and create a run on a KFP cluster; returns the run id.

    The run always carries its pipeline root (`submit_pipeline_root`: `pipeline_root`, else
    params.yaml's `cluster.pipeline_root`), so `--from-run` later finds its outputs. Caching follows
    the compiled spec (on, but for evaluate and select) unless `enable_caching` is False: then it is
    set off on every task of every DAG (`caching_off`; kfp.Client's own switch reaches the root DAG's
    tasks only). True (caching on for every task) is refused, since select would then collect
    cached evaluations from an earlier run's prefix, which the launcher cannot open (rules doc, 2).
    """
    if enable_caching:
        raise IacsieveError(
            "enable_caching=True would cache evaluate and select too (a partly cached dsl.Collected "
            "fails on a real backend: docs/kfp-backend-rules.md, 2); leave it unset or False"
        )
    arguments = inputs.arguments(stage)
    check_cluster_image(params_path, profile, image)  # before any connection to the server
    pipeline_root = submit_pipeline_root(params_path, profile, pipeline_root)
    client = client or make_client(host, namespace=namespace, **auth)
    with tempfile.TemporaryDirectory(prefix="iacsieve-kfp-") as tmp:
        package = compile_stage(
            stage,
            Path(tmp) / f"{pipeline_name(stage)}.yaml",
            params_path,
            profile,
            image=image,
            human=bool(inputs.human_uri),
        )
        if enable_caching is False:
            caching_off(package)
        with kfp_errors(host or "the default KFP server"):
            result = client.create_run_from_pipeline_package(
                str(package),
                arguments=arguments,
                run_name=run_name,
                experiment_name=experiment,
                namespace=namespace,
                pipeline_root=pipeline_root,
                enable_caching=None,  # as compiled (caching_off above, for every DAG)
            )
    log.info("submitted %s: run %s", pipeline_name(stage), result.run_id)
    return result.run_id


def run_local(
    stage: int | str,
    inputs: StageInputs,
    *,
    params_path: str | Path = layout.PARAMS_FILE,
    profile: str | None = "local",
    pipeline_root: str | Path = "kfp-local",
    enable_caching: bool = False,
    verbose: bool = False,
    runner: str = "subprocess",
    image: str | None = None,
) -> dict[str, str]:
    """Run the stage's pipeline on this machine with kfp.local.

    runner "subprocess": one subprocess of this venv per task. "docker": one container of `image`
    per task (default iacsieve:<version>, `make image-local`), through docker or podman (docker_local.py).
    Quiet unless `verbose`: one line per finished task (kfp.local's full logs with `verbose`). As
    many tasks run at once as there are cores, one thread each. Returns the local paths of the
    run's outputs (`selection`, and `champion`/`card` for stages 3-4), which the next stage takes
    as `--selection-uri` / `--champion-uri`.
    """
    from kfp import local

    arguments = inputs.arguments(stage)
    root = Path(pipeline_root).resolve()
    context: contextlib.AbstractContextManager[tuple[Any, str | None]]
    if runner == "docker":
        from iacsieve.kfp.docker_local import docker_runner

        context = docker_runner(image or DEFAULT_IMAGE, arguments.values(), root)
    elif runner == "subprocess":
        # use_venv=False: this venv already holds iacsieve; never a workspace_root (kfp.local deletes it).
        context = contextlib.nullcontext((local.SubprocessRunner(use_venv=False), None))
    else:
        raise IacsieveError(f"runner {runner!r}: expected subprocess or docker")
    with context as (task_runner, task_image):
        pipeline = build_pipeline(
            stage,
            params_path,
            profile,
            image=task_image,
            cluster=False,
            human=bool(inputs.human_uri),
            pin_image=False,
        )
        local.init(runner=task_runner, pipeline_root=str(root), enable_caching=enable_caching)
        with _quiet_on_all_cores(stage, verbose):
            task = pipeline(**arguments)
    return {name: artifact.path for name, artifact in task.outputs.items()}


@contextlib.contextmanager
def _quiet_on_all_cores(stage: int | str, verbose: bool) -> Iterator[None]:
    """kfp.local's run: one line per task (unless verbose), a task per core, a failure as one IacsieveError.

    kfp.local warns, for every task, that its display name (`s3-select`: what `--from-run` reads on a
    cluster) has no effect here; true and harmless, so not shown."""
    with task_lines(verbose) as lines, core_workers(), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Task '.*': settings \['display_name'\] have no effect", category=UserWarning
        )
        try:
            yield
        except (
            RuntimeError
        ) as exc:  # kfp.local: "Pipeline '...' finished with status FAILURE. Inner task failed: ..."
            if lines and lines.failed:
                name, reason = lines.failed[0]
                raise IacsieveError(
                    f"stage {stage}: task {name} failed"
                    + (f": {reason}" if reason else " (its last lines are above)")
                ) from None
            raise IacsieveError(f"kfp.local: {plain(str(exc))}") from None
