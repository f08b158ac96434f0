"""params.yaml -> typed, validated settings; one file drives DVC (`dvc.yaml`) and KFP alike.

Every key is checked: an unknown key (a typo) or a value of the wrong type is a ConfigError naming
the dotted key path, e.g. `params.yaml: stage1.learnig_rates: unknown key (known: ...)`.

Layout: the top-level `stage1..stage4` blocks are the grids `dvc repro` runs (the `local`
profile); `profiles.<name>` holds other grids (e.g. `cluster`, the GPU grids KFP submits), each
written once. Which lists a stage may hold comes from the stage plan (`iacsieve.method.plan`):
stages 1-2 name every value of a run (so run names are known before training), stage 3 lists only
overrides of the stage-2 winner, stage 4 lists seeds.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from iacsieve.core.errors import ConfigError
from iacsieve.core.layout import PARAMS_FILE
from iacsieve.core.run_config import TrainConfig, format_value
from iacsieve.core.settings import check_value, declared, parse_block, setting
from iacsieve.data.human import HumanSettings
from iacsieve.io.yaml_file import read_yaml as read_yaml  # the one YAML loader (re-exported)
from iacsieve.method.cluster import (
    DEFAULT_RESOURCES,
    POD_KEYS,
    Credentials,
    PodSettings,
    Retry,
    Weights,
    parse_pod_settings,
)
from iacsieve.method.plan import RUN_LISTS, SEED_LISTS, STAGES, stage_plan
from iacsieve.models import FAMILIES, family_of
from iacsieve.models.ablation_settings import AblationSettings
from iacsieve.steps.settings import EvaluationSettings, SweepSettings

LOCAL = "local"  # the top-level grids' profile name
PROFILES_KEY = "profiles"
_TRAIN_FIELDS = declared(TrainConfig)
SweepParams = SweepSettings  # the names kfp.settings imports
EvaluationParams = EvaluationSettings
# The declared settings of params.yaml, by block (docs/settings.md is generated from them:
# `iacsieve params --table`). `defaults:` holds TrainConfig keys, as do `families.<name>` and the
# profiles' `defaults`; a grid list (`learning_rates`) holds values of the setting it names.
_PLAIN_BLOCKS: tuple[tuple[str, type], ...] = tuple(  # read as they are: no profile overrides them
    (cls.block, cls) for cls in (SweepSettings, EvaluationSettings, AblationSettings, HumanSettings)
)
SETTINGS_BLOCKS: tuple[tuple[str, type], ...] = (("defaults", TrainConfig), *_PLAIN_BLOCKS)


# ----------------------------------------------------------------------------- typed blocks


class _Mapping:
    """`block["key"]` works like `block.key` (for callers that treat a block as a dict)."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    if isinstance(value, _Mapping):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ClusterParams(_Mapping):
    """KFP-only settings (DVC ignores them): the image, how many train tasks at once, and the pod
    settings every task gets (`iacsieve.method.cluster`)."""

    image: str = setting(
        "",
        "the component image in your registry, e.g. ghcr.io/you/iacsieve:0.1.0",
        empty="unset: compile and submit refuse it until set (iacsieve.core.image.check_image)",
    )
    parallelism: int = setting(4, "train tasks (GPUs) a pipeline runs at once", min=1)
    pipeline_root: str = setting(
        "",
        "where KFP's launcher writes outputs, e.g. s3://BUCKET/iacsieve/pipelines",
        empty="unset: submit needs it (or --pipeline-root)",
    )
    pods: PodSettings = field(default_factory=PodSettings)  # `iacsieve.method.cluster` parses these


CLUSTER_OWN_KEYS = ("image", "parallelism", "pipeline_root")  # ClusterParams' settings; the rest: pods
# params.yaml's `cluster:` block (KFP only, no flags): ClusterParams' own keys and the pods' settings,
# resources once per kind with that kind's defaults.
CLUSTER_SETTINGS_BLOCKS: tuple[tuple[str, Any], ...] = (
    ("cluster", ClusterParams),
    *((f"cluster.resources.{kind}", resources) for kind, resources in DEFAULT_RESOURCES.items()),
    ("cluster.retry", Retry),
    ("cluster.weights", Weights),
    ("cluster.credentials", Credentials),
    ("cluster", PodSettings),
)


@dataclass(frozen=True)
class StageParams(_Mapping):
    """One stage's grid; `grid_points()` expands it to one dict of TrainConfig keys per run."""

    number: int
    lists: dict[str, tuple[Any, ...]]  # only the lists given, keys of the stage plan's `lists`

    def grid_points(self) -> list[dict]:
        """Cartesian product of the given lists in the plan's order (DVC's matrix order); a stage
        with no lists (stage 3 keeping every winner value) is one run."""
        names = stage_plan(self.number).lists
        keys = [k for k in names if k in self.lists]
        return [
            {names[k]: v for k, v in zip(keys, combo)}
            for combo in itertools.product(*(self.lists[k] for k in keys))
        ]

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in self.lists.items()}


