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
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from iacsieve.errors import ConfigError, IacsieveError

META_FILE = "model_meta.json"


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


def family_module(kind: str):
    return importlib.import_module(f"iacsieve.models.{kind}")


def read_meta(model_dir: str | Path) -> dict:
    path = Path(model_dir) / META_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IacsieveError(f"{path}: not found; is {model_dir} a model saved by iacsieve?") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise IacsieveError(f"{path}: unreadable model metadata: {exc}") from None


def load_scorer(model_dir: str | Path) -> Scorer:
    """Load any saved model directory; `model_meta.json` says which family kind reads it."""
    meta = read_meta(model_dir)
    kind = meta.get("kind")
    if kind not in {"hf", "tiny", "classical"}:
        raise IacsieveError(f"{Path(model_dir) / META_FILE}: unknown model kind {kind!r}")
    return family_module(kind).load(Path(model_dir))
