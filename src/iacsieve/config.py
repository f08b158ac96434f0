"""params.yaml -> typed, validated settings; one config drives DVC (`dvc.yaml`) and KFP alike.

Every key is checked: an unknown key (a typo) or a value of the wrong type is a ConfigError naming
the dotted key path, e.g. `params.yaml: stage1.learnig_rates: unknown key (known: ...)`.

Grid vocabulary: a stage block lists candidate values per knob (`families`, `learning_rates`,
`batch_sizes`, `epochs`, `weight_decays`, `gradient_accumulations`, `seeds`). The value `best` (or
an omitted list in stages 3-4) means "the previous stage's selected value".
"""

from __future__ import annotations

import io
import itertools
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .atomic import atomic_write_text
from .errors import ConfigError
from .models import FAMILIES
from .run_config import TrainConfig

BEST = "best"
STAGES: tuple[int, ...] = (1, 2, 3, 4)
RULES: tuple[str, ...] = ("argmax", "threshold", "frozen")
PROFILES_KEY = "profiles"

# stage-block list key -> TrainConfig field, in the order DVC's matrix (and run names) use.
GRID_KEYS: dict[str, str] = {
    "families": "family",
    "learning_rates": "learning_rate",
    "batch_sizes": "batch_size",
    "epochs": "epochs",
    "weight_decays": "weight_decay",
    "gradient_accumulations": "gradient_accumulation",
    "seeds": "seed",
}
# Which lists each stage may hold (stage 3 refines the stage-2 winner, stage 4 only re-seeds it).
STAGE_LISTS: dict[int, tuple[str, ...]] = {
    1: tuple(GRID_KEYS),
    2: tuple(GRID_KEYS),
    3: tuple(k for k in GRID_KEYS if k != "families"),
    4: ("seeds",),
}
DEFAULT_RULES: dict[int, str] = {1: "argmax", 2: "argmax", 3: "threshold", 4: "frozen"}
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}
_TRAIN_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


class _Loader(yaml.SafeLoader):
    """PyYAML with YAML 1.2 floats (`5e-4` is a float, as DVC's ruamel reads it, not a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.[\d_]*)?[eE][-+]?\d+$|^[-+]?(?:\d[\d_]*)\.[\d_]*$|^[-+]?\.\d[\d_]*$"),
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
class DataParams(_Mapping):
    raw: str = "data/raw"
    prepared: str = "data/prepared"


@dataclass(frozen=True)
class SweepParams(_Mapping):
    start: float = 0.30
    stop: float = 0.70
    step: float = 0.01


@dataclass(frozen=True)
class EvaluationParams(_Mapping):
    bootstrap_samples: int = 1000
    bootstrap_seed: int = 0


@dataclass(frozen=True)
class TrainResources(_Mapping):
    gpu: int = 1
    cpu_request: str = "4"
    cpu_limit: str = "8"
    memory_request: str = "16Gi"
    memory_limit: str = "32Gi"
    shm_size: str = "8Gi"


@dataclass(frozen=True)
class ClusterParams(_Mapping):
    """KFP-only settings (DVC ignores them)."""

    image: str = "ghcr.io/OWNER/iacsieve:TAG"
    parallelism: int = 4
    retries: int = 2
    train_resources: TrainResources = field(default_factory=TrainResources)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class StageParams(_Mapping):
    """One stage's grid; `grid_points()` expands it to one dict of TrainConfig keys per run."""

    number: int
    lists: dict[str, tuple[Any, ...]]  # only the lists given (GRID_KEYS keys)
    decision_rule: str

    def grid_points(self) -> list[dict]:
        """Cartesian product of the given lists, in GRID_KEYS order (DVC's matrix order)."""
        keys = [k for k in GRID_KEYS if k in self.lists]
        return [
            {GRID_KEYS[k]: v for k, v in zip(keys, combo)}
            for combo in itertools.product(*(self.lists[k] for k in keys))
        ]

    def to_dict(self) -> dict:
        return {**{k: list(v) for k, v in self.lists.items()}, "decision_rule": self.decision_rule}


@dataclass(frozen=True)
class Params(_Mapping):
    """The whole params.yaml, validated. `stage(n)` is the active grid of stage n."""

    profile: str
    data: DataParams
    defaults: dict[str, Any]  # TrainConfig defaults: `defaults` updated by `profiles.<profile>.defaults`
    threshold_sweep: SweepParams
    evaluation: EvaluationParams
    families: dict[str, dict[str, Any]]
    stages: dict[int, StageParams]
    cluster: ClusterParams
    profiles: dict[str, dict[str, Any]]  # raw profile blocks (validated)
    source: str = "params.yaml"

    def stage(self, n: int) -> StageParams:
        if n not in self.stages:
            raise ConfigError(f"stage{n}", f"no such stage (stages: {', '.join(map(str, STAGES))})", source=self.source)
        return self.stages[n]


