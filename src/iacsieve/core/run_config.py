"""One training run's settings (a point of a stage's grid) and its canonical run name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from iacsieve.core.errors import ConfigError, IacsieveError


@dataclass(frozen=True)
class TrainConfig:
    """Everything `train` needs for one run. Field names are the vocabulary of params.yaml."""

    family: str
    learning_rate: float = 5e-5
    batch_size: int = 16
    epochs: int = 5
    weight_decay: float = 0.0
    gradient_accumulation: int = 1
    warmup_ratio: float = 0.0
    scheduler: str = "linear"
    seed: int = 42
    max_length: int = 256
    use_context: bool = False
    fp16: bool = True  # honoured only where CUDA is present
    early_stopping_patience: int = 2
    early_stopping_threshold: float = 0.001
    name_or_path: str | None = None  # override a pretrained family's hub id with a local dir
    options: dict[str, Any] = field(default_factory=dict)  # family-specific knobs (e.g. classical features)

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
        clean: dict[str, Any] = {}
        for key, value in values.items():
            clean[key] = _coerce(key, value, known[key].type, where)
        return cls(**clean)


def format_value(value: Any) -> str:
    """A run-name value: integers as integers (`0`, not `0.0`), other floats by `repr` (`2e-05`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _coerce(key: str, value: Any, type_name: Any, where: str) -> Any:
    type_name = str(type_name)
    bad = ConfigError(f"{where}.{key}", f"expected {type_name}, got {value!r}", source=where.split(".")[0])
    if type_name == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if type_name == "str":
        if not isinstance(value, str):
            raise bad
        return value
    if type_name.startswith("str | None"):
        if value is not None and not isinstance(value, str):
            raise bad
        return value
    if type_name.startswith("dict"):
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    return value


def read_run_settings(path: str | Path, *, hint: str = "") -> dict[str, Any]:
    """A run's settings file (`config_used.yaml`, or one given to `iacsieve train --config`) as a
    mapping; a missing file, bad YAML or a non-mapping is one line naming the file."""
    from pathlib import Path

    import yaml

    path = Path(path)
    if not path.is_file():
        raise IacsieveError(f"{path}: not found" + (f"; {hint}" if hint else ""))
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise IacsieveError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise ConfigError("<root>", "expected a mapping of run settings", source=path)
    return values
