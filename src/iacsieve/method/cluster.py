"""params.yaml's `cluster:` block: the KFP-only settings (image, parallelism) and the pod settings
every task gets (resources per kind, retries with backoff, pretrained weights from a volume,
object-store credentials, GPU node selector and tolerations). Validated with the key path at fault;
`iacsieve.kfp.pods.configure_task` applies them to a task.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iacsieve.core.errors import ConfigError
from iacsieve.core.json_values import is_int, is_number
from iacsieve.core.layout import PARAMS_FILE
from iacsieve.core.settings import check_value, declared, default_of, setting, type_name

KINDS: tuple[str, ...] = ("train", "light")
POD_KEYS: tuple[str, ...] = ("resources", "retry", "weights", "credentials", "node_selector", "tolerations")
SHM_VOLUME = "dshm"
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")  # a Kubernetes resource quantity
# Kubernetes' full quantity grammar (apimachinery resource.ParseQuantity): number, then a binary or
# decimal SI suffix or a decimal exponent.
QUANTITY = re.compile(
    r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "n": 1e-9, "u": 1e-6}
_SUFFIX |= {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_DURATION = re.compile(
    r"^([0-9]+(?:\.[0-9]+)?)(s|m|h)$"
)  # what KFP's retry backoff accepts, e.g. 30s, 5m, 1h
_UNIT_S = {"s": 1, "m": 60, "h": 3600}
# Kubernetes label syntax (node_selector): an optional DNS-subdomain prefix, a name, a value.
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
# kfp.kubernetes.add_toleration's fields (Kubernetes' Toleration), with the values Kubernetes accepts.
TOLERATION_FIELDS: dict[str, tuple[str, ...] | None] = {
    "key": None,
    "operator": ("Exists", "Equal"),
    "value": None,
    "effect": ("NoSchedule", "PreferNoSchedule", "NoExecute"),
    "toleration_seconds": None,
}
_DEFAULT_CREDENTIAL_KEYS = {
    "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
}


@dataclass(frozen=True)
class Resources:
    """One kind's pod resources; `gpu` 0 asks for none, `shm_size` "" leaves /dev/shm at its default."""

    cpu_request: str = setting(help="CPU request, a Kubernetes quantity (500m, 4)")
    cpu_limit: str = setting(help="CPU limit, a Kubernetes quantity")
    memory_request: str = setting(help="memory request, a Kubernetes quantity (2Gi)")
    memory_limit: str = setting(help="memory limit, a Kubernetes quantity")
    gpu: int = setting(0, "GPUs (nvidia.com/gpu)", min=0)
    shm_size: str = setting("", "a memory-backed /dev/shm of this size", empty="/dev/shm at its default")


DEFAULT_RESOURCES: dict[str, Resources] = {
    "train": Resources(
        cpu_request="4", cpu_limit="8", memory_request="16Gi", memory_limit="32Gi", gpu=1, shm_size="8Gi"
    ),
    "light": Resources(cpu_request="500m", cpu_limit="2", memory_request="2Gi", memory_limit="4Gi"),
}


@dataclass(frozen=True)
class Retry:
    """KFP's retry policy: wait `backoff_duration`, times `backoff_factor` per retry.

    Argo reads `backoffMaxDuration` as a deadline from the first attempt's start, after which nothing
    is retried and a running retry is killed (docs/kfp-backend-rules.md, 3b); so it is not a setting
    but derived: every attempt may take `train_time_budget`, plus the waits between them.
    """

    num_retries: int = setting(2, "retries of a failed task", min=0)
    backoff_duration: str = setting("60s", "the first wait before a retry (30s, 5m, 1h)")
    # a whole number: Argo parses it as an integer (rules doc, 3d; checked with the rest in `_check`)
    backoff_factor: float = setting(2.0, "each wait is the previous one times this")
    train_time_budget: str = setting("4h", "the longest one train attempt may take")

    def waits_s(self) -> int:
        """Seconds spent waiting between attempts when every retry is used."""
        first = duration_seconds(self.backoff_duration)
        return int(sum(first * self.backoff_factor**i for i in range(self.num_retries)))

    @property
    def backoff_max_duration(self) -> str:
        """(retries + 1) attempts of `train_time_budget` each, plus the waits, as KFP's `<n>s`."""
        attempts = (self.num_retries + 1) * duration_seconds(self.train_time_budget)
        return f"{int(attempts) + self.waits_s()}s"


