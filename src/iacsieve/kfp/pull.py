"""Bring a KFP run's champion home, versioned: its own DVC-tracked folder plus git-tracked metrics.

The source is the freeze task's `champion` artifact: its URI (KFP UI: run -> freeze -> Output
artifacts -> champion, or `--from-run RUN_ID`), a local path (kfp.local's pipeline root, or a
mounted bucket), or anything fsspec opens (gs://, s3://; minio:// is read as s3:// with an
endpoint). The copy is checked (champion.json, model metadata, no pickles) before it replaces the
previous one in one rename. `home_champion` then writes its metrics JSON (the shape of
reports/metrics.json, so `dvc metrics show|diff` lists both champions) and `dvc add`s the folder.
The cluster champion never lands on a DVC stage's output (`models/champion` is freeze4's), so the
next `dvc repro` neither overwrites it nor finds its own output changed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.io.atomic import atomic_directory, atomic_write_json
from iacsieve.io.object_store import open_uri
from iacsieve.io.output_policy import check_folder_output
from iacsieve.kfp.store_errors import store_errors
from iacsieve.models import read_meta
from iacsieve.repo.dvc_hints import without_dvc_hints
from iacsieve.steps.freeze import load_champion, pickle_files
from iacsieve.steps.metrics import read_json_object
from iacsieve.steps.selection import SELECTION_FILE

NOT_A_FOLDER = (
    "not a directory; give a task's output artifact (a folder: freeze `champion`, select `selection`)"
)


def pull_champion(
    source: str,
    dest: str | Path = Path(layout.CLUSTER_CHAMPION_DIR),
    *,
    endpoint_url: str | None = None,
    origin: dict | None = None,
) -> dict:
    """Copy the champion at `source` into `dest` atomically; returns its champion.json.

    `origin` (e.g. the run id) is written beside it as origin.json, with the source URI.
    """
    dest = _checked_destination(source, dest)
    with atomic_directory(dest) as tmp:
        fetch(source, tmp, endpoint_url=endpoint_url)
        champion = load_champion(tmp)
        read_meta(tmp)
        unsafe = pickle_files(tmp)
        if unsafe:
            raise IacsieveError(f"{source}: refusing a champion with pickle files ({unsafe[0].name})")
        atomic_write_json(tmp / layout.ORIGIN_FILE, {"source": source, **(origin or {})})
    return dict(champion)


def _checked_destination(source: str, dest: str | Path) -> Path:
    """The output policy for a champion's destination: a champion folder may be replaced, a user's
    folder, the source itself or a folder inside a model may not."""
    return check_folder_output(dest, inputs=_source_input(source), model=True)


def _source_input(source: str) -> dict[str, str]:
    """A local source is an input the outputs may not touch; a URI is not on this machine."""
    return {} if "://" in source else {"SOURCE": source}


def home_champion(
    source: str,
    dest: str | Path = Path(layout.CLUSTER_CHAMPION_DIR),
    *,
    reports: str | Path = Path(layout.CLUSTER_REPORTS_DIR),
    selection_source: str | None = None,
    endpoint_url: str | None = None,
    origin: dict | None = None,
    repo: str | Path = ".",
    track: bool = True,
) -> dict[str, Path]:
    """Pull the champion into `dest`, write `<reports>/metrics.json` (+ selection.json), `dvc add` `dest`.

    Returns the files to commit to git: the .dvc file and the metrics (and selection) JSON; none when
    `dest` lies outside the DVC project at `repo` (then it is only copied).
    """
    from iacsieve.reporting.report import pulled_champion_metrics

    dest = _checked_destination(source, dest)
    inputs: dict[str, str | Path] = {**_source_input(source), "--out": dest}
    reports = check_folder_output(reports, flag="--reports", inputs=inputs, replaces=False)
    if not inside_dvc_repo(
        dest, repo
    ):  # e.g. a scratch copy: nothing to version, nothing written in the repo
        pull_champion(source, dest, endpoint_url=endpoint_url, origin=origin)
        return {}
    refuse_stage_output(dest, repo)
    selection = None
    if selection_source:  # the stage's ranking of every run (small): the report's and plots' stage-4 data
        with tempfile.TemporaryDirectory(prefix="iacsieve-selection-") as tmp:
            fetch(selection_source, Path(tmp), endpoint_url=endpoint_url)
            selection = read_json_object(Path(tmp) / SELECTION_FILE, hint="give a select task's `selection`")
    champion = pull_champion(source, dest, endpoint_url=endpoint_url, origin=origin)
    written: dict[str, Path] = {}
    if selection is not None:
        written["selection"] = atomic_write_json(reports / SELECTION_FILE, selection)
    written["metrics"] = atomic_write_json(
        reports / layout.METRICS_FILE, pulled_champion_metrics(champion, selection)
    )
    if track:
        written["dvc_file"] = dvc_add(dest, repo)
        if register_metrics(Path(repo) / layout.DVC_FILE, reports / layout.METRICS_FILE):
            written["dvc_yaml"] = Path(repo) / layout.DVC_FILE
    return written


def register_metrics(dvc_yaml: Path, metrics: Path) -> bool:
    """List `metrics` under dvc.yaml's top-level `metrics:` (once), so `dvc metrics show|diff` compare
    the pulled champion with the local one. Not listed before the first pull: DVC warns about a
    declared metrics file that does not exist. Returns whether dvc.yaml changed.

    The user's file changes by the added lines alone (`metrics_lines`): a YAML round trip would
    re-indent the whole file (a one-line change became a 492-line diff).
    """
    from iacsieve.io.atomic import atomic_write_text

    if not dvc_yaml.is_file():
        return False
    entry = metrics.relative_to(dvc_yaml.parent).as_posix() if metrics.is_absolute() else metrics.as_posix()
    text = dvc_yaml.read_text(encoding="utf-8")
    updated = with_metrics_entry(text, entry, source=dvc_yaml)
    if updated == text:
        return False
    atomic_write_text(dvc_yaml, updated)
    return True


_TOP_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")
_ITEM = re.compile(r"^( *)- ")


def with_metrics_entry(text: str, entry: str, *, source: object = layout.DVC_FILE) -> str:
    """`text` (a dvc.yaml) with `entry` added to its top-level `metrics:` block list, in the file's own
    list indentation; the list is added at the end when there is none. Only lines are inserted."""
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, dict):
        raise IacsieveError(f"{source}: not a mapping")
    listed = doc.get("metrics") or []
    if entry in listed:
        return text
    lines = text.splitlines(keepends=True)
    head = next((i for i, line in enumerate(lines) if re.match(r"^metrics\s*:\s*(#.*)?$", line)), None)
    if head is None and "metrics" in doc:
        raise IacsieveError(f"{source}: `metrics:` is not a block list; add `- {entry}` to it yourself")
    indent = _list_indent(lines)
    if head is None:
        tail = "" if not text or text.endswith("\n") else "\n"
        updated = text + tail + ("\n" if text.strip() else "") + f"metrics:\n{indent}- {entry}\n"
    else:
        last = head
        for i in range(head + 1, len(lines)):
            if _TOP_KEY.match(lines[i]):
                break
            item = _ITEM.match(lines[i])
            if item:
                last, indent = i, item.group(1)
        if not lines[last].endswith("\n"):
            lines[last] += "\n"
        lines.insert(last + 1, f"{indent}- {entry}\n")
        updated = "".join(lines)
    after = yaml.safe_load(updated)
    if after.get("metrics") != [*listed, entry] or {k: v for k, v in after.items() if k != "metrics"} != {
        k: v for k, v in doc.items() if k != "metrics"
    }:
        raise IacsieveError(
            f"{source}: could not add `{entry}` to `metrics:` by inserting a line; add it yourself"
        )
    return updated


def _list_indent(lines: list[str]) -> str:
    """How the file indents a top-level key's list items ("" or "  "): the first such item's."""
    for i, line in enumerate(lines[:-1]):
        if _TOP_KEY.match(line) and line.rstrip().endswith(":"):
            item = _ITEM.match(lines[i + 1])
            if item:
                return item.group(1)
    return "  "


def inside_dvc_repo(dest: Path, repo: str | Path = ".") -> bool:
    """Whether `dest` lies in the DVC project at `repo` (elsewhere it is copied, not tracked)."""
    root = Path(repo).resolve()
    return (root / ".dvc").is_dir() and root in (root / dest).resolve().parents


def refuse_stage_output(dest: Path, repo: str | Path = ".") -> None:
    """A one-line error when `dest` is (inside, or holds) a dvc.yaml stage's output, e.g. freeze4's models/champion."""
    from dvc.stage import PipelineStage

    target = (Path(repo) / dest).resolve()
    with _dvc_repo(repo, dest) as dvc_repo:
        stages = [s for s in dvc_repo.index.stages if isinstance(s, PipelineStage)]
    for stage in stages:
        for out in stage.outs:
            path = Path(out.fs_path).resolve()
            if target == path or path in target.parents or target in path.parents:
                raise IacsieveError(
                    f"{dest}: output of DVC stage {stage.addressing!r}; the next `dvc repro` "
                    f"would overwrite it: pull to its own folder (default {Path(layout.CLUSTER_CHAMPION_DIR)})"
                )


def dvc_add(path: Path, repo: str | Path = ".") -> Path:
    """`dvc add path` (cache it, write `<path>.dvc`, git-ignore the folder); returns the .dvc file."""
    with _dvc_repo(repo, path) as dvc_repo, without_dvc_hints():  # we print the one `git add` line
        dvc_repo.add(str((Path(repo) / path).resolve()))
    return Path(f"{path}.dvc")


@contextlib.contextmanager
def _dvc_repo(repo: str | Path, about: Path) -> Iterator[Any]:
    """The DVC project at `repo`; DVC's errors (a broken dvc.yaml, a failed add) become one line."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(repo)) as dvc_repo:
            yield dvc_repo
    except DvcException as exc:
        raise IacsieveError(f"{about}: DVC: {str(exc).splitlines()[0]}") from None