@dataclass(frozen=True)
class Params(_Mapping):
    """The whole params.yaml, validated, with one profile's grids applied. `stage(n)`: its grid."""

    profile: str  # `local` (the top-level grids) or a name under `profiles:`
    defaults: dict[str, Any]  # TrainConfig defaults: `defaults` updated by `profiles.<profile>.defaults`
    threshold_sweep: SweepSettings
    evaluation: EvaluationSettings
    families: dict[str, dict[str, Any]]
    stages: dict[int, StageParams]
    cluster: ClusterParams
    profiles: dict[str, dict[str, Any]]  # raw profile blocks (validated)
    human: HumanSettings = field(default_factory=HumanSettings)
    ablation: AblationSettings = field(default_factory=AblationSettings)
    source: str = PARAMS_FILE

    def stage(self, n: int) -> StageParams:
        if n not in self.stages:
            raise ConfigError(
                f"stage{n}", f"no such stage (stages: {', '.join(map(str, STAGES))})", source=self.source
            )
        return self.stages[n]


# ----------------------------------------------------------------------------- loading


def load_params(path: str | Path = PARAMS_FILE, profile: str | None = None) -> Params:
    """Read and validate params.yaml with one profile's grids: `local`/None = the top-level
    `stage1..4` (what `dvc repro` runs), another name = `profiles.<name>` (its `defaults` update
    the top-level ones)."""
    raw = read_yaml(path)
    return parse_params(raw, profile=profile, source=str(path))


TOP_KEYS = (
    "defaults",
    "threshold_sweep",
    "evaluation",
    "families",
    "human",
    "ablation",
    "stage1",
    "stage2",
    "stage3",
    "stage4",
    "cluster",
    PROFILES_KEY,
)
PROFILE_KEYS = ("stage1", "stage2", "stage3", "stage4", "defaults")
_HINTS = {
    "profile": "DVC runs the top-level grids; other profiles are for KFP (`iacsieve kfp ... --profile cluster`) "
    "or `dvc exp run -S` of the top-level lists",
}


def parse_params(raw: dict, *, profile: str | None = None, source: str = PARAMS_FILE) -> Params:
    """Validate an already-loaded params mapping (see `load_params`)."""
    v = _Validator(source)
    for key in raw:
        if key in _HINTS:
            raise v.error(key, f"unknown key: {_HINTS[key]}")
    v.keys(raw, "", TOP_KEYS, required=tuple(f"stage{n}" for n in STAGES))
    profiles = v.mapping(raw.get(PROFILES_KEY, {}), PROFILES_KEY)
    if LOCAL in profiles:
        raise v.error(
            f"{PROFILES_KEY}.{LOCAL}", "the local profile is the top-level stage1..4 blocks; remove this copy"
        )
    for name, block in profiles.items():
        block = v.mapping(block, f"{PROFILES_KEY}.{name}")
        v.keys(block, f"{PROFILES_KEY}.{name}", PROFILE_KEYS, required=tuple(f"stage{n}" for n in STAGES))
        for n in STAGES:
            _parse_stage(v, block[f"stage{n}"], n, f"{PROFILES_KEY}.{name}.stage{n}")
        _parse_defaults(v, block.get("defaults", {}), f"{PROFILES_KEY}.{name}.defaults")

    active = profile or LOCAL
    if active != LOCAL and active not in profiles:
        raise v.error(PROFILES_KEY, f"no profile {active!r} (profiles: {', '.join([LOCAL, *profiles])})")
    stage_src, where = (raw, "") if active == LOCAL else (profiles[active], f"{PROFILES_KEY}.{active}.")
    stages = {n: _parse_stage(v, stage_src[f"stage{n}"], n, f"{where}stage{n}") for n in STAGES}

    defaults = _parse_defaults(v, raw.get("defaults", {}), "defaults")
    if active != LOCAL:
        defaults.update(
            _parse_defaults(v, profiles[active].get("defaults", {}), f"{PROFILES_KEY}.{active}.defaults")
        )

    families = v.mapping(raw.get("families", {}), "families")
    for name, overrides in families.items():
        if name not in FAMILIES:
            raise v.error(f"families.{name}", f"unknown model family (known: {', '.join(FAMILIES)})")
        _parse_defaults(v, overrides, f"families.{name}")
    used = {f for n in (1, 2) for f in stages[n].lists.get("families", ())} | set(families)
    for name in sorted(used):
        override = dict(families.get(name) or {})
        where = (
            f"families.{name}"
            if "options" in override
            else ("defaults" if active == LOCAL else f"{PROFILES_KEY}.{active}.defaults")
        )
        _check_family_options(v, name, override.get("options", defaults.get("options")), where)

    plain: dict[str, Any] = {
        key: parse_block(cls, raw.get(key), key, source=source) for key, cls in _PLAIN_BLOCKS
    }
    return Params(
        profile=active,
        defaults=defaults,
        families={k: dict(o or {}) for k, o in families.items()},
        stages=stages,
        cluster=_parse_cluster(v, raw.get("cluster", {})),
        profiles={k: dict(b) for k, b in profiles.items()},
        source=source,
        **plain,
    )