@dataclass(frozen=True)
class Weights:
    """Pretrained weights from a volume: an existing PVC holding a Hugging Face cache (`hub/models--...`)."""

    pvc: str = setting(
        "",
        "a PersistentVolumeClaim holding the pretrained weights",
        empty="no volume: weights come from the hub (or `families.<name>.name_or_path`)",
    )
    mount_path: str = setting("/models", "where the volume is mounted")
    sub_path: str = setting("", "a folder inside the volume, mounted at mount_path", empty="the whole volume")
    hf_home: str = setting("", "HF_HOME inside the pod", empty="mount_path/huggingface")
    offline: bool = setting(True, "HF_HUB_OFFLINE=1 while the volume is mounted")

    @property
    def home(self) -> str:
        return self.hf_home or posixpath.join(self.mount_path, "huggingface")


@dataclass(frozen=True)
class Credentials:
    """A Kubernetes secret whose keys become environment variables (e.g. for s3fs in a task)."""

    secret: str = setting(
        "",
        "a Secret whose keys become environment variables of every task",
        empty="none: tasks read buckets only through KFP's launcher",
    )
    env: dict[str, str] = setting(
        help="secret key -> environment variable", default_factory=lambda: dict(_DEFAULT_CREDENTIAL_KEYS)
    )


@dataclass(frozen=True)
class PodSettings:
    """Everything `configure_task` applies, per kind."""

    resources: dict[str, Resources] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    retry: Retry = field(default_factory=Retry)
    weights: Weights = field(default_factory=Weights)
    credentials: Credentials = field(default_factory=Credentials)
    node_selector: dict[str, str] = setting(
        help="Kubernetes node labels a train task must run on (GPU nodes); light tasks run anywhere",
        default_factory=dict,
    )
    tolerations: tuple[dict[str, str], ...] = setting(
        (), "taints a train task tolerates: key, operator, value, effect, toleration_seconds"
    )


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
    retry = _mapping(cluster.get("retry"), "cluster.retry", source)
    if "backoff_max_duration" in retry:
        raise ConfigError(
            "cluster.retry.backoff_max_duration",
            "derived, not set: (num_retries + 1) x train_time_budget + the waits (remove it; set train_time_budget)",
            source,
        )
    settings = PodSettings(
        resources=resources,
        retry=_block(Retry, cluster.get("retry"), "cluster.retry", source),
        weights=_block(Weights, cluster.get("weights"), "cluster.weights", source),
        credentials=_block(Credentials, cluster.get("credentials"), "cluster.credentials", source),
        node_selector=_node_selector(cluster.get("node_selector"), source),
        tolerations=_tolerations(cluster.get("tolerations"), source),
    )
    _check(settings, source)
    return settings


def quantity_value(text: str) -> float:
    """The number a Kubernetes quantity stands for (`500m` -> 0.5, `2Gi` -> 2**31); ValueError if not one."""
    match = QUANTITY.match(text)
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    suffix = match.group("suffix") or ""
    number = text[: len(text) - len(suffix)]
    if suffix[:1] in ("e", "E"):
        return float(number) * 10 ** int(suffix[1:])
    return float(number) * _SUFFIX.get(suffix, 1)


def label_key_ok(key: object) -> bool:
    """Whether `key` is a Kubernetes label key: an optional DNS-subdomain prefix and a name."""
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.match(name)) and (not prefix or bool(_DNS_SUBDOMAIN.match(prefix)))


def label_value_ok(value: object) -> bool:
    """Whether `value` is a Kubernetes label value (a string: YAML's unquoted true is a bool)."""
    return isinstance(value, str) and bool(_LABEL_VALUE.match(value))


