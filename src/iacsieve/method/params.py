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

import itertools
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from iacsieve.core.errors import ConfigError
from iacsieve.core.image import DEFAULT_IMAGE
from iacsieve.core.layout import (
    BOOTSTRAP_SAMPLES,
    BOOTSTRAP_SEED,
    PARAMS_FILE,
    SWEEP_START,
    SWEEP_STEP,
    SWEEP_STOP,
)
from iacsieve.core.run_config import TrainConfig, format_value
from iacsieve.data.human import HumanSettings
from iacsieve.method.cluster import POD_KEYS, PodSettings, parse_parallelism, parse_pod_settings
from iacsieve.method.plan import STAGES, stage_plan
from iacsieve.models import FAMILIES

LOCAL = "local"  # the top-level grids' profile name
PROFILES_KEY = "profiles"
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}
MAX_SWEEP_THRESHOLDS = 10_001  # a 1e-4 grid over [0, 1]; a finer one is memory, not precision


class _Loader(yaml.SafeLoader):
    """PyYAML with YAML 1.2 floats (`5e-4` is a float, as DVC's ruamel reads it, not a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:\d[\d_]*)?(?:\.[\d_]*)?[eE][-+]?\d+$|^[-+]?(?:\d[\d_]*)\.[\d_]*$|^[-+]?\.\d[\d_]*$"
    ),
    list("-+0123456789."),
)


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
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class SweepParams(_Mapping):
    start: float = SWEEP_START
    stop: float = SWEEP_STOP
    step: float = SWEEP_STEP


@dataclass(frozen=True)
class EvaluationParams(_Mapping):
    bootstrap_samples: int = BOOTSTRAP_SAMPLES
    bootstrap_seed: int = BOOTSTRAP_SEED


@dataclass(frozen=True)
class ClusterParams(_Mapping):
    """KFP-only settings (DVC ignores them): the image, how many train tasks at once, and the pod
    settings every task gets (`iacsieve.method.cluster`)."""

    image: str = DEFAULT_IMAGE  # iacsieve:<package version>, what `make image` tags
    parallelism: int = 4
    pods: PodSettings = field(default_factory=PodSettings)


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
    threshold_sweep: SweepParams
    evaluation: EvaluationParams
    families: dict[str, dict[str, Any]]
    stages: dict[int, StageParams]
    cluster: ClusterParams
    profiles: dict[str, dict[str, Any]]  # raw profile blocks (validated)
    human: HumanSettings = field(default_factory=HumanSettings)
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


def read_yaml(path: str | Path) -> dict:
    """Load a YAML mapping (YAML 1.2 floats); a missing file or bad syntax is a ConfigError."""
    from iacsieve.io.limits import MAX_JSON_FILE_BYTES
    from iacsieve.io.reading import read_regular_text  # regular files only, size-capped, one-line errors

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ConfigError("<file>", "not found", source=path)
    text = read_regular_text(path, max_bytes=MAX_JSON_FILE_BYTES, what="YAML file")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_nodes(node, source=path)  # before constructing: an alias bomb never expands
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<yaml>"
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]  # a ReaderError spans two lines
        raise ConfigError(where, f"invalid YAML: {problem}", source=path) from None
    except RecursionError:
        raise ConfigError("<yaml>", "invalid YAML: nested too deeply", source=path) from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-string conversion limit
        raise ConfigError("<yaml>", f"invalid YAML: {str(exc).splitlines()[0][:120]}", source=path) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("<root>", "expected a mapping", source=path)
    _refuse_non_finite(data, "", source=path)
    return data


def _check_nodes(root: yaml.Node, *, source: object) -> None:
    """Refuse duplicate keys and aliases, naming the key path and line.

    A duplicate key silently keeps the later value in PyYAML (DVC refuses the same file); an alias
    (`*name`) can expand exponentially ("billion laughs") and hang whoever reads the value.
    """
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if id(node) in seen:  # the composer hands an alias back as the anchored node itself
            raise ConfigError(
                where or "<root>",
                f"YAML aliases (*name) are not accepted (line {node.start_mark.line + 1}): write the value out",
                source=source,
            )
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[object, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "<complex key>"
                path = f"{where}.{key}" if where else str(key)
                if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                    raise ConfigError(
                        path, "YAML merge keys (<<) are not accepted: write the keys out", source=source
                    )
                if key in keys:
                    raise ConfigError(
                        path,
                        f"duplicate key (lines {keys[key]} and {key_node.start_mark.line + 1}): the later would "
                        f"silently win, and DVC refuses the file; keep one",
                        source=source,
                    )
                keys[key] = key_node.start_mark.line + 1
                stack.append((value_node, path))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node.value))


def _refuse_non_finite(value: Any, where: str, *, source: object) -> None:
    """`.inf`, `-.inf` and `.nan` pass every `> 0` check and fail hours later: refuse them anywhere."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(where or "<root>", f"must be a finite number, got {value}", source=source)
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_non_finite(item, f"{where}.{key}" if where else str(key), source=source)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_non_finite(item, f"{where}[{i}]", source=source)


