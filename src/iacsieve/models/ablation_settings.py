"""params.yaml `ablation:`: the settings of the classical family's ablation table (`iacsieve ablate`).

Declared here rather than beside the table's code (`iacsieve.reporting.ablation`) because
`iacsieve params` (`iacsieve.method`, a layer below reporting) checks every params.yaml block, and
models/ is the lowest layer the ablation already imports: the ablate stage's DVC deps stay what it uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from iacsieve.core.settings import SEED_MAX, setting


@dataclass(frozen=True)
class AblationSettings:
    """params.yaml `ablation:`: the cross-validation beside each variant's val F1, and the seed."""

    block: ClassVar[str] = "ablation"

    cv_folds: int = setting(
        5, "folds of the cross-validated F1 on train (0: none, else >= 2)", min=0, max=100
    )
    seed: int = setting(42, "random_state of the models and of the folds", min=0, max=SEED_MAX)

    def relations(self) -> Iterator[tuple[str, str]]:
        if self.cv_folds == 1:
            yield "cv_folds", "must be 0 (no cross-validation) or at least 2, got 1"
