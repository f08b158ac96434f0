"""An object store's failure as one line: no credentials, an endpoint that does not answer, a
missing bucket or key, access denied. s3fs, gcsfs and their clients (botocore, aiohttp, google-auth)
raise their own exception types, and a traceback from any of them is no help to a user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from iacsieve.core.errors import IacsieveError

STORE_MODULES = ("botocore", "aiobotocore", "s3fs", "gcsfs", "google", "aiohttp", "fsspec", "urllib3")
CREDENTIALS_HINT = (
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws; GOOGLE_APPLICATION_CREDENTIALS for gs://"
)


def is_store_error(exc: BaseException) -> bool:
    """Whether `exc` comes from an object-store client (or is the OSError s3fs/gcsfs translate to)."""
    return isinstance(exc, OSError) or exc.__class__.__module__.split(".")[0] in STORE_MODULES


def describe(exc: BaseException, endpoint_url: str | None = None) -> str:
    """Why the store refused, in words a user acts on."""
    name = exc.__class__.__name__
    first = (str(exc).strip().splitlines() or [""])[0]
    if name in ("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"):
        return f"no credentials for the object store ({CREDENTIALS_HINT})"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError") or isinstance(
        exc, ConnectionError
    ):
        where = endpoint_url or "the default endpoint"
        return f"cannot reach {where} (--endpoint-url / $AWS_ENDPOINT_URL; MinIO: kubectl port-forward)"
    if isinstance(exc, FileNotFoundError):
        return f"not found ({first or 'no such bucket or key'})"
    if isinstance(exc, PermissionError):
        return f"access denied ({first or CREDENTIALS_HINT})"
    return f"{name}: {first}" if first else name


@contextlib.contextmanager
def store_errors(uri: str, endpoint_url: str | None = None) -> Iterator[None]:
    """Within this, an object-store failure becomes `IacsieveError("<uri>: <why>")`."""
    try:
        yield
    except IacsieveError:
        raise
    except Exception as exc:
        if not is_store_error(exc):
            raise
        raise IacsieveError(f"{uri}: {describe(exc, endpoint_url)}") from None
