"""params.yaml's `cluster:` block: the KFP-only settings (image, parallelism) and the pod settings
every task gets (resources per kind, retries with backoff, pretrained weights from a volume,
object-store credentials, GPU node selector and tolerations). Validated with the key path at fault;
`iacsieve.kfp.pods.configure_task` applies them to a task.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from iacsieve.errors import ConfigError
from iacsieve.layout import PARAMS_FILE

KINDS: tuple[str, ...] = ("train", "light")
POD_KEYS: tuple[str, ...] = ("resources", "retry", "weights", "credentials", "node_selector", "tolerations")
SHM_VOLUME = "dshm"
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")  # a Kubernetes resource quantity
_DURATION = re.compile(r"^[0-9]+(\.[0-9]+)?(s|m|h)$")  # what KFP's retry backoff accepts, e.g. 30s, 5m, 1h
_DEFAULT_CREDENTIAL_KEYS = {
    "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
}


@dataclass(frozen=True)
class Resources:
    """One kind's pod resources; `gpu` 0 asks for none, `shm_size` "" leaves /dev/shm at its default."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    gpu: int = 0
    shm_size: str = ""


DEFAULT_RESOURCES: dict[str, Resources] = {
    "train": Resources(
        cpu_request="4", cpu_limit="8", memory_request="16Gi", memory_limit="32Gi", gpu=1, shm_size="8Gi"
    ),
    "light": Resources(cpu_request="500m", cpu_limit="2", memory_request="2Gi", memory_limit="4Gi"),
}


@dataclass(frozen=True)
class Retry:
    """KFP's retry policy: wait `backoff_duration`, times `backoff_factor` per retry, at most `backoff_max_duration`."""

    num_retries: int = 2
    backoff_duration: str = "60s"
    backoff_factor: float = 2.0
    backoff_max_duration: str = "3600s"


@dataclass(frozen=True)
class Weights:
    """Pretrained weights from a volume: an existing PVC holding a Hugging Face cache (`hub/models--...`)."""

    pvc: str = ""  # "" = no volume: weights come from the hub (or `families.<name>.name_or_path`)
    mount_path: str = "/models"
    sub_path: str = ""  # a folder inside the volume, mounted at mount_path
    hf_home: str = ""  # HF_HOME inside the pod; "" = <mount_path>/huggingface
    offline: bool = True  # HF_HUB_OFFLINE=1 while the volume is mounted

    @property
    def home(self) -> str:
        return self.hf_home or posixpath.join(self.mount_path, "huggingface")


@dataclass(frozen=True)
class Credentials:
    """A Kubernetes secret whose keys become environment variables (e.g. for s3fs in a task)."""

    secret: str = ""  # "" = none: tasks read buckets only through KFP's launcher
    env: dict[str, str] = field(
        default_factory=lambda: dict(_DEFAULT_CREDENTIAL_KEYS)
    )  # secret key -> env var


@dataclass(frozen=True)
class PodSettings:
    """Everything `configure_task` applies, per kind."""

    resources: dict[str, Resources] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    retry: Retry = field(default_factory=Retry)
    weights: Weights = field(default_factory=Weights)
    credentials: Credentials = field(default_factory=Credentials)
    node_selector: dict[str, str] = field(default_factory=dict)  # train tasks only (GPU nodes)
    tolerations: tuple[dict[str, str], ...] = ()  # train tasks only


# ----------------------------------------------------------------------------- params.yaml's cluster: keys