# ----------------------------------------------------------------------------- loading

def load_params(path: str | Path = "params.yaml", profile: str | None = None) -> Params:
    """Read and validate params.yaml.

    With `profile=None` the top-level `stage1..4` blocks are the grids (what `dvc repro` runs; the
    `profile:` key says which profile they were copied from). With a profile name (KFP's
    `--profile cluster`), `profiles.<name>`'s stage blocks replace them. Either way the run defaults
    are `defaults` updated by that profile's `defaults`.
    """
    raw = read_yaml(path)
    return parse_params(raw, profile=profile, source=str(path))


def read_yaml(path: str | Path) -> dict:
    """Load a YAML mapping (YAML 1.2 floats); a missing file or bad syntax is a ConfigError."""
    from .limits import MAX_JSON_FILE_BYTES
    from .reading import read_regular_text  # regular files only, size-capped, one-line errors

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ConfigError("<file>", "not found", source=path)
    text = read_regular_text(path, max_bytes=MAX_JSON_FILE_BYTES, what="YAML file")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
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
    return data


TOP_KEYS = ("profile", "data", "defaults", "threshold_sweep", "evaluation", "families",
            "stage1", "stage2", "stage3", "stage4", "cluster", PROFILES_KEY)
PROFILE_KEYS = ("stage1", "stage2", "stage3", "stage4", "defaults")


