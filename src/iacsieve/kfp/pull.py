"""Bring a KFP run's champion home: copy the freeze task's `champion` artifact into models/champion/.

The source is the artifact's URI (the KFP UI shows it: run -> freeze -> Output artifacts ->
champion), a local path (kfp.local's pipeline root, or a mounted bucket), or anything fsspec opens
(gs://, s3://; minio:// is read as s3:// with an endpoint). The copy is checked (champion.json,
model metadata, no pickles) before it replaces the previous champion in one rename, so
`dvc commit` then versions a complete champion.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

from iacsieve.atomic import atomic_directory
from iacsieve.errors import IacsieveError
from iacsieve.steps.freeze import load_champion, pickle_files
from iacsieve.models import read_meta


def pull_champion(source: str, dest: str | Path = "models/champion", *, endpoint_url: str | None = None) -> dict:
    """Copy the champion at `source` into `dest` atomically; returns its champion.json."""
    dest = Path(dest)
    with atomic_directory(dest) as tmp:
        fetch(source, tmp, endpoint_url=endpoint_url)
        champion = load_champion(tmp)
        read_meta(tmp)
        unsafe = pickle_files(tmp)
        if unsafe:
            raise IacsieveError(f"{source}: refusing a champion with pickle files ({unsafe[0].name})")
    return champion


def fetch(source: str, into: Path, *, endpoint_url: str | None = None) -> None:
    """Copy the directory at `source` (path, file:// or an fsspec URI) into the existing dir `into`."""
    parsed = urlparse(source)
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else source)
        if not path.is_dir():
            raise IacsieveError(f"{source}: not a directory; give the freeze task's `champion` artifact")
        shutil.copytree(path, into, dirs_exist_ok=True)
        return
    _fetch_remote(source, into, endpoint_url)


def _fetch_remote(uri: str, into: Path, endpoint_url: str | None) -> None:
    import fsspec

    options = {}
    if uri.startswith("minio://"):  # KFP's name for its in-cluster MinIO; it speaks S3
        uri = "s3://" + uri[len("minio://"):]
        options["client_kwargs"] = {"endpoint_url": endpoint_url or "http://localhost:9000"}
    elif endpoint_url:
        options["client_kwargs"] = {"endpoint_url": endpoint_url}
    try:
        fs, path = fsspec.core.url_to_fs(uri, **options)
    except (ImportError, ValueError) as exc:
        raise IacsieveError(f"{uri}: cannot open ({exc}); install the fsspec backend (s3fs for s3:// and "
                            f"minio://, gcsfs for gs://) or copy the folder locally and pass its path") from None
    if not fs.isdir(path):
        raise IacsieveError(f"{uri}: not a directory; give the freeze task's `champion` artifact")
    fs.get(path.rstrip("/") + "/", str(into), recursive=True)
