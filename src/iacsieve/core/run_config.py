"""One training run's settings (a point of a stage's grid) and its canonical run name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.settings import SEED_MAX, check_value, setting

# Learning-rate schedules `train` accepts: transformers' SchedulerType names that need no extra
# scheduler arguments (tests/test_settings.py checks them against the installed transformers).
SCHEDULERS: tuple[str, ...] = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything `train` needs for one run. Field names are the vocabulary of params.yaml, of the
    `train`/`stage run` flags (`--learning-rate`) and of `config_used.yaml`; each is declared once here."""

    family: str = setting(
        help="model family (iacsieve.models.FAMILIES); in params.yaml the grid's `families` list"
    )
    learning_rate: float = setting(5e-5, "learning rate", above=0.0, max=10.0)
    batch_size: int = setting(16, "per-device batch size", min=1, max=65_536)
    epochs: int = setting(5, "maximum epochs (early stopping may stop sooner)", min=1, max=10_000)
    weight_decay: float = setting(0.0, "AdamW weight decay (classical: C = 1/weight_decay)", min=0.0, max=1e6)
    gradient_accumulation: int = setting(1, "gradient accumulation steps", min=1, max=65_536)
    warmup_ratio: float = setting(0.0, "share of the training steps used for LR warmup", min=0.0, below=1.0)
    scheduler: str = setting("linear", "LR schedule", choices=SCHEDULERS)
    seed: int = setting(42, "random seed", min=0, max=SEED_MAX)
    max_length: int = setting(
        256, "max input tokens (room for one token and the end marker)", min=2, max=65_536
    )
    use_context: bool = setting(False, "feed the lines around the warning to the model")
    fp16: bool = setting(True, "mixed precision; honoured only where CUDA is present")
    early_stopping_patience: int = setting(
        2, "epochs without a val F1 gain before stopping", min=0, max=10_000
    )
    early_stopping_threshold: float = setting(0.001, "smallest val F1 gain that counts", min=0.0, max=1.0)
    name_or_path: str | None = setting(None, "local directory (or hub id) of a pretrained family's weights")
    options: dict[str, Any] = setting(
        help="family-specific knobs (the family checks them)", flag="--option KEY=VALUE", default_factory=dict
    )

    def run_name(self, *, with_seed: bool = False) -> str:
        """`<family>_lr<lr>_bs<bs>_ep<ep>_wd<wd>[_seed<s>]`, the contract in DESIGN.md (values as
        `format_value` spells them, which is how dvc.yaml spells a validated grid value)."""
        f = format_value
        name = (
            f"{self.family}_lr{f(self.learning_rate)}_bs{f(self.batch_size)}_ep{f(self.epochs)}"
            f"_wd{f(self.weight_decay)}"
        )
        return f"{name}_seed{f(self.seed)}" if with_seed else name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, where: str = "config") -> TrainConfig:
        """Build from a mapping; unknown keys and wrong types are ConfigErrors naming the key path."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"{where}.{unknown[0]}",
                f"unknown key (known: {', '.join(known)})",
                source=where.split(".")[0],
            )
        if "family" not in values:
            raise ConfigError(f"{where}.family", "missing required key", source=where.split(".")[0])
        source = where.split(".")[0]
        return cls(**{k: check_value(known[k], v, f"{where}.{k}", source=source) for k, v in values.items()})


def format_value(value: Any) -> str:
    """A run-name value: integers as integers (`0`, not `0.0`), other floats by `repr` (`2e-05`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def read_run_settings(path: str | Path, *, hint: str = "") -> dict[str, Any]:
    """A run's settings file (`config_used.yaml`, or one given to `iacsieve step train --config`) as a
    mapping; a missing file, bad YAML or a non-mapping is one line naming the file."""
    from iacsieve.io.yaml_file import read_yaml

    path = Path(path)
    if not path.is_file():
        raise IacsieveError(f"{path}: not found" + (f"; {hint}" if hint else ""))
    return read_yaml(path)  # the loader params.yaml goes through (duplicate keys, aliases, YAML 1.2)
