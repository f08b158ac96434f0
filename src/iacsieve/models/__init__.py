"""Model families: pretrained encoders (hf), tiny encoders built from config (tiny), and a
classical TF-IDF + logistic-regression baseline (classical), behind one interface.

Contract every family kind implements (module `iacsieve.models.<kind>`):

- `fit(config: TrainConfig, train: list[WarningRecord], val: list[WarningRecord], model_dir: Path)
   -> dict` trains, saves a loadable model into `model_dir` (incl. `model_meta.json`) and returns the
   train log (`epochs`: per-epoch loss / val F1, `wall_time_s`, `samples_per_s`, `stopped_early`...).
- `load(model_dir: Path) -> Scorer`, loading without executing code from the directory.

A Scorer's `predict_proba(records)` returns P(real smell) per record, building model input with
`iacsieve.data.record_text` (the one input-text function).
"""

from __future__ import annotations

import importlib
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np

from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.layout import META_FILE as META_FILE  # re-exported: models.META_FILE is its old home
from iacsieve.io.limits import shorten
from iacsieve.io.reading import read_json_object


@dataclass(frozen=True)
class FamilySpec:
    """A model family: how to build it and how heavy it is."""

    name: str
    kind: str  # module under iacsieve.models: "hf", "tiny" or "classical"
    name_or_path: str | None = None  # hub id (pretrained families)
    arch: str = ""  # "roberta" | "t5" | ""
    large: bool = False  # gradient checkpointing on


FAMILIES: dict[str, FamilySpec] = {
    f.name: f
    for f in (
        FamilySpec("codebert", "hf", "microsoft/codebert-base", "roberta"),
        FamilySpec("codet5-small", "hf", "Salesforce/codet5-small", "t5"),
        FamilySpec("codet5-base", "hf", "Salesforce/codet5-base", "t5"),
        FamilySpec("codet5p-220m", "hf", "Salesforce/codet5p-220m", "t5"),
        FamilySpec("codet5p-770m", "hf", "Salesforce/codet5p-770m", "t5", large=True),
        FamilySpec("tiny-roberta", "tiny", None, "roberta"),
        FamilySpec("tiny-t5", "tiny", None, "t5"),
        FamilySpec("classical", "classical"),
    )
}


class Scorer(Protocol):
    """A loaded model that scores warnings."""

    family: str
    use_context: bool

    def predict_proba(self, records: Sequence, batch_size: int = 32) -> np.ndarray: ...


def get_family(name: str) -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError("family", f"unknown model family {name!r} (known: {', '.join(FAMILIES)})") from None


def family_module(kind: str) -> ModuleType:
    return importlib.import_module(f"iacsieve.models.{kind}")


# Keys of model_meta.json the loaders and the filter rely on, with the JSON type each must have.
META_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "family": (str,),
    "use_context": (bool,),
    "max_length": (int,),
    "arch": (str, type(None)),
    "smells": (list,),
}


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
        if key in meta and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
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
    """Load any saved model directory; `model_meta.json` says which family kind reads it."""
    meta = read_meta(model_dir)
    kind = meta.get("kind")
    if kind not in {"hf", "tiny", "classical"}:
        raise IacsieveError(f"{Path(model_dir) / META_FILE}: key 'kind': unknown model kind {shorten(kind)}")
    check_model_files(model_dir)
    return family_module(kind).load(Path(model_dir))
