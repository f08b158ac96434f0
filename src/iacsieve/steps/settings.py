"""The settings the steps take from params.yaml: the threshold sweep's range, the bootstrap.

Declared once (`iacsieve.core.settings`): params.yaml's `threshold_sweep:` and `evaluation:` blocks,
the `sweep-threshold` and `evaluate` flags and docs/settings.md all read these fields.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from iacsieve.core.settings import SEED_MAX, setting

SWEEP_STEP_MIN = 1e-4  # a 1e-4 grid over [0, 1] is 10,001 thresholds; finer is memory, not precision
_DECIMALS = 6  # thresholds are rounded to 1e-6: 0.30 + 7 * 0.01 is 0.37, not 0.37000000000000005


@dataclass(frozen=True)
class SweepSettings:
    """params.yaml `threshold_sweep:`: thresholds tried on validation F1 (stages whose plan sweeps)."""

    block: ClassVar[str] = "threshold_sweep"  # its params.yaml key (`iacsieve.core.settings.block_of`)

    start: float = setting(0.30, "lowest threshold tried", min=0.0, max=1.0)
    stop: float = setting(0.70, "highest threshold tried (inclusive)", min=0.0, max=1.0)
    step: float = setting(0.01, "step between thresholds", min=SWEEP_STEP_MIN, max=1.0)

    def relations(self) -> Iterator[tuple[str, str]]:
        if self.start > self.stop:
            yield "start", f"must be <= stop ({self.stop}), got {self.start}"

    def grid(self) -> list[float]:
        """start, start+step, ..., up to and including stop, built from integer steps."""
        count = math.floor((self.stop - self.start) / self.step + 1e-9)  # (0.70 - 0.30) / 0.01 is 39.999...
        return [round(self.start + i * self.step, _DECIMALS) for i in range(count + 1)]

    def __getitem__(self, key: str) -> float:  # `params.threshold_sweep["step"]` as in a mapping
        return float(getattr(self, key))


@dataclass(frozen=True)
class EvaluationSettings:
    """params.yaml `evaluation:`: the bootstrap 95% interval of F1 per evaluation set."""

    block: ClassVar[str] = "evaluation"

    bootstrap_samples: int = setting(1000, "bootstrap resamples per evaluation set", min=1, max=100_000)
    bootstrap_seed: int = setting(0, "bootstrap seed", min=0, max=SEED_MAX)

    def __getitem__(self, key: str) -> int:
        return int(getattr(self, key))
