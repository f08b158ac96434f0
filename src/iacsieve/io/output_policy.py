"""One output policy for every command that writes: what the tool will and won't overwrite.

Checked before anything is read or trained, so a careless `--out` costs nothing and loses nothing.
An output is refused when it

- is, contains or lies inside an input of the same command (`iacsieve.io.overlap`), or is an existing
  script under the command's `--scripts` (writing a new file beside the scripts is fine);
- is, contains or lies inside the labels store (`data/human`, or the command's `--human`): only
  `labels add` writes there, under its lock;
- lies inside a model directory (a folder holding `model_meta.json` or `champion.json`) or is one,
  unless the command is the one that makes that folder (freeze, pull-champion: `model=True`);
- is not a regular file (a device such as /dev/null, a FIFO, a socket, or a link to one), or, for a
  file output, is a folder; for a folder output, is a file (or a link to a folder);
- for a folder the command replaces as a whole: is a non-empty folder without the marker file
  `.iacsieve-output` that the tool writes into every folder it creates (so it never empties a folder
  it did not make), nor only the names the command itself writes there (`owned`: an older output of
  the same command), nor, with `model=True`, a model folder.

`-` means standard output where a command writes one stream (`STDOUT`); elsewhere it is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.core.smells import infer_tech_from_name
from iacsieve.io.atomic import atomic_directory
from iacsieve.io.overlap import refuse_overlap, same_path, within

STDOUT = "-"
MARKER = ".iacsieve-output"
MODEL_FILES: tuple[str, ...] = (layout.META_FILE, layout.CHAMPION_FILE)
PathLike = str | os.PathLike


def check_file_output(
    out: PathLike,
    *,
    flag: str = "--out",
    inputs: Mapping[str, PathLike | None] | None = None,
    scripts: PathLike | None = None,
    human: PathLike | None = layout.HUMAN_DIR,
    stream_ok: bool = False,
) -> Path | None:
    """Refuse a file output the policy forbids; None for `-` (stdout) when `stream_ok`, else the path."""
    if str(out) == STDOUT:
        if stream_ok:
            return None
        raise IacsieveError(f"{flag} -: this command writes a file, not a stream; give a file name")
    path = Path(out)
    _refuse_protected(path, flag, inputs, scripts, human)
    _refuse_bad_parent(path, flag)
    _refuse_odd_target(path, flag, folder=False)
    return path


def check_folder_output(
    out: PathLike,
    *,
    flag: str = "--out",
    inputs: Mapping[str, PathLike | None] | None = None,
    human: PathLike | None = layout.HUMAN_DIR,
    replaces: bool = True,
    owned: Collection[str] = (),
    model: bool = False,
) -> Path:
    """Refuse a folder output the policy forbids. `replaces`: the command swaps the whole folder
    (so an existing non-empty one must carry the tool's marker); False for a command that only
    writes its own named files into the folder (plots). `owned`: the names the command writes at
    the folder's top; a folder holding only those (an older run's output, from before the marker)
    and DVC's `.gitignore` for them is the tool's too. `model`: the command makes a model folder (a
    champion), so an existing model folder at `out` is its own to replace."""
    if str(out) == STDOUT:
        raise IacsieveError(f"{flag} -: this command writes a folder, not a stream; give a folder name")
    path = Path(out)
    _refuse_protected(path, flag, inputs, None, human, model_ok=model)
    _refuse_bad_parent(path, flag)
    _refuse_odd_target(path, flag, folder=True)
    ours = (path / MARKER).is_file() or _only_owned(path, owned) or (model and is_model_dir(path))
    if replaces and path.is_dir() and not ours:
        raise IacsieveError(
            f"{flag} {out}: a non-empty folder iacsieve did not create (no {MARKER} in it); "
            f"refusing to replace it: choose a new folder, or empty it yourself"
        )
    return path


@contextlib.contextmanager
def output_folder(out: PathLike) -> Iterator[Path]:
    """`atomic_directory` plus the marker that proves the tool made the folder (check first with
    `check_folder_output`)."""
    with atomic_directory(out) as tmp:
        (tmp / MARKER).write_text(
            "written by iacsieve; a rerun may replace this folder as a whole\n", encoding="utf-8"
        )
        yield tmp


def _refuse_odd_target(path: Path, flag: str, *, folder: bool) -> None:
    """A link is judged by what it points to (the link itself is what gets replaced)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return  # new, or a dangling link: nothing is lost by writing there
    except OSError as exc:
        raise IacsieveError(f"{flag} {path}: cannot inspect it: {exc.strerror or exc}") from None
    if folder and stat.S_ISREG(mode):
        raise IacsieveError(f"{flag} {path}: is a file; this command writes a folder")
    if not folder and stat.S_ISDIR(mode):
        raise IacsieveError(f"{flag} {path}: is a directory; {flag} needs a file name")
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise IacsieveError(
            f"{flag} {path}: not a regular file (a device, FIFO or socket); refusing to replace it"
        )
    if folder and path.is_symlink():
        raise IacsieveError(f"{flag} {path}: is a link to a folder; give the real folder")


