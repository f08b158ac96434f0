"""Loading pretrained weights by `from_pretrained(name_or_path)`: a hub id or a local copy, never
running code from the directory; a clear error naming what to provide when they are missing."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.models import FamilySpec

log = logging.getLogger(__name__)


def resolve_name_or_path(config: TrainConfig, spec: FamilySpec) -> str:
    """The run's `name_or_path` wins over the family's hub id, so a cluster can point at local weights."""
    name = config.name_or_path or spec.name_or_path
    if not name:
        raise ConfigError(
            "name_or_path", f"family {spec.name!r} has no hub id; set name_or_path to a saved model dir"
        )
    return name


def _how_to_provide(name: str, spec: FamilySpec) -> str:
    hub_id = spec.name_or_path or name
    home = os.environ.get("HF_HOME", "~/.cache/huggingface")
    return (
        f"provide the weights: set `name_or_path` for family {spec.name!r} to a local directory holding a saved model "
        f"(config.json, weights, tokenizer), or pre-download {hub_id!r} into the Hugging Face cache "
        f"(`huggingface-cli download {hub_id}` where the hub is reachable; HF_HOME={home})"
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or os.path.exists(name)


def _hub_offline() -> bool:
    import huggingface_hub.constants as hub_constants

    return bool(hub_constants.HF_HUB_OFFLINE)


def load_pretrained(name: str, spec: FamilySpec) -> tuple[Any, Any]:
    """(tokenizer, model) from a local dir or the HF cache/hub; a clear IacsieveError when absent.

    Local paths are checked before anything else; hub ids are tried from the cache first, so a
    machine without network fails in a second rather than after the hub client's retries when
    HF_HUB_OFFLINE=1 is set.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    quiet_progress_bars()
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise IacsieveError(
                f"{path}: no saved model here (config.json missing); {_how_to_provide(name, spec)}"
            )
        name = str(path)

    def _load(local_only: bool) -> tuple[Any, Any]:
        kwargs = {"trust_remote_code": False, "local_files_only": local_only}
        tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
        model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=2, **kwargs)
        return tokenizer, model

    try:
        return _load(local_only=True)
    except (OSError, ValueError) as exc:
        if _looks_like_path(name) or _hub_offline():
            raise IacsieveError(
                f"cannot load model {name!r}: {first_line(exc)}; {_how_to_provide(name, spec)}"
            ) from None
    try:
        return _load(local_only=False)
    except (OSError, ValueError) as exc:
        raise IacsieveError(
            f"cannot load model {name!r}: {first_line(exc)}; {_how_to_provide(name, spec)}"
        ) from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def quiet_progress_bars() -> None:
    """No per-step / per-shard progress bars: a run logs one line per epoch."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
