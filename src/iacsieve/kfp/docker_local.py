"""kfp.local's DockerRunner, set up to run a stage's tasks in the component image on this machine.

What it takes care of, so `iacsieve kfp run-local --runner docker` works with podman as with docker:
- a Docker API: $DOCKER_HOST or the default socket; failing both, a `podman system service` of
  our own on a private socket, stopped when the run ends (podman has no daemon to rely on);
- the image name the engine lists (podman stores `iacsieve:0.1.0` as `localhost/iacsieve:0.1.0`,
  and kfp.local pulls any name it does not find in the list);
- local inputs outside the pipeline root (the raw data) bind-mounted read-only at the same path,
  as kfp.local does for the pipeline root, so artifact paths mean the same inside and out;
- tasks run as the calling user, so their outputs on the host belong to that user;
- kfp 2.17.3 starts each task with `containers.run(auto_remove=True)`, which asks for the container
  after starting it: a task that ends first (prepare takes < 1 s) is already gone, and podman answers
  500. `run_task_container` replaces that one function for the run: create, start, stream the logs,
  take the real exit code, then remove.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from iacsieve.core.errors import IacsieveError

log = logging.getLogger(__name__)
SERVICE_START_S = 30


@contextlib.contextmanager
def docker_api() -> Iterator[Any]:
    """A connected docker-py client; $DOCKER_HOST points at its API while the context is open."""
    import docker.errors

    client = _connect(docker)
    if client is not None:
        with contextlib.closing(client):
            yield client
        return
    if os.environ.get("DOCKER_HOST"):
        raise IacsieveError(
            f"no Docker API at DOCKER_HOST={os.environ['DOCKER_HOST']} (is the engine running?)"
        )
    podman = shutil.which("podman")
    if podman is None:
        raise IacsieveError(
            "no container engine: no Docker API at the default socket and no podman "
            "(install podman, or start dockerd and set DOCKER_HOST)"
        )
    with _podman_service(podman) as host, _env("DOCKER_HOST", host):
        client = _connect(docker)
        if client is None:
            raise IacsieveError(f"podman system service at {host} does not answer")
        with contextlib.closing(client):
            yield client


def _connect(docker: Any) -> Any | None:
    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception:  # docker-py raises DockerException, requests' or urllib3's errors alike
        return None


@contextlib.contextmanager
def _podman_service(podman: str) -> Iterator[str]:
    """`podman system service` on a socket in a private temp dir, for this run only."""
    with tempfile.TemporaryDirectory(prefix="iacsieve-podman-") as tmp:
        sock, errors = Path(tmp) / "podman.sock", Path(tmp) / "service.log"
        with errors.open("wb") as err:
            proc = subprocess.Popen(
                [podman, "system", "service", "--time=0", f"unix://{sock}"],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            deadline = time.monotonic() + SERVICE_START_S
            while not sock.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    last = (errors.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
                    raise IacsieveError(f"podman system service did not start: {last}")
                time.sleep(0.1)
            log.info("started podman system service (pid %d) at unix://%s", proc.pid, sock)
            yield f"unix://{sock}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def local_image_name(client: Any, image: str) -> str:
    """The name under which the engine lists `image`, pulled first if the engine lacks it."""
    import docker.errors

    try:
        tags = client.images.get(image).tags
    except docker.errors.ImageNotFound:
        try:
            tags = client.images.pull(image).tags
        except docker.errors.DockerException as exc:
            raise IacsieveError(
                f"image {image}: not on this engine and not pullable "
                f"({str(exc).splitlines()[0][:200]}); build it: make image-local"
            ) from None
    for name in (image, f"localhost/{image}", f"docker.io/library/{image}"):
        if name in tags:
            return name
    return next((t for t in tags if t.endswith("/" + image)), image)


def input_mounts(paths: Iterable[str], pipeline_root: Path) -> list[Any]:
    """Read-only bind mounts for the local input folders the container could not see otherwise."""
    from docker.types import Mount

    mounts, seen = [], set()
    for value in paths:
        if not value or "://" in value:
            continue
        path = Path(value).resolve()
        if not path.exists():
            raise IacsieveError(f"{value}: no such file or folder")
        if path.is_relative_to(pipeline_root) or path in seen:
            continue
        seen.add(path)
        mounts.append(Mount(target=str(path), source=str(path), type="bind", read_only=True))
    return mounts


def run_task_container(
    client: Any, image: str, command: list[str], volumes: dict[str, Any], **run_args: Any
) -> int:
    """One task's container: its logs printed as they come, its exit code returned, then removed."""
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        print(f"Pulling image {image!r}", flush=True)
        client.images.pull(image)
    container = client.containers.create(image=image, command=command, volumes=volumes, **run_args)
    try:
        print(f"Running task in container {container.short_id} of image {image!r}", flush=True)
        container.start()
        for chunk in container.logs(stream=True, follow=True):
            print(chunk.decode(errors="replace"), end="")
        return int(container.wait()["StatusCode"])
    finally:
        container.remove(force=True)


@contextlib.contextmanager
def docker_runner(image: str, inputs: Iterable[str], pipeline_root: Path) -> Iterator[tuple[Any, str]]:
    """(kfp.local.DockerRunner, the image name to compile the components with), for one run."""
    from kfp import local
    from kfp.local import docker_task_handler

    pipeline_root.mkdir(parents=True, exist_ok=True)
    with docker_api() as client:
        name = local_image_name(client, image)
        runner = local.DockerRunner(
            mounts=input_mounts(inputs, pipeline_root), user=f"{os.getuid()}:{os.getgid()}"
        )
        log.info(
            "kfp.local DockerRunner: image %s via %s",
            name,
            os.environ.get("DOCKER_HOST", "the default socket"),
        )
        with mock.patch.object(docker_task_handler, "run_docker_container", run_task_container):
            yield runner, name