class _Validator:
    """Small typed checks that all report the dotted key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key_path: str, problem: str) -> ConfigError:
        return ConfigError(key_path or "<root>", problem, source=self.source)

    def mapping(self, value: Any, path: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(path, f"expected a mapping, got {value!r}")
        return value

    def keys(self, block: dict, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
        prefix = f"{path}." if path else ""
        for key in block:
            if key not in allowed:
                raise self.error(f"{prefix}{key}", f"unknown key (known: {', '.join(allowed)})")
        for key in required:
            if key not in block:
                raise self.error(f"{prefix}{key}", "missing required key")


def _parse_defaults(v: _Validator, value: Any, path: str) -> dict:
    """A mapping of TrainConfig keys (no `family`), type-checked through TrainConfig itself."""
    value = v.mapping(value, path)
    if "family" in value:
        raise v.error(f"{path}.family", "the family comes from the stage grid, not from defaults")
    v.keys(value, path, tuple(sorted(set(_TRAIN_FIELDS) - {"family"})))
    try:
        TrainConfig.from_dict({"family": "classical", **value}, where=path)
    except ConfigError as exc:
        raise v.error(exc.key_path, exc.problem) from None
    return dict(value)


def _check_family_options(v: _Validator, family: str, options: Any, where: str) -> None:
    """A family's `options` checked by the family itself (unknown knobs fail here, not mid-training)."""
    if not options:
        return
    if not isinstance(options, dict):
        raise v.error(f"{where}.options", f"expected a mapping, got {options!r}")
    try:
        family_of(family).check_options(TrainConfig(family=family, options=dict(options)))
    except ConfigError as exc:
        raise v.error(f"{where}.{exc.key_path}", f"{exc.problem} (family {family})") from None


def _parse_cluster(v: _Validator, value: Any) -> ClusterParams:
    value = dict(v.mapping(value, "cluster"))
    v.keys(value, "cluster", (*CLUSTER_OWN_KEYS, *POD_KEYS))
    pods = parse_pod_settings(value, source=v.source)  # validates resources, retry, weights, credentials, ...
    own = {k: value[k] for k in CLUSTER_OWN_KEYS if k in value}
    return parse_block(ClusterParams, own, "cluster", source=v.source, fixed={"pods": pods})


_LIST_FIELDS: dict[str, str] = {**RUN_LISTS, **SEED_LISTS}  # grid list -> the run setting it sets
_MOVED = {
    "decision_rule": "the decision rule is part of the method (iacsieve.method.plan), not a setting",
    "gradient_accumulations": "one value for every run: set `gradient_accumulation` in defaults",
    "seeds": "stages 1-3 use one seed: set `seed` in defaults (stage 4 varies it)",
}


def _parse_stage(v: _Validator, value: Any, n: int, path: str) -> StageParams:
    plan = stage_plan(n)
    value = v.mapping(value, path)
    for key in value:
        if key not in plan.lists and key in _MOVED:
            raise v.error(f"{path}.{key}", f"not a stage-{n} list: {_MOVED[key]}")
    v.keys(value, path, tuple(plan.lists), required=plan.required_lists)
    lists: dict[str, tuple[Any, ...]] = {}
    for key in plan.lists:
        if key not in value:
            continue
        items = value[key]
        if not isinstance(items, list) or not items:
            raise v.error(f"{path}.{key}", f"expected a non-empty list, got {items!r}")
        clean = [_grid_value(v, item, key, n, f"{path}.{key}[{i}]") for i, item in enumerate(items)]
        if len(set(map(str, clean))) != len(clean):
            raise v.error(f"{path}.{key}", f"duplicate values in {items!r}")
        lists[key] = tuple(clean)
    return StageParams(number=n, lists=lists)


def _grid_value(v: _Validator, item: Any, key: str, n: int, path: str) -> Any:
    if item == "best":
        inherit = (
            "stage 3 inherits every stage-2 winner value: list only overrides"
            if n == 3
            else "name the value (run directories are named by real values)"
        )
        raise v.error(path, f"'best' is not a grid value: {inherit}")
    checked = check_value(_TRAIN_FIELDS[_LIST_FIELDS[key]], item, path, source=v.source)  # type and bounds
    if key == "families" and checked not in FAMILIES:
        raise v.error(path, f"unknown model family {item!r} (known: {', '.join(FAMILIES)})")
    if str(item) != format_value(item):  # dvc.yaml spells run dirs with str(); the library with format_value
        raise v.error(
            path,
            f"write {item!r} as {format_value(item)} (run directories are named by the value as written)",
        )
    return item
