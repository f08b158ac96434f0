"""Compile a stage's pipeline to YAML, submit it to a KFP cluster, or run it here with kfp.local."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp import compiler

from iacsieve.atomic import atomic_write_text
from iacsieve.errors import IacsieveError
from iacsieve.kfp.graph import build_pipeline, pipeline_name, stage_inputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageInputs:
    """A stage run's inputs: the raw data, and what an earlier stage produced (URIs or local paths)."""

    data_uri: str
    selection_uri: str | None = None  # stage 3: the stage-2 select task's `selection`
    champion_uri: str | None = None  # stage 4: the stage-3 freeze task's `card` (or `champion`)
    data_md5: str | None = None  # data.dvc's md5: the prepare task refuses data that differs

    def arguments(self, stage: int | str) -> dict[str, str]:
        """The pipeline arguments the plan says `stage` needs; a missing one is a user error naming the flag."""
        args = {}
        for name in stage_inputs(stage):
            value = getattr(self, name)
            if not value:
                flag = "--" + name.replace("_", "-")
                raise IacsieveError(f"stage {stage} needs {flag}: the previous stage's "
                                    f"{'select task `selection`' if name == 'selection_uri' else 'freeze task `card`'}")
            args[name] = value
        if self.data_md5:
            args["data_md5"] = self.data_md5
        return args


def compile_stage(stage: int | str, out_file: str | Path, params_path: str | Path = "params.yaml",
                  profile: str | None = None, *, image: str | None = None, cluster: bool | None = None) -> Path:
    """Write the stage's pipeline YAML (atomically: a half-written spec is never left behind)."""
    pipeline = build_pipeline(stage, params_path, profile, image=image, cluster=cluster)
    with tempfile.TemporaryDirectory(prefix="iacsieve-kfp-") as tmp:
        tmp_file = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline, str(tmp_file))
        return atomic_write_text(out_file, tmp_file.read_text(encoding="utf-8"))


def make_client(host: str | None, *, namespace: str | None = None, token: str | None = None,
                cookies: str | None = None, sa_token_path: str | None = None):
    """A `kfp.Client`, authenticated the usual ways (see `iacsieve kfp submit --help`).

    Order: an explicit token; a service-account token file (`--sa-token-path` or
    KF_PIPELINES_SA_TOKEN_PATH, the in-cluster way); session cookies (Kubeflow's dex/oauth2-proxy);
    else kfp.Client's own defaults (no auth for a port-forwarded host, in-cluster config or kubeconfig).
    """
    import kfp

    credentials = None
    sa_path = sa_token_path or os.environ.get("KF_PIPELINES_SA_TOKEN_PATH")
    if not token and sa_path:
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        credentials = ServiceAccountTokenVolumeCredentials(path=sa_path)
    kwargs: dict[str, Any] = {"host": host, "existing_token": token or None, "cookies": cookies or None,
                              "credentials": credentials}
    if namespace:
        kwargs["namespace"] = namespace
    return kfp.Client(**kwargs)


def submit_stage(stage: int | str, inputs: StageInputs, *, host: str | None, params_path: str | Path = "params.yaml",
                 profile: str | None = "cluster", image: str | None = None, experiment: str = "iacsieve",
                 namespace: str | None = None, run_name: str | None = None, pipeline_root: str | None = None,
                 enable_caching: bool | None = None, client: Any = None, **auth: str | None) -> str:
    """Compile the stage and create a run on a KFP cluster; returns the run id.

    Caching follows the compiled spec (on) unless `enable_caching` says otherwise.
    """
    arguments = inputs.arguments(stage)
    client = client or make_client(host, namespace=namespace, **auth)
    with tempfile.TemporaryDirectory(prefix="iacsieve-kfp-") as tmp:
        package = compile_stage(stage, Path(tmp) / f"{pipeline_name(stage)}.yaml", params_path, profile, image=image)
        try:
            result = client.create_run_from_pipeline_package(
                str(package), arguments=arguments, run_name=run_name, experiment_name=experiment,
                namespace=namespace, pipeline_root=pipeline_root, enable_caching=enable_caching)
        except Exception as exc:  # the REST client raises ApiException / urllib3 errors
            if exc.__class__.__module__.startswith(("kfp_server_api", "urllib3")):
                raise IacsieveError(f"KFP at {host}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
            raise
    log.info("submitted %s: run %s", pipeline_name(stage), result.run_id)
    return result.run_id


def run_local(stage: int | str, inputs: StageInputs, *, params_path: str | Path = "params.yaml",
              profile: str | None = "local", pipeline_root: str | Path = "kfp-local",
              enable_caching: bool = False) -> dict[str, str]:
    """Run the stage's pipeline on this machine (kfp.local, one subprocess per task, no Docker).

    Returns the local paths of the run's outputs (`selection`, and `champion` for stages 3-4), which
    the next stage takes as `--selection-uri` / `--champion-uri`.
    """
    local = _import_kfp_local()
    arguments = inputs.arguments(stage)
    pipeline = build_pipeline(stage, params_path, profile, cluster=False)
    # SubprocessRunner(use_venv=False): this venv already holds iacsieve; never a workspace_root
    # (kfp.local deletes it after the run).
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(Path(pipeline_root).resolve()),
               enable_caching=enable_caching)
    task = pipeline(**arguments)
    return {name: artifact.path for name, artifact in task.outputs.items()}


def _import_kfp_local():
    """`kfp.local`, with its task dispatcher imported while the repo's `docker/` folder is hidden.

    kfp.local does `import docker` (docker-py, optional) and copes with an ImportError; but with the
    repo root on sys.path (`python -m pytest`, `python -m iacsieve`), the image recipe folder
    `docker/` imports as an empty namespace package and kfp.local fails on `docker.DockerClient`.
    """
    shadowing = [p for p in sys.path if (Path(p or ".") / "docker").is_dir() and not (Path(p or ".") / "docker" / "__init__.py").exists()]
    stale = sys.modules.get("docker")
    if stale is not None and getattr(stale, "__file__", None) is None:
        del sys.modules["docker"]
    saved = list(sys.path)
    try:
        sys.path[:] = [p for p in sys.path if p not in shadowing]
        importlib.import_module("kfp.local.task_dispatcher")
    finally:
        sys.path[:] = saved
    from kfp import local

    return local