def parse_params(raw: dict, *, profile: str | None = None, source: str = "params.yaml") -> Params:
    """Validate an already-loaded params mapping (see `load_params`)."""
    v = _Validator(source)
    v.keys(raw, "", TOP_KEYS, required=("stage1", "stage2", "stage3", "stage4"))
    profiles = v.mapping(raw.get(PROFILES_KEY, {}), PROFILES_KEY)
    for name, block in profiles.items():
        block = v.mapping(block, f"{PROFILES_KEY}.{name}")
        v.keys(block, f"{PROFILES_KEY}.{name}", PROFILE_KEYS, required=("stage1", "stage2", "stage3", "stage4"))
        for n in STAGES:
            _parse_stage(v, block[f"stage{n}"], n, f"{PROFILES_KEY}.{name}.stage{n}")
        _parse_defaults(v, block.get("defaults", {}), f"{PROFILES_KEY}.{name}.defaults")

    recorded = raw.get("profile", "local")
    if not isinstance(recorded, str):
        raise v.error("profile", f"expected a profile name, got {recorded!r}")
    active = profile if profile is not None else recorded
    if profile is not None and profile not in profiles:
        raise v.error(PROFILES_KEY, f"no profile {profile!r} (profiles: {', '.join(profiles) or 'none'})")
    if profile is not None:
        stage_src, where = profiles[profile], f"{PROFILES_KEY}.{profile}."
    else:
        stage_src, where = raw, ""
    stages = {n: _parse_stage(v, stage_src[f"stage{n}"], n, f"{where}stage{n}") for n in STAGES}

    defaults = _parse_defaults(v, raw.get("defaults", {}), "defaults")
    if active in profiles:
        defaults.update(_parse_defaults(v, profiles[active].get("defaults", {}), f"{PROFILES_KEY}.{active}.defaults"))

    families = v.mapping(raw.get("families", {}), "families")
    for name, overrides in families.items():
        if name not in FAMILIES:
            raise v.error(f"families.{name}", f"unknown model family (known: {', '.join(FAMILIES)})")
        _parse_defaults(v, overrides, f"families.{name}")

    return Params(
        profile=active,
        data=v.block(DataParams, raw.get("data", {}), "data"),
        defaults=defaults,
        threshold_sweep=_parse_sweep(v, raw.get("threshold_sweep", {})),
        evaluation=v.block(EvaluationParams, raw.get("evaluation", {}), "evaluation"),
        families={k: dict(o or {}) for k, o in families.items()},
        stages=stages,
        cluster=_parse_cluster(v, raw.get("cluster", {})),
        profiles={k: dict(b) for k, b in profiles.items()},
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
            kind = {"int": int, "float": float, "str": str}.get(str(specs[key].type), None)
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


def _parse_sweep(v: _Validator, value: Any) -> SweepParams:
    sweep = v.block(SweepParams, value, "threshold_sweep")
    if not 0.0 <= sweep.start <= sweep.stop <= 1.0:
        raise v.error("threshold_sweep.start", f"need 0 <= start <= stop <= 1, got {sweep.start}..{sweep.stop}")
    if sweep.step <= 0:
        raise v.error("threshold_sweep.step", f"must be > 0, got {sweep.step}")
    return sweep


def _parse_cluster(v: _Validator, value: Any) -> ClusterParams:
    value = dict(v.mapping(value, "cluster"))
    resources = v.block(TrainResources, value.pop("train_resources", {}), "cluster.train_resources")
    selector = v.mapping(value.pop("node_selector", {}), "cluster.node_selector")
    for key, item in selector.items():
        v.scalar(item, f"cluster.node_selector.{key}", str)
    tolerations = value.pop("tolerations", []) or []
    if not isinstance(tolerations, list):
        raise v.error("cluster.tolerations", f"expected a list, got {tolerations!r}")
    for i, tol in enumerate(tolerations):
        tol = v.mapping(tol, f"cluster.tolerations[{i}]")
        v.keys(tol, f"cluster.tolerations[{i}]", ("key", "operator", "value", "effect", "toleration_seconds"))
    base = v.block(ClusterParams, value, "cluster")
    return ClusterParams(image=base.image, parallelism=base.parallelism, retries=base.retries,
                         train_resources=resources, node_selector=dict(selector),
                         tolerations=tuple(dict(t) for t in tolerations))


_LIST_TYPES: dict[str, type] = {
    "families": str, "learning_rates": float, "batch_sizes": int, "epochs": int,
    "weight_decays": float, "gradient_accumulations": int, "seeds": int,
}


def _parse_stage(v: _Validator, value: Any, n: int, path: str) -> StageParams:
    value = v.mapping(value, path)
    v.keys(value, path, (*STAGE_LISTS[n], "decision_rule"))
    if n in (1, 2) and "families" not in value:
        raise v.error(f"{path}.families", "missing required key")
    lists: dict[str, tuple[Any, ...]] = {}
    for key in STAGE_LISTS[n]:
        if key not in value:
            continue
        items = value[key]
        if not isinstance(items, list) or not items:
            raise v.error(f"{path}.{key}", f"expected a non-empty list, got {items!r}")
        clean = []
        for i, item in enumerate(items):
            clean.append(_grid_value(v, item, key, n, f"{path}.{key}[{i}]"))
        if len(set(map(str, clean))) != len(clean):
            raise v.error(f"{path}.{key}", f"duplicate values in {items!r}")
        lists[key] = tuple(clean)
    for key in ("seeds", "gradient_accumulations"):
        if n < 4 and len(lists.get(key, ())) > 1:
            raise v.error(f"{path}.{key}", "stages 1-3 take one value here (run names carry no seed or "
                                           "accumulation; stage 4 varies the seed)")
    rule = value.get("decision_rule", DEFAULT_RULES[n])
    if rule not in RULES:
        raise v.error(f"{path}.decision_rule", f"expected one of {', '.join(RULES)}, got {rule!r}")
    if rule == "frozen" and n != 4:
        raise v.error(f"{path}.decision_rule", "'frozen' needs a champion: only stage 4 may use it")
    return StageParams(number=n, lists=lists, decision_rule=rule)


def _grid_value(v: _Validator, item: Any, key: str, n: int, path: str) -> Any:
    if item == BEST:
        if n == 1:
            raise v.error(path, "'best' refers to the previous stage; stage 1 has none")
        return BEST
    kind = _LIST_TYPES[key]
    checked = v.scalar(item, path, kind)  # the raw value is kept: DVC writes `0`, not `0.0`, in run dirs
    if key == "families" and checked not in FAMILIES:
        raise v.error(path, f"unknown model family {item!r} (known: {', '.join(FAMILIES)})")
    if kind is int and checked < (0 if key == "seeds" else 1):
        raise v.error(path, f"must be >= {0 if key == 'seeds' else 1}, got {item}")
    if key == "learning_rates" and not checked > 0:
        raise v.error(path, f"must be > 0, got {item}")
    if key == "weight_decays" and checked < 0:
        raise v.error(path, f"must be >= 0, got {item}")
    return item


# ----------------------------------------------------------------------------- runs

def previous_config(previous_selection: dict | None) -> dict | None:
    """The TrainConfig dict of a selection.json (`selected.config`) or a champion.json (`config`)."""
    if previous_selection is None:
        return None
    chosen = previous_selection.get("selected", previous_selection)
    config = chosen.get("config") if isinstance(chosen, dict) else None
    if not isinstance(config, dict):
        raise ConfigError("selected.config", "missing in the previous stage's selection", source="selection")
    return config


def resolve_run_config(params: Params, stage: int, point: dict, previous_selection: dict | None) -> TrainConfig:
    """The TrainConfig of one grid point of `stage`.

    Stage 1: defaults < `families.<family>` < the point. Stage 2: same, with `family: best` (and
    any other `best` value) taken from stage 1's selection. Stage 3: stage 2's selected config < the
    point's non-`best` values. Stage 4: stage 3's champion config with only the seed replaced.
    """
    where = f"stage{stage}"
    unknown = sorted(set(point) - _TRAIN_FIELDS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", "not a run setting", source=params.source)
    prev = previous_config(previous_selection)
    needs_prev = stage >= 3 or any(value == BEST for value in point.values())
    if needs_prev and prev is None:
        raise ConfigError(where, "needs the previous stage's selection (previous_selection is None)", source=params.source)
    if stage >= 3:
        values = dict(prev)  # type: ignore[arg-type]
        if stage == 4:
            point = {"seed": point["seed"]} if "seed" in point else {}
    else:
        family = point.get("family")
        if family == BEST:
            family = prev["family"]  # type: ignore[index]
        if family is None:
            raise ConfigError(f"{where}.families", "a run needs a family", source=params.source)
        values = {**params.defaults, **params.families.get(family, {}), "family": family}
    for key, value in point.items():
        if value == BEST:
            values[key] = prev[key] if key in prev else values.get(key)  # type: ignore[index,operator]
        elif key != "family" or stage < 3:
            values[key] = value
    if stage < 3 and values["family"] == BEST:
        values["family"] = prev["family"]  # type: ignore[index]
    return TrainConfig.from_dict(values, where=where)


def run_key(value: Any) -> str:
    """A grid value as DVC writes it into a path (`str()`), so Python and dvc.yaml agree on run dirs."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_dir_name(stage: int, point: dict) -> str:
    """The directory name of a grid point, exactly as dvc.yaml's templates spell it.

    Stage 1-2: `<family>_lr<lr>_bs<bs>_ep<ep>_wd<wd>` (`family` is `best` in stage 2: the stage-1
    winner, resolved at run time and recorded in the run's config_used.yaml / summary.json).
    Stage 3: `best_lr<lr>_bs<bs>_ep<ep>_wd<wd>`, each `best` where the stage-2 value is kept.
    Stage 4: `champion_seed<seed>`.
    """
    if stage == 4:
        return f"champion_seed{run_key(point.get('seed', BEST))}"
    family = BEST if stage == 3 else point.get("family", BEST)
    parts = [run_key(family)]
    for prefix, key in (("lr", "learning_rate"), ("bs", "batch_size"), ("ep", "epochs"), ("wd", "weight_decay")):
        parts.append(f"{prefix}{run_key(point.get(key, BEST))}")
    return "_".join(parts)


def stage_run_dirs(params: Params, stage: int) -> list[str]:
    """Run directory names of the stage's current grid (select reads only these, never stale dirs)."""
    return [run_dir_name(stage, p) for p in params.stage(stage).grid_points()]


# ----------------------------------------------------------------------------- profiles

def use_profile(path: str | Path, name: str) -> Params:
    """Copy `profiles.<name>`'s stage blocks over the top-level ones and set `profile: <name>`.

    Comments and layout of params.yaml are kept (ruamel round-trip, as `dvc exp run -S` does).
    Every grid list is written out in full (omitted stage-3/4 lists become `[best]`) because
    dvc.yaml's `matrix` reads each of them.
    """
    from ruamel.yaml import YAML  # dvc's own YAML library; preserves comments

    path = Path(path)
    params = load_params(path, profile=name)  # validates the target profile first
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 120
    doc = rt.load(path.read_text(encoding="utf-8"))
    doc["profile"] = name
    for n in STAGES:
        doc[f"stage{n}"] = dvc_stage_block(params.stage(n), params.defaults)
    buffer = io.StringIO()
    rt.dump(doc, buffer)
    atomic_write_text(path, buffer.getvalue())
    return load_params(path)


def dvc_stage_block(stage: StageParams, defaults: dict | None = None) -> dict:
    """A stage block with every list dvc.yaml's matrix reads.

    A missing list becomes `[best]` in stages 3-4, and in stages 1-2 the run default
    (`defaults`, else TrainConfig's own default).
    """
    defaults = defaults or {}
    block: dict[str, Any] = {}
    for key in STAGE_LISTS[stage.number]:
        if key in stage.lists:
            block[key] = list(stage.lists[key])
        elif stage.number < 3:
            name = GRID_KEYS[key]
            block[key] = [defaults.get(name, _TRAIN_DEFAULTS[name])]
        else:
            block[key] = [BEST]
    block["decision_rule"] = stage.decision_rule
    return block