def fetch(source: str, into: Path, *, endpoint_url: str | None = None) -> None:
    """Copy the directory at `source` (path, file:// or an fsspec URI) into the existing dir `into`.

    Plain files and folders only: a symbolic link (which could reach outside the artifact), a
    device or a FIFO (/dev/zero would fill the disk) is refused, as are object keys that would land
    outside `into` (`../`) and an object `a` beside objects `a/b` (a file and a folder of one name).
    """
    parsed = urlparse(source)
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else source)
        if not path.is_dir():
            raise IacsieveError(f"{source}: {NOT_A_FOLDER}")
        _copy_plain_tree(path, into, source)
        return
    _fetch_remote(source, into, endpoint_url)


def _copy_plain_tree(root: Path, into: Path, source: str) -> None:
    """Copy `root` into `into`, refusing anything but folders and regular files (never followed)."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel_folder = Path(folder).relative_to(root)
        for name in sorted(dirs + files):
            item = Path(folder) / name
            mode = os.lstat(item).st_mode
            if stat.S_ISDIR(mode):
                (into / rel_folder / name).mkdir(exist_ok=True)
            elif stat.S_ISREG(mode):
                _copy_regular(item, into / rel_folder / name, source)
            else:
                kind = (
                    "a symbolic link"
                    if stat.S_ISLNK(mode)
                    else "not a regular file (a device, FIFO or socket)"
                )
                raise IacsieveError(
                    f"{source}: {rel_folder / name} is {kind}; a champion holds plain files only"
                )


def _copy_regular(item: Path, dest: Path, source: str) -> None:
    """Copy one file opened without following a link and without blocking on a FIFO swapped in."""
    fd = os.open(item, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise IacsieveError(f"{source}: {item.name} is not a regular file")
        with open(dest, "xb") as out:
            shutil.copyfileobj(handle, out)


def remote_files(uri: str, listing: dict[str, dict[str, Any]], base: str) -> dict[str, str]:
    """{relative path: full key} of the objects under `base`; keys that would escape the folder, and
    an object `a` beside objects `a/...`, are one-line errors (either would lose or misplace a file)."""
    files: dict[str, str] = {}
    for full, info in sorted(listing.items()):
        if info.get("type") == "directory":
            continue
        rel = full[len(base) + 1 :] if full.startswith(base + "/") else ""
        parts = rel.split("/")
        if not rel or any(p in ("", ".", "..") for p in parts) or "\\" in rel:
            raise IacsieveError(f"{uri}: object key {full!r} would land outside the folder; refusing")
        files[rel] = full
    for rel in files:
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                raise IacsieveError(
                    f"{uri}: objects {'/'.join(parts[:i])!r} and {rel!r} collide (a file and a folder of "
                    "one name); a champion folder cannot hold both"
                )
    return files


def _fetch_remote(uri: str, into: Path, endpoint_url: str | None) -> None:
    fs, path = open_uri(uri, endpoint_url)
    base = path.rstrip("/")
    with store_errors(uri, endpoint_url):
        if not fs.isdir(base):
            raise IacsieveError(f"{uri}: {NOT_A_FOLDER}")
        listing = fs.find(base, detail=True)
    for rel, full in remote_files(uri, listing, base).items():
        dest = into / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        with store_errors(uri, endpoint_url):
            fs.get_file(full, str(dest))