TOP_KEYS = (
    "defaults",
    "threshold_sweep",
    "evaluation",
    "families",
    "human",
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

    return Params(
        profile=active,
        defaults=defaults,
        threshold_sweep=_parse_sweep(v, raw.get("threshold_sweep", {})),
        evaluation=v.block(EvaluationParams, raw.get("evaluation", {}), "evaluation"),
        families={k: dict(o or {}) for k, o in families.items()},
        stages=stages,
        cluster=_parse_cluster(v, raw.get("cluster", {})),
        profiles={k: dict(b) for k, b in profiles.items()},
        human=HumanSettings.from_dict(v.mapping(raw.get("human", {}), "human"), source=source),
        source=source,
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

    def scalar(self, value: Any, path: str, kind: type) -> Any:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise self.error(path, f"expected {kind.__name__}, got {value!r}")
        return value

    def block(self, cls: type, value: Any, path: str) -> Any:
        value = self.mapping(value, path)
        specs = {f.name: f for f in fields(cls)}
        self.keys(value, path, tuple(specs))
        clean = {}
        for key, item in value.items():
            kind = {"int": int, "float": float, "str": str}.get(str(specs[key].type))
            clean[key] = self.scalar(item, f"{path}.{key}", kind) if kind else item
        return cls(**clean)


def _parse_defaults(v: _Validator, value: Any, path: str) -> dict:
    """A mapping of TrainConfig keys (no `family`), type-checked through TrainConfig itself."""
    value = v.mapping(value, path)
    if "family" in value:
        raise v.error(f"{path}.family", "the family comes from the stage grid, not from defaults")
    v.keys(value, path, tuple(sorted(_TRAIN_FIELDS - {"family"})))
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
    config = TrainConfig(family=family, options=dict(options))
    kind = FAMILIES[family].kind
    try:
        if kind == "classical":
            from iacsieve.models.classical import resolve_options

            resolve_options(config)
        elif kind == "tiny":
            from iacsieve.models.tiny import tiny_options

            tiny_options(config)
        else:
            key = sorted(options)[0]
            raise ConfigError(f"options.{key}", f"the {family} family takes no options")
    except ConfigError as exc:
        raise v.error(f"{where}.{exc.key_path}", f"{exc.problem} (family {family})") from None


def _parse_sweep(v: _Validator, value: Any) -> SweepParams:
    sweep = v.block(SweepParams, value, "threshold_sweep")
    if not 0.0 <= sweep.start <= sweep.stop <= 1.0:
        raise v.error(
            "threshold_sweep.start", f"need 0 <= start <= stop <= 1, got {sweep.start}..{sweep.stop}"
        )
    if sweep.step <= 0:
        raise v.error("threshold_sweep.step", f"must be > 0, got {sweep.step}")
    count = math.floor((sweep.stop - sweep.start) / sweep.step + 1e-9) + 1
    if count > MAX_SWEEP_THRESHOLDS:
        raise v.error(
            "threshold_sweep.step",
            f"{sweep.step} makes {count} thresholds from {sweep.start} to {sweep.stop} (at most "
            f"{MAX_SWEEP_THRESHOLDS}: a 1e-4 grid over [0, 1]); use a larger step",
        )
    return sweep


def _parse_cluster(v: _Validator, value: Any) -> ClusterParams:
    value = dict(v.mapping(value, "cluster"))
    pods = parse_pod_settings(value, source=v.source)  # validates resources, retry, weights, credentials, ...
    base = v.block(ClusterParams, {k: value[k] for k in ("image", "parallelism") if k in value}, "cluster")
    v.keys(value, "cluster", ("image", "parallelism", *POD_KEYS))
    parallelism = parse_parallelism(value.get("parallelism", base.parallelism), v.source)
    return ClusterParams(image=base.image, parallelism=parallelism, pods=pods)


_LIST_TYPES: dict[str, type] = {
    "families": str,
    "learning_rates": float,
    "batch_sizes": int,
    "epochs": int,
    "weight_decays": float,
    "seeds": int,
}
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
    kind = _LIST_TYPES[key]
    checked = v.scalar(item, path, kind)
    if key == "families" and checked not in FAMILIES:
        raise v.error(path, f"unknown model family {item!r} (known: {', '.join(FAMILIES)})")
    if kind is int and checked < (0 if key == "seeds" else 1):
        raise v.error(path, f"must be >= {0 if key == 'seeds' else 1}, got {item}")
    if key == "learning_rates" and not checked > 0:
        raise v.error(path, f"must be > 0, got {item}")
    if key == "weight_decays" and checked < 0:
        raise v.error(path, f"must be >= 0, got {item}")
    if str(item) != format_value(item):  # dvc.yaml spells run dirs with str(); the library with format_value
        raise v.error(
            path,
            f"write {item!r} as {format_value(item)} (run directories are named by the value as written)",
        )
    return item
