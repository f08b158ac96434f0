"""The data's identity: the DVC md5 of `data/raw`, carried by every run so a cluster never trains on other data.

DVC 3 names a directory by the md5 of its `.dir` listing (a JSON list of `{"md5", "relpath"}`
sorted by relpath, each file's md5 being that of its bytes) and stores it on a remote as
`files/md5/<xx>/<rest>.dir`, each file as `files/md5/<xx>/<rest>`. `folder_md5` computes that
name for a local folder, `data_md5_from_dvc_file` reads it from `data.dvc`; `prepare` refuses
data whose md5 differs. The cluster reads data from a path containing the md5: `push_data`
uploads it to `<root>/<md5>/`, or `fetch_from_dvc_remote` rebuilds the folder from the DVC remote
itself (what `dvc push` already wrote), checking every file's md5 on the way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
from pathlib import Path
from typing import Any

import yaml

from iacsieve.core.errors import IacsieveError
from iacsieve.io.atomic import atomic_directory
from iacsieve.io.object_store import open_uri

log = logging.getLogger(__name__)

DIR_SUFFIX = ".dir"
_MD5 = re.compile(r"^[0-9a-f]{32}$")


def normalize_md5(value: str, *, source: object = "md5") -> str:
    """The bare 32-hex md5 of `value` (DVC writes a directory's as `<md5>.dir`)."""
    md5 = str(value).strip().lower().removesuffix(DIR_SUFFIX)
    if not _MD5.match(md5):
        raise IacsieveError(f"{source}: not an md5 (32 hex digits, optionally + '.dir'): {value!r}")
    return md5


def data_md5_from_dvc_file(path: str | Path = "data.dvc") -> str:
    """The md5 DVC recorded for the tracked folder in `path` (bare hex, without `.dir`)."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IacsieveError(f"{path}: file not found; track the data with `dvc add data/raw`") from None
    except (OSError, yaml.YAMLError) as exc:
        raise IacsieveError(f"{path}: cannot read: {exc}") from None
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        raise IacsieveError(f"{path}: outs: expected exactly one tracked output")
    md5 = outs[0].get("md5")
    if not md5:
        raise IacsieveError(f"{path}: outs[0].md5: missing; run `dvc commit {path}`")
    return normalize_md5(md5, source=f"{path}: outs[0].md5")


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes (DVC 3's `md5` hash; no line-ending normalisation)."""
    digest = hashlib.md5()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_listing(folder: str | Path) -> list[dict[str, str]]:
    """DVC's `.dir` listing of a folder: every file's md5 and POSIX relpath, sorted by relpath."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IacsieveError(f"{folder}: not a directory")
    files = (p for p in folder.rglob("*") if p.is_file())
    return sorted(
        ({"md5": file_md5(p), "relpath": p.relative_to(folder).as_posix()} for p in files),
        key=lambda entry: entry["relpath"],
    )


def listing_md5(listing: list[dict[str, str]]) -> str:
    """The md5 DVC gives a directory: that of its listing serialised as DVC serialises it."""
    return hashlib.md5(json.dumps(listing, sort_keys=True).encode("utf-8")).hexdigest()


def folder_md5(folder: str | Path) -> str:
    """A folder's DVC md5 (bare hex): equal to `data.dvc`'s md5 when the folder is the tracked data."""
    return listing_md5(folder_listing(folder))


def check_data_md5(folder: str | Path, expected: str) -> str:
    """Raise a one-line IacsieveError unless `folder`'s DVC md5 is `expected`; returns the md5."""
    want = normalize_md5(expected, source="expected md5")
    got = folder_md5(folder)
    if got != want:
        raise IacsieveError(
            f"{folder}: data md5 {got} differs from the expected {want} (data.dvc); "
            f"`dvc pull data.dvc` here, or push the data this commit tracks"
        )
    return got


def data_uri(root: str, md5: str) -> str:
    """Where the data with `md5` lives under a content-addressed root: `<root>/<md5>`."""
    return f"{root.rstrip('/')}/{normalize_md5(md5)}"


def push_data(
    folder: str | Path, root: str, *, expected_md5: str | None = None, endpoint_url: str | None = None
) -> str:
    """Upload `folder` to `<root>/<md5>/` (skipped when a complete copy is already there); returns that URI.

    With `expected_md5` (data.dvc's), local data that differs is refused before anything is written.
    An interrupted upload is finished on the next call: a copy counts as complete only when every
    file is there with its size.
    """
    listing = folder_listing(folder)
    md5 = listing_md5(listing)
    if expected_md5 is not None and md5 != normalize_md5(expected_md5, source="expected md5"):
        raise IacsieveError(
            f"{folder}: data md5 {md5} differs from data.dvc's {normalize_md5(expected_md5)}; "
            f"`dvc pull data.dvc` (or `dvc add {folder}` to track the new data) first"
        )
    target = data_uri(root, md5)
    fs, path = open_uri(target, endpoint_url)
    if _has_copy(fs, path, folder, listing):
        log.info("%s already holds data %s", target, md5)
        return target
    for entry in listing:
        dest = posixpath.join(path, entry["relpath"])
        fs.makedirs(posixpath.dirname(dest), exist_ok=True)
        fs.put_file(str(Path(folder) / entry["relpath"]), dest)
    log.info("pushed %d files to %s", len(listing), target)
    return target


def _has_copy(fs: Any, path: str, folder: str | Path, listing: list[dict[str, str]]) -> bool:
    """Whether `path` holds exactly the listed files, each with its local size (cheap: no download)."""
    try:
        found = {
            posixpath.relpath(p, path): info.get("size") for p, info in fs.find(path, detail=True).items()
        }
    except FileNotFoundError:
        return False
    return found == {e["relpath"]: (Path(folder) / e["relpath"]).stat().st_size for e in listing}


def remote_file_path(remote: str, md5: str) -> str:
    """DVC 3's place for an object on a remote: `<remote>/files/md5/<xx>/<rest>`."""
    return f"{remote.rstrip('/')}/files/md5/{md5[:2]}/{md5[2:]}"


def fetch_from_dvc_remote(
    remote: str, md5: str, dest: str | Path, *, endpoint_url: str | None = None
) -> Path:
    """Rebuild the DVC-tracked folder `md5` from a DVC remote (path or URI) into `dest`, atomically.

    Reads the `.dir` listing, then each file, checking every md5, so a pod gets exactly the data
    `data.dvc` names with nothing but read access to the bucket `dvc push` wrote to.
    """
    md5 = normalize_md5(md5)
    fs, root = open_uri(remote, endpoint_url)
    listing_uri = remote_file_path(remote, md5) + DIR_SUFFIX
    try:
        listing_bytes = fs.cat_file(remote_file_path(root, md5) + DIR_SUFFIX)
    except FileNotFoundError:
        raise IacsieveError(f"{listing_uri}: not found; `dvc push data.dvc` to that remote first") from None
    if hashlib.md5(listing_bytes).hexdigest() != md5:
        raise IacsieveError(f"{listing_uri}: listing does not hash to {md5} (corrupt remote object)")
    listing = json.loads(listing_bytes)
    with atomic_directory(dest) as tmp:
        for entry in listing:
            relpath = posixpath.normpath(entry["relpath"])
            if relpath.startswith("../") or posixpath.isabs(relpath):
                raise IacsieveError(
                    f"{listing_uri}: refusing relpath {entry['relpath']!r} outside the folder"
                )
            local = Path(tmp) / relpath
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(remote_file_path(root, entry["md5"]), str(local))
            if file_md5(local) != entry["md5"]:
                raise IacsieveError(
                    f"{remote_file_path(remote, entry['md5'])}: content does not hash to "
                    f"{entry['md5']} (corrupt remote object)"
                )
    log.info("fetched data %s (%d files) from %s", md5, len(listing), remote)
    return Path(dest)


def dvc_remote_url(repo: str | Path = ".", name: str | None = None) -> str:
    """The URL of DVC remote `name` (default: the repo's default remote), relative paths resolved."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc_repo:
        remotes = dvc_repo.config.get("remote", {})
        name = name or dvc_repo.config.get("core", {}).get("remote")
        if not name or name not in remotes:
            raise IacsieveError(
                f"{repo}: no DVC remote {name!r} (known: {', '.join(remotes) or 'none'}); "
                f"`dvc remote add -d NAME URL`"
            )
        url = remotes[name]["url"]
    return url
