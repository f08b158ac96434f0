"""Open a bucket URI or a local path with fsspec: one place for KFP's `minio://` and a missing backend.

KFP names its in-cluster MinIO `minio://BUCKET/...`; it speaks S3, so it is opened as `s3://` with
an endpoint (`--endpoint-url` / $AWS_ENDPOINT_URL, else a port-forwarded http://localhost:9000).
"""

from __future__ import annotations

from typing import Any

from iacsieve.core.errors import IacsieveError

MINIO_DEFAULT_ENDPOINT = (
    "http://localhost:9000"  # `kubectl port-forward -n kubeflow svc/minio-service 9000:9000`
)


def open_uri(uri: str, endpoint_url: str | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path in it) for `uri`: a local path, file://, s3://, gs://, minio://."""
    import fsspec

    options: dict[str, Any] = {}
    if uri.startswith("minio://"):
        uri = "s3://" + uri[len("minio://") :]
        options["client_kwargs"] = {"endpoint_url": endpoint_url or MINIO_DEFAULT_ENDPOINT}
    elif endpoint_url and uri.startswith("s3://"):
        options["client_kwargs"] = {"endpoint_url": endpoint_url}
    try:
        return fsspec.core.url_to_fs(uri, **options)
    except (ImportError, ValueError) as exc:
        raise IacsieveError(
            f"{uri}: cannot open ({exc}); `pip install .[cluster]` brings the backends "
            f"(s3fs for s3:// and minio://, gcsfs for gs://), or copy it locally and pass its path"
        ) from None


def uri_of(uri: str, path: str) -> str:
    """The URI, in `uri`'s scheme, of `path` as the filesystem `open_uri(uri)` returns names it."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme in ("", "file"):
        return path
    return f"{scheme}://{path.lstrip('/')}"
