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
- for a folder output, is a link (dangling or not: the link, not a folder, would be replaced);
- for a folder the command replaces as a whole: is a non-empty folder without the marker file
  `.iacsieve-output` that the tool writes into every folder it creates (so it never empties a folder
  it did not make), nor only the names the command itself writes there (`owned`: an older output of
  the same command), nor, with `model=True`, a champion folder holding nothing but a champion's own
  files (`CHAMPION_NAMES`): a folder that merely holds a `champion.json` beside anything else (a
  project with .git/ and src/, a model folder with someone's notes) is not the tool's to replace.

`-` means standard output where a command writes one stream (`STDOUT`); elsewhere it is refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.core.smells import infer_tech_from_name
from iacsieve.io.atomic import atomic_directory
from iacsieve.io.limits import shorten
from iacsieve.io.overlap import refuse_overlap, same_path, within

STDOUT = "-"
MARKER = layout.OUTPUT_MARKER
MODEL_FILES: tuple[str, ...] = (layout.META_FILE, layout.CHAMPION_FILE)
# What a champion folder holds at its top, all regular files: what freeze and pull-champion write (the
# cards, the evidence index, a classical model's dump) and what a saved Hugging Face model and
# tokenizer consist of (`save_pretrained`). Nothing else: another name is someone's, not ours.
CHAMPION_NAMES: frozenset[str] = frozenset(
    {
        layout.CHAMPION_FILE,
        layout.META_FILE,
        layout.VAL_CURVE_FILE,
        layout.ORIGIN_FILE,
        layout.EVIDENCE_VECTORS_FILE,
        layout.EVIDENCE_ROWS_FILE,
        layout.CLASSICAL_MODEL_FILE,
        layout.CLASSICAL_PLAIN_SETTINGS,
        layout.CLASSICAL_PLAIN_ARRAYS,
        layout.ARCHIVE_MANIFEST,  # `champion unpack` keeps them
        layout.ARCHIVE_CARD,
        MARKER,
        *("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json"),
        *("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"),
        *("vocab.json", "vocab.txt", "merges.txt", "spiece.model", "sentencepiece.bpe.model"),
        "chat_template.jinja",
    }
)
_WEIGHT_SHARD = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
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
    _refuse_unusable_name(path, flag)
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
    and DVC's `.gitignore` for them is the tool's too. `model`: the command makes a champion, so an
    existing champion folder at `out` holding only a champion's files is its own to replace."""
    if str(out) == STDOUT:
        raise IacsieveError(f"{flag} -: this command writes a folder, not a stream; give a folder name")
    path = Path(out)
    _refuse_unusable_name(path, flag)
    _refuse_protected(path, flag, inputs, None, human, model_ok=model)
    _refuse_bad_parent(path, flag)
    _refuse_odd_target(path, flag, folder=True)
    if not replaces or not path.is_dir():
        return path
    if (path / MARKER).is_file() or _only_owned(path, owned):
        return path
    if model and (path / layout.CHAMPION_FILE).is_file():
        stranger = _stranger(path)
        if stranger is None:
            return path
        raise IacsieveError(
            f"{flag} {out}: holds {stranger!r}, which no champion holds (a champion folder holds only its "
            f"model, cards and evidence); refusing to replace it: choose a new folder, or move it away"
        )
    raise IacsieveError(
        f"{flag} {out}: a non-empty folder iacsieve did not create (no {MARKER} in it); "
        f"refusing to replace it: choose a new folder, or empty it yourself"
    )


@contextlib.contextmanager
def output_folder(out: PathLike) -> Iterator[Path]:
    """`atomic_directory` plus the marker that proves the tool made the folder (check first with
    `check_folder_output`)."""
    with atomic_directory(out) as tmp:
        (tmp / MARKER).write_text(
            "written by iacsieve; a rerun may replace this folder as a whole\n", encoding="utf-8"
        )
        yield tmp


NAME_MAX, PATH_MAX = 255, 4096  # bytes: Linux's limits (and most filesystems')


def _refuse_unusable_name(path: Path, flag: str) -> None:
    """A name the system cannot hold is the user's to shorten, said with what they gave (else the
    error names a file inside it that nobody gave, or a temp name)."""
    longest = max((len(os.fsencode(part)) for part in path.parts), default=0)
    if longest > NAME_MAX or len(os.fsencode(os.path.abspath(path))) >= PATH_MAX:
        raise IacsieveError(f"{flag} {too_long_message(str(path))}")


def too_long_message(given: str) -> str:
    """The one line for a path the file system cannot hold, naming (shortly) what the user gave."""
    return (
        f"{shorten(given)}: too long for the file system (a name over {NAME_MAX} bytes or a path over "
        f"{PATH_MAX - 1}); give a shorter one"
    )


def _refuse_odd_target(path: Path, flag: str, *, folder: bool) -> None:
    """A file output's link is judged by what it points to (the link itself is what gets replaced); a
    folder output is never a link (replacing it would drop the link, not fill the folder)."""
    if folder and path.is_symlink():
        raise IacsieveError(f"{flag} {path}: is a link; give a real folder (or a new name)")
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


def _stranger(folder: Path) -> str | None:
    """The first top-level entry of `folder` that is not a champion's own regular file, if any."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        return f"(unreadable: {exc.strerror or exc})"
    for entry in entries:
        own = entry.name in CHAMPION_NAMES or _WEIGHT_SHARD.fullmatch(entry.name)
        if not own or not entry.is_file(follow_symlinks=False):
            return entry.name + ("/" if entry.is_dir(follow_symlinks=False) else "")
    return None


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