def _refuse_protected(
    path: Path,
    flag: str,
    inputs: Mapping[str, PathLike | None] | None,
    scripts: PathLike | None,
    human: PathLike | None,
    *,
    model_ok: bool = False,
) -> None:
    """`model_ok`: `path` may itself be a model folder (the command makes it), not lie inside one."""
    refuse_overlap(path, dict(inputs or {}), out_flag=flag)
    if scripts is not None:
        refuse_overlap(path, {"--scripts": scripts}, out_flag=flag, inside_ok=True)
        if within(path, scripts) and path.exists() and infer_tech_from_name(path.name) is not None:
            raise IacsieveError(
                f"{flag} {path} is an existing IaC script under --scripts; refusing to overwrite it"
            )
    if human is not None:
        store = Path(human)
        if same_path(path, store) or within(path, store) or (store.exists() and within(store, path)):
            raise IacsieveError(
                f"{flag} {path} overlaps the labels store {store}; only `iacsieve labels add` writes there"
            )
    model = _model_dir_at_or_above(path)
    if model is not None and not (model_ok and same_path(model, path)):
        raise IacsieveError(
            f"{flag} {path} lies inside the model directory {model}; write outside it (a model folder "
            f"is replaced only by the step that makes it)"
        )


def is_model_dir(folder: PathLike) -> bool:
    """A model folder: `model_meta.json` or `champion.json` at its top."""
    return any((Path(folder) / name).is_file() for name in MODEL_FILES)


def _model_dir_at_or_above(path: Path) -> Path | None:
    real = Path(os.path.realpath(os.path.abspath(path)))
    return next((folder for folder in (real, *real.parents) if is_model_dir(folder)), None)


def _refuse_bad_parent(path: Path, flag: str) -> None:
    folder = next((p for p in Path(os.path.abspath(path)).parents if p.exists()), None)
    if folder is None or not folder.is_dir():
        raise IacsieveError(f"{flag} {path}: {folder} is not a folder; cannot write there")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise IacsieveError(f"{flag} {path}: no permission to write in {folder}")


def _only_owned(folder: Path, owned: Collection[str]) -> bool:
    """`folder` holds nothing but `owned` names (and DVC's `.gitignore` listing only those): empty counts."""
    try:
        names = {entry.name for entry in os.scandir(folder)}
    except OSError:
        return False
    if ".gitignore" in names:
        try:
            lines = (folder / ".gitignore").read_text(encoding="utf-8").split()
        except (OSError, UnicodeDecodeError):
            return False
        if not all(line.lstrip("/") in owned for line in lines):
            return False
        names.discard(".gitignore")
    return names <= set(owned)
