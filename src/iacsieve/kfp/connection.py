"""Which KFP server `kfp.Client` will talk to, and a failed conversation with it as one line.

kfp.Client without a host tries the in-cluster service (inside a pod), then the API server proxy of
the kubeconfig's current context, and else quietly falls back to http://localhost. `kfp_target`
names the one it will use, or stops with a user error when there is none; `kfp_errors` turns the
REST stack's exceptions (urllib3, kfp_server_api, kubernetes) into `KFP at <where>: <why>`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from iacsieve.core.errors import IacsieveError

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
REST_MODULES = ("kfp_server_api", "urllib3", "requests", "kubernetes")
ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def kubeconfig_files() -> list[Path]:
    """The kubeconfig files kubectl would read ($KUBECONFIG's list, else ~/.kube/config) that exist."""
    paths = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return [Path(p).expanduser() for p in paths.split(os.pathsep) if p and Path(p).expanduser().is_file()]


def kfp_target(host: str | None) -> str:
    """Where a kfp.Client made with `host` connects, for messages; a user error when nowhere."""
    if host:
        return host.rstrip("/")
    if os.environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_TOKEN.is_file():
        return "the in-cluster ml-pipeline service"
    configs = kubeconfig_files()
    if configs:
        return f"the ml-pipeline service through the API server of {configs[0]}'s current context"
    raise IacsieveError(
        "no KFP server: pass --host URL (or set $KF_PIPELINES_ENDPOINT); without it submit uses "
        "the in-cluster service inside a pod, else ~/.kube/config ($KUBECONFIG), and there is neither"
    )


def describe(exc: BaseException) -> str:
    """One line on why a REST call failed: refused/unknown host, or the server's HTTP status and message."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        reason = getattr(exc, "reason", "") or ""
        message = ""
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            body = json.loads(getattr(exc, "body", None) or "{}")
            message = body.get("message") or body.get("error") or ""
        return f"HTTP {status} {reason}".rstrip() + (f": {message}" if message else "")
    found = ERRNO.findall(str(exc))
    if found:
        return f"cannot connect ({found[-1].strip()})"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{exc.__class__.__name__}: {first}" if first else exc.__class__.__name__


@contextlib.contextmanager
def kfp_errors(where: str) -> Iterator[None]:
    """Within this, a REST/connection failure becomes `IacsieveError("KFP at <where>: <why>")`."""
    try:
        yield
    except Exception as exc:
        if exc.__class__.__module__.split(".")[0] in REST_MODULES or isinstance(exc, ConnectionError):
            raise IacsieveError(f"KFP at {where}: {describe(exc)}") from None
        raise
