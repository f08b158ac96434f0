"""The one boundary every saved model crosses: its metadata and its files are checked before any
family reads the folder, and only a registered family kind is ever asked to load it.

A family saves its own files (`ModelFamily.fit`) plus `model_meta.json`; `load_scorer` reads
`model_meta.json` (shape checked), refuses links to devices and FIFOs, then hands the folder to the
registered kind named there. No code is imported by a name a model folder chose.
"""

from __future__ import annotations

import stat
from pathlib import Path

from iacsieve.core.errors import IacsieveError
from iacsieve.core.json_values import is_a
from iacsieve.core.layout import META_FILE
from iacsieve.io.limits import shorten
from iacsieve.io.reading import read_json_object
from iacsieve.models.family import Scorer

# Keys of model_meta.json the loaders and the filter rely on, with the JSON type each must have.
META_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "family": (str,),
    "use_context": (bool,),
    "max_length": (int,),
    "arch": (str, type(None)),
    "smells": (list,),
}


def write_meta(model_dir: str | Path, meta: dict) -> Path:
    """`model_meta.json` of a model a family saves, its shape checked as `read_meta` will check it
    (`kind` and `family` required): a family cannot save a folder the loader would refuse."""
    from iacsieve.io.atomic import atomic_write_json

    path = Path(model_dir) / META_FILE
    atomic_write_json(path, meta)
    read_meta(model_dir)
    return path


def read_meta(model_dir: str | Path) -> dict:
    """`model_meta.json` as a dict, its shape checked: a bad file is one line naming file and key."""
    path = Path(model_dir) / META_FILE
    if not path.exists() and not path.is_symlink():
        raise IacsieveError(f"{path}: not found; is {model_dir} a model saved by iacsieve?")
    meta = read_json_object(path, what="model metadata")
    for key in ("kind", "family"):
        if key not in meta:
            raise IacsieveError(f"{path}: key '{key}': missing")
    for key, types in META_TYPES.items():
        value = meta.get(key)
        if key in meta and not is_a(value, types):
            names = " or ".join(
                "null"
                if t is type(None)
                else {str: "a string", bool: "true/false", int: "an integer", list: "a list"}[t]
                for t in types
            )
            raise IacsieveError(f"{path}: key '{key}': must be {names}, got {shorten(value)}")
    return meta


def check_model_files(model_dir: str | Path) -> None:
    """Refuse a model folder holding anything but regular files and folders (symlinks followed).

    A weight or tokenizer file linked to /dev/zero or a FIFO would read forever or block.
    """
    model_dir = Path(model_dir)
    for path in sorted(model_dir.rglob("*")):
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise IacsieveError(f"{path}: unreadable model file: {exc.strerror or exc}") from None
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise IacsieveError(
                f"{path}: not a regular file (a FIFO, device or socket); refusing to load the model"
            )


def load_scorer(model_dir: str | Path) -> Scorer:
    """Load any saved model directory; `model_meta.json` says which registered family kind reads it."""
    from iacsieve.models import family_of_kind

    meta = read_meta(model_dir)
    kind = meta.get("kind")
    family = family_of_kind(kind) if isinstance(kind, str) else None
    if family is None:
        raise IacsieveError(f"{Path(model_dir) / META_FILE}: key 'kind': unknown model kind {shorten(kind)}")
    check_model_files(model_dir)
    return family.load(Path(model_dir))
