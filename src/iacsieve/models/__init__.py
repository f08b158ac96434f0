"""Model families as plug-ins, behind one registry: pretrained encoders (hf), tiny encoders built
from config (tiny), and a classical TF-IDF + logistic-regression baseline (classical).

A family kind implements `iacsieve.models.family.ModelFamily` (fit, load, score, explain,
check_options, out_of_fold, and the capabilities `scores_out_of_fold` / `refits_cheaply`); the
built-in kinds are `iacsieve.models.kinds`. Adding a family is one module holding its kind, one
`FamilySpec` line in `FAMILIES` below, and its block in params.yaml (`families:` and a grid).
Every saved model crosses `iacsieve.models.persistence` (metadata and files checked, only a
registered kind loads). A Scorer's `predict_proba(records)` builds model input with
`iacsieve.data.record_text` (the one input-text function).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from iacsieve.core.errors import ConfigError
from iacsieve.core.layout import META_FILE as META_FILE  # re-exported: models.META_FILE is its old home
from iacsieve.models.family import ModelFamily, Scorer
from iacsieve.models.persistence import META_TYPES as META_TYPES
from iacsieve.models.persistence import check_model_files as check_model_files
from iacsieve.models.persistence import load_scorer as load_scorer
from iacsieve.models.persistence import read_meta as read_meta
from iacsieve.models.persistence import write_meta as write_meta

__all__ = ["FAMILIES", "FamilySpec", "ModelFamily", "Scorer", "family_of", "get_family", "load_scorer"]

HF = "iacsieve.models.kinds:Pretrained"
TINY = "iacsieve.models.kinds:Tiny"
CLASSICAL = "iacsieve.models.kinds:Classical"


@dataclass(frozen=True)
class FamilySpec:
    """A model family: how to build it and how heavy it is."""

    name: str
    plugin: str  # "module:Class" of its `ModelFamily` kind (imported when the family is first used)
    name_or_path: str | None = None  # hub id (pretrained families)
    arch: str = ""  # "roberta" | "t5" | ""
    large: bool = False  # gradient checkpointing on

    @property
    def family(self) -> ModelFamily:
        return _plugin(self.plugin)

    @property
    def kind(self) -> str:
        """What `model_meta.json` records (`load_scorer` finds the kind by it)."""
        return self.family.kind


FAMILIES: dict[str, FamilySpec] = {
    f.name: f
    for f in (
        FamilySpec("codebert", HF, "microsoft/codebert-base", "roberta"),
        FamilySpec("codet5-small", HF, "Salesforce/codet5-small", "t5"),
        FamilySpec("codet5-base", HF, "Salesforce/codet5-base", "t5"),
        FamilySpec("codet5p-220m", HF, "Salesforce/codet5p-220m", "t5"),
        FamilySpec("codet5p-770m", HF, "Salesforce/codet5p-770m", "t5", large=True),
        FamilySpec("tiny-roberta", TINY, None, "roberta"),
        FamilySpec("tiny-t5", TINY, None, "t5"),
        FamilySpec("classical", CLASSICAL),
    )
}


def get_family(name: str) -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError("family", f"unknown model family {name!r} (known: {', '.join(FAMILIES)})") from None


def family_of(name: str) -> ModelFamily:
    """The registered family's plug-in (a ConfigError naming the known ones otherwise)."""
    return get_family(name).family


def family_of_kind(kind: str) -> ModelFamily | None:
    """The plug-in of a registered kind (what `model_meta.json` names), or None."""
    for spec in FAMILIES.values():
        if spec.family.kind == kind:
            return spec.family
    return None


def family_module(kind: str) -> ModuleType:
    """The implementation module of a built-in kind (`iacsieve.models.<kind>`)."""
    return importlib.import_module(f"iacsieve.models.{kind}")


_PLUGINS: dict[str, ModelFamily] = {}


def _plugin(ref: str) -> ModelFamily:
    """The `ModelFamily` instance named "module:Class", made once."""
    if ref not in _PLUGINS:
        module_name, _, class_name = ref.partition(":")
        _PLUGINS[ref] = getattr(importlib.import_module(module_name), class_name)()
    return _PLUGINS[ref]
