"""The built-in family kinds as plug-ins (`ModelFamily`): each wraps its implementation module,
imported on first use. A new kind is a class like these in a module of its own (see
tests/test_family_plugin.py) and one `FamilySpec` line in `iacsieve.models.FAMILIES`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iacsieve.models.family import FamilyBase, Scorer

if TYPE_CHECKING:
    from iacsieve.core.run_config import TrainConfig
    from iacsieve.data.records import WarningRecord


class Classical(FamilyBase):
    """TF-IDF + logistic regression (`iacsieve.models.classical`): seconds to fit on a CPU."""

    kind = "classical"
    scores_out_of_fold = True
    refits_cheaply = True

    def fit(
        self, config: TrainConfig, train: list[WarningRecord], val: list[WarningRecord], model_dir: Path
    ) -> dict[str, Any]:
        from iacsieve.models import classical

        return dict(classical.fit(config, train, val, model_dir))

    def load(self, model_dir: Path) -> Scorer:
        from iacsieve.models import classical

        return classical.load(model_dir)

    def check_options(self, config: TrainConfig) -> None:
        from iacsieve.models import classical

        classical.resolve_options(config)

    def out_of_fold(
        self, config: TrainConfig, records: Sequence[WarningRecord], labels: np.ndarray
    ) -> tuple[np.ndarray, str]:
        from iacsieve.data.records import record_text
        from iacsieve.models import classical

        settings = classical.resolve_options(config)
        texts = [record_text(r, use_context=settings.use_context) for r in records]
        agree = classical.label_agreement(settings, texts, labels)  # P(the given label)
        return np.where(
            labels == 1, agree, 1.0 - agree
        ), f"out-of-fold ({settings.options['noise_folds']}-fold CV)"


class Tiny(FamilyBase):
    """A small encoder built from config (`iacsieve.models.tiny`), no pretrained weights."""

    kind = "tiny"

    def fit(
        self, config: TrainConfig, train: list[WarningRecord], val: list[WarningRecord], model_dir: Path
    ) -> dict[str, Any]:
        from iacsieve.models import tiny

        return dict(tiny.fit(config, train, val, model_dir))

    def load(self, model_dir: Path) -> Scorer:
        from iacsieve.models import tiny

        return tiny.load(model_dir)

    def check_options(self, config: TrainConfig) -> None:
        from iacsieve.models import tiny

        tiny.tiny_options(config)


class Pretrained(FamilyBase):
    """A pretrained code encoder fine-tuned with transformers' Trainer (`iacsieve.models.hf`)."""

    kind = "hf"

    def fit(
        self, config: TrainConfig, train: list[WarningRecord], val: list[WarningRecord], model_dir: Path
    ) -> dict[str, Any]:
        from iacsieve.models import hf

        return dict(hf.fit(config, train, val, model_dir))

    def load(self, model_dir: Path) -> Scorer:
        from iacsieve.models import hf

        return hf.load(model_dir)
