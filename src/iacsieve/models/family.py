"""A model family as a plug-in: what every family offers the steps, the filter and the reports.

A family kind is a class (`ModelFamily`) named in the registry (`iacsieve.models.FAMILIES`) by
"module:Class"; its implementation module is imported when the family is first used (torch is heavy).
Callers ask the family for a capability instead of testing its name: `review` scores training rows
out of fold where `scores_out_of_fold`, the learning curve lends a champion's config where
`refits_cheaply`, params.yaml's `options:` are checked by `check_options`.

Persistence: `fit` saves a loadable model into `model_dir` (its own files plus `model_meta.json`,
`iacsieve.models.persistence.write_meta`), `load` reads it back without running code from the folder;
`iacsieve.models.persistence.load_scorer` checks the folder and the metadata before any family reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from iacsieve.core.errors import ConfigError

if TYPE_CHECKING:
    from iacsieve.core.run_config import TrainConfig
    from iacsieve.data.records import WarningRecord


class Scorer(Protocol):
    """A loaded model that scores warnings (P(real smell) per record). A scorer may also offer
    `top_features(records, n)`: what moved each score (the filter's evidence, `--explain`)."""

    family: str
    use_context: bool

    def predict_proba(self, records: Sequence[Any], batch_size: int = 32) -> np.ndarray: ...


class ModelFamily(Protocol):
    """What a family kind implements (see `FamilyBase` for the optional parts' defaults)."""

    kind: str  # written into model_meta.json; `load_scorer` reads a folder by it
    scores_out_of_fold: bool  # review can score training rows out of fold (`out_of_fold`)
    refits_cheaply: bool  # a throwaway model per data point is affordable (the learning curve)

    def fit(
        self, config: TrainConfig, train: list[WarningRecord], val: list[WarningRecord], model_dir: Path
    ) -> dict[str, Any]:
        """Train, save a loadable model into `model_dir`, return the train log."""
        ...

    def load(self, model_dir: Path) -> Scorer: ...

    def score(self, scorer: Scorer, records: Sequence[WarningRecord], batch_size: int = 32) -> np.ndarray: ...

    def explain(
        self, scorer: Scorer, records: Sequence[WarningRecord], n: int
    ) -> list[list[tuple[str, float]]] | None:
        """Per record, the `n` features that moved its score most; None where the family cannot say."""
        ...

    def check_options(self, config: TrainConfig) -> None:
        """Refuse `config.options` the family does not take (a ConfigError naming `options.<key>`)."""
        ...

    def out_of_fold(
        self, config: TrainConfig, records: Sequence[WarningRecord], labels: np.ndarray
    ) -> tuple[np.ndarray, str]:
        """(P(real smell) per row from models that never saw that row, how they were made)."""
        ...


class FamilyBase:
    """Defaults for the optional parts of `ModelFamily`: no options, no out-of-fold scores."""

    kind: ClassVar[str] = ""
    scores_out_of_fold: ClassVar[bool] = False
    refits_cheaply: ClassVar[bool] = False

    def score(self, scorer: Scorer, records: Sequence[WarningRecord], batch_size: int = 32) -> np.ndarray:
        return np.asarray(scorer.predict_proba(list(records), batch_size=batch_size), dtype=float).reshape(-1)

    def explain(
        self, scorer: Scorer, records: Sequence[WarningRecord], n: int
    ) -> list[list[tuple[str, float]]] | None:
        top = getattr(scorer, "top_features", None)
        return top(records, n) if callable(top) else None

    def check_options(self, config: TrainConfig) -> None:
        if config.options:
            key = sorted(config.options)[0]
            raise ConfigError(f"options.{key}", f"the {config.family} family takes no options")

    def out_of_fold(
        self, config: TrainConfig, records: Sequence[WarningRecord], labels: np.ndarray
    ) -> tuple[np.ndarray, str]:
        raise ConfigError("family", f"the {config.family} family does not score out of fold")