def duration_seconds(value: str) -> float:
    """Seconds in a KFP duration such as `30s`, `5m`, `1.5h` (checked by `_DURATION` first)."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _node_selector(value: Any, source: object) -> dict[str, str]:
    """Node labels train pods must match; YAML's unquoted `true` is a bool, not the label value "true"."""
    labels = {}
    for key, item in _mapping(value, "cluster.node_selector", source).items():
        where = f"cluster.node_selector.{key}"
        if not label_key_ok(key):
            raise ConfigError(where, "not a Kubernetes label key (e.g. nvidia.com/gpu.present)", source)
        if not isinstance(item, str):
            raise ConfigError(where, f'must be a string (quote it: "{item}"), got {item!r}', source)
        if not _LABEL_VALUE.match(item):
            raise ConfigError(
                where, f"not a Kubernetes label value (63 letters, digits, -_.): {item!r}", source
            )
        labels[key] = item
    return labels


def _tolerations(value: Any, source: object) -> tuple[dict[str, Any], ...]:
    """Train pods' tolerations, each with known fields only (a typo would crash compile later)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError("cluster.tolerations", f"must be a list, got {type(value).__name__}", source)
    found = []
    for i, item in enumerate(value):
        where = f"cluster.tolerations[{i}]"
        item = _mapping(item, where, source)
        for name, given in item.items():
            if name not in TOLERATION_FIELDS:
                raise ConfigError(
                    f"{where}.{name}", f"unknown field (known: {', '.join(TOLERATION_FIELDS)})", source
                )
            if name == "toleration_seconds":
                if not is_int(given) or given < 0:
                    raise ConfigError(
                        f"{where}.{name}", f"must be a whole number >= 0, got {given!r}", source
                    )
                continue
            allowed = TOLERATION_FIELDS[name]
            if not isinstance(given, str) or (allowed and given not in allowed):
                expected = f"one of {', '.join(allowed)}" if allowed else "a string"
                raise ConfigError(f"{where}.{name}", f"must be {expected}, got {given!r}", source)
        if item.get("operator") == "Exists" and item.get("value"):
            raise ConfigError(f"{where}.value", "must be empty with operator Exists", source)
        found.append(item)
    return tuple(found)


def _mapping(value: Any, key: str, source: object) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"must be a mapping, got {type(value).__name__}", source)
    return dict(value)


def _block(cls: Any, value: Any, key: str, source: object, base: Any = None) -> Any:
    """A dataclass from a mapping, over `base`'s (or the class's) defaults, each value checked against
    its declaration (`iacsieve.core.settings.check_value`): unknown keys and wrong types named."""
    given = _mapping(value, key, source)
    known = declared(cls)
    current = {name: getattr(base, name) if base is not None else default_of(f) for name, f in known.items()}
    for name, item in given.items():
        if name not in known:
            raise ConfigError(f"{key}.{name}", f"unknown key (known: {', '.join(known)})", source)
        if type_name(known[name]) == "str" and is_number(item):
            item = str(item)  # a quantity written as a YAML number: `cpu_limit: 8`
        item = check_value(known[name], item, f"{key}.{name}", source=source)
        current[name] = {str(k): str(v) for k, v in item.items()} if isinstance(item, dict) else item
    return cls(**current)


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
    for name in ("backoff_duration", "train_time_budget"):
        if not _DURATION.match(getattr(s.retry, name)):
            raise ConfigError(
                f"cluster.retry.{name}",
                f"not a duration (e.g. 30s, 5m, 1h): {getattr(s.retry, name)!r}",
                source,
            )
    if s.retry.backoff_factor < 1 or not float(s.retry.backoff_factor).is_integer():
        raise ConfigError(
            "cluster.retry.backoff_factor",
            f"must be a whole number >= 1 (Argo parses it as an integer), got {s.retry.backoff_factor}",
            source,
        )
    if s.weights.pvc and not posixpath.isabs(s.weights.mount_path):
        raise ConfigError(
            "cluster.weights.mount_path", f"must be an absolute path, got {s.weights.mount_path!r}", source
        )