def parse_pod_settings(cluster: Mapping[str, Any] | None, *, source: object = PARAMS_FILE) -> PodSettings:
    """`PodSettings` from params.yaml's `cluster:` mapping (only the pod keys; others are ignored here).

    Keys: `resources.{train,light}.*`, `retry.*`, `weights.*`, `credentials.*`, `node_selector`,
    `tolerations`. A wrong key or value is a ConfigError naming its dotted path.
    """
    cluster = dict(cluster or {})
    resources = dict(DEFAULT_RESOURCES)
    raw_resources = _mapping(cluster.get("resources"), "cluster.resources", source)
    for kind, block in raw_resources.items():
        if kind not in KINDS:
            raise ConfigError(
                f"cluster.resources.{kind}", f"unknown kind (known: {', '.join(KINDS)})", source
            )
        resources[kind] = _block(Resources, block, f"cluster.resources.{kind}", source, base=resources[kind])
    settings = PodSettings(
        resources=resources,
        retry=_block(Retry, cluster.get("retry"), "cluster.retry", source),
        weights=_block(Weights, cluster.get("weights"), "cluster.weights", source),
        credentials=_block(Credentials, cluster.get("credentials"), "cluster.credentials", source),
        node_selector={
            str(k): str(v)
            for k, v in _mapping(cluster.get("node_selector"), "cluster.node_selector", source).items()
        },
        tolerations=tuple(dict(t) for t in cluster.get("tolerations") or ()),
    )
    _check(settings, source)
    return settings


def _mapping(value: Any, key: str, source: object) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"must be a mapping, got {type(value).__name__}", source)
    return dict(value)


def _block(cls, value: Any, key: str, source: object, base: Any = None):
    """A dataclass from a mapping, over `base`'s (or the class's) defaults; unknown keys and wrong types named."""
    given = _mapping(value, key, source)
    known = {f.name: f for f in fields(cls)}
    current = {name: getattr(base, name) if base is not None else _default(f) for name, f in known.items()}
    for name, item in given.items():
        if name not in known:
            raise ConfigError(f"{key}.{name}", f"unknown key (known: {', '.join(known)})", source)
        current[name] = _typed(item, current[name], f"{key}.{name}", source)
    return cls(**current)


def _default(f) -> Any:
    return f.default if f.default is not MISSING else f.default_factory()


def _typed(value: Any, like: Any, key: str, source: object) -> Any:
    """`value` checked against the type of the default it replaces (numbers given as YAML ints are fine)."""
    if isinstance(like, bool):
        ok = isinstance(value, bool)
    elif isinstance(like, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(like, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(like, str):
        value = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        ok = isinstance(value, str)
    elif isinstance(like, dict):
        ok = isinstance(value, Mapping)
        value = {str(k): str(v) for k, v in value.items()} if ok else value
    else:
        ok = True
    if not ok:
        raise ConfigError(key, f"must be a {type(like).__name__}, got {value!r}", source)
    return value


def _check(s: PodSettings, source: object) -> None:
    for kind, r in s.resources.items():
        for name in (
            "cpu_request",
            "cpu_limit",
            "memory_request",
            "memory_limit",
            *(("shm_size",) if r.shm_size else ()),
        ):
            if not _QUANTITY.match(getattr(r, name)):
                raise ConfigError(
                    f"cluster.resources.{kind}.{name}",
                    f"not a Kubernetes quantity (e.g. 500m, 2, 4Gi): {getattr(r, name)!r}",
                    source,
                )
        if r.gpu < 0:
            raise ConfigError(f"cluster.resources.{kind}.gpu", f"must be >= 0, got {r.gpu}", source)
    if s.retry.num_retries < 0:
        raise ConfigError("cluster.retry.num_retries", f"must be >= 0, got {s.retry.num_retries}", source)
    for name in ("backoff_duration", "backoff_max_duration"):
        if not _DURATION.match(getattr(s.retry, name)):
            raise ConfigError(
                f"cluster.retry.{name}",
                f"not a duration (e.g. 30s, 5m, 1h): {getattr(s.retry, name)!r}",
                source,
            )
    if s.retry.backoff_factor < 1:
        raise ConfigError(
            "cluster.retry.backoff_factor", f"must be >= 1, got {s.retry.backoff_factor}", source
        )
    if s.weights.pvc and not posixpath.isabs(s.weights.mount_path):
        raise ConfigError(
            "cluster.weights.mount_path", f"must be an absolute path, got {s.weights.mount_path!r}", source
        )
