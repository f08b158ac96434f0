"""The JSON artifacts that cross a boundary, each typed once, with one reader and one writer.

DVC stages, KFP components, the report and the filter hand each other small JSON files (a run's
train log and threshold sweep, its evaluation, a stage's selection and winner, the champion card,
the metrics). Each has one `TypedDict` here; producers build it, `write_artifact` checks it against
its shape before writing (a producer that drifts fails its own test, not a later stage), and
`read_artifact` checks what a consumer reads: the type of every key present and the keys the consumer
uses (a hand-edited or truncated file is one line naming the file and the key, never a KeyError three
modules later). Keys a shape does not name are kept on read (a newer producer) and refused on write
(a producer the shape forgot), except for shapes marked open. The bytes on disk are `atomic_write_json`'s: indented, key-sorted, so DVC hashes are stable.

docs/INTERFACES.md is generated from these definitions: `python -m iacsieve.core.artifacts --out
docs/INTERFACES.md` (`make interfaces`); a test fails when it is stale.

No `from __future__ import annotations` here: TypedDict needs its annotations evaluated to know
which keys are `NotRequired`.
"""

import argparse
import functools
import sys
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Any,
    Generic,
    Literal,
    NotRequired,
    TypedDict,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.core.json_values import is_int, is_number
from iacsieve.io.atomic import atomic_write_json, atomic_write_text
from iacsieve.io.limits import shorten
from iacsieve.io.reading import read_json_object

# ----------------------------------------------------------------------------- shared parts


class ConfusionMatrix(TypedDict):
    """Counts at the decision threshold (1 = real smell, kept)."""

    tn: int
    fp: int
    fn: int
    tp: int


class F1Interval(TypedDict):
    """Bootstrap 95% interval of F1 (resampled rows, fixed seed: the same numbers every run)."""

    lo: float
    hi: float
    samples: int
    seed: int


class Metrics(TypedDict):
    """`classification.compute_metrics` of one evaluation set (plus the bootstrap interval)."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    confusion_matrix: ConfusionMatrix
    support: int
    n_real: int
    n_false_alarm: int
    fp_reduction: float  # of the false alarms, the share the filter removes
    tp_retention: float  # of the real smells, the share the filter keeps
    per_smell: NotRequired[dict[str, "Metrics"]]
    f1_ci95: NotRequired[F1Interval]


class EvaluationHeader(TypedDict):
    """Which run was judged, and at which threshold (where the number came from)."""

    run: str
    family: str
    rule: str  # argmax | threshold | frozen (layout.RULES)
    threshold: float
    threshold_source: str  # argmax, sweep:<file> or frozen:<champion.json>


# ----------------------------------------------------------------------------- one run


class TrainLog(TypedDict):
    """`<run>/train_log.json`: how training went (no wall time: DVC hashes the run dir)."""

    run: str
    family: str
    kind: str  # the family's module: hf, tiny, classical
    device: str
    epochs: list[dict[str, Any]]  # one entry per epoch (loss, val F1 at 0.5, ...)
    best_epoch: int | None
    stopped_early: bool
    epochs_run: NotRequired[int]
    n_train: NotRequired[int]
    n_val: NotRequired[int]
    best_val_f1: NotRequired[float | None]


class SweepPoint(TypedDict):
    threshold: float
    f1: float
    precision: float
    recall: float


class ThresholdSweep(TypedDict):
    """`<run>/threshold_sweep_results.json`: validation F1 at each threshold, and the best one."""

    best_threshold: float
    best_f1: float
    start: float
    stop: float
    step: float
    tie_rule: str
    n: int  # validation rows
    val_scores: str  # the score file's name
    curve: list[SweepPoint]


class Evaluation(EvaluationHeader, Metrics):
    """`results/<stage>/<run>/<set>/evaluation_metadata.json`: one run on one evaluation set."""

    set: str  # val, combined, ansible, chef, puppet (layout.EVAL_SETS)
    n: int


class RunSummary(EvaluationHeader):
    """`results/<stage>/<run>/summary.json`: every set of one run; written last (marks it complete)."""

    run_dir: str
    config: dict[str, Any]  # the run's settings (config_used.yaml)
    use_context: bool
    val: Metrics
    test: dict[str, Metrics]  # per test set (layout.TEST_SETS)
    samples_seen: int  # training rows x epochs: the deterministic cost that breaks ties


# ----------------------------------------------------------------------------- a stage


class SelectedRun(TypedDict):
    run: str
    family: str
    run_dir: str
    results_dir: str
    config: dict[str, Any]
    use_context: bool
    threshold: float
    threshold_source: str
    val_f1: float
    test: dict[str, Metrics]
    rank: int


class RankedRun(SelectedRun):
    val_fp_reduction: float
    val_tp_retention: float
    samples_seen: int | None
    selected: bool


class Selection(TypedDict):
    """`results/selection/<stage>/selection.json`: the whole ranking and the chosen run."""

    mode: str  # best | median (the plan's selection mode)
    stage: str | None  # stageN
    selected: SelectedRun
    runs: list[RankedRun]  # best first
    median_val_f1: NotRequired[float]  # mode median


class Winner(TypedDict):
    """`results/selection/<stage>/winner.json`: the chosen run's settings, all the next stage reads."""

    stage: str | None
    run: str
    family: str
    config: dict[str, Any]
    threshold: float
    threshold_source: str
    val_f1: float


class HeadlineMetrics(TypedDict, total=False):
    """`results/selection/<stage>/metrics.json` and `reports/metrics.json`: what `dvc metrics show`
    prints (a number that cannot be computed is left out)."""

    threshold: float
    val_f1: float
    test_f1: float  # combined test set
    test_f1_lo: float
    test_f1_hi: float
    fp_reduction: float
    tp_retention: float
    val_f1_std: float  # over the stage's runs (stage 4: the seeds)
    test_f1_std: float


# ----------------------------------------------------------------------------- champion and data


class EvidenceCard(TypedDict):
    """champion.json's `evidence_index`: the training rows searchable for the evidence of each decision
    (`iacsieve.models.evidence_index`; the filter refuses files whose SHA-256 differs)."""

    format: int
    rows: int
    text: str  # what the index compares
    vectors: str  # how it is vectorised
    sha256: dict[str, str]  # file name -> SHA-256


class PlainModelCard(TypedDict):
    """champion.json's `classical_plain`: the classical model as plain data (`iacsieve.models.classical_plain`;
    the filter refuses files whose SHA-256 differs)."""

    format: int
    sha256: dict[str, str]  # file name -> SHA-256


class ChampionCard(TypedDict):
    """`models/champion/champion.json`: the frozen champion, all the filter needs besides the weights."""

    threshold: float  # the frozen decision threshold
    threshold_source: str
    family: str
    run: str
    config: dict[str, Any]
    data_md5: str  # the training data it was chosen on
    val_f1: float
    test: dict[str, Metrics]
    use_context: bool
    run_dir: NotRequired[str]
    smells: NotRequired[list[str]]  # canonical smells it was trained on: the filter passes the others
    kind: NotRequired[str | None]
    selection: NotRequired[str]
    selection_mode: NotRequired[str | None]
    stage: NotRequired[str]
    validation: NotRequired[str]  # llm | human | merged: which labels the choice was made on
    evidence_index: NotRequired[EvidenceCard]  # written by freeze (docs/explain.md)
    classical_plain: NotRequired[PlainModelCard]  # written by freeze for a classical model (docs/champion.md)


class HumanReport(TypedDict):
    """`data/training/human.json`: what `iacsieve labels apply` did with the reviewers' labels."""

    train_mode: str
    validation: str  # llm | human | merged (llm when there are no human labels)
    labels: int
    warnings: int
    disputed: list[str]  # warning keys the reviewers tie on
    train_relabelled: int
    train_added: int
    val_rows: int
    val_human_rows: int
    label_flips: dict[str, int]


# ----------------------------------------------------------------------------- the registry


Shape = TypeVar("Shape")


@dataclass(frozen=True)
class Artifact(Generic[Shape]):
    """One JSON artifact: its file, its shape, who writes it and who reads it. `Artifact[Winner]`:
    `read_artifact` returns a `Winner`, so mypy checks every use of what is read."""

    name: str
    path: str  # where it lives (a pattern)
    shape: type
    written_by: str
    read_by: str
    open: bool = False  # extra keys allowed on write (family-specific training details)


TRAIN_LOG: Artifact[TrainLog] = Artifact(
    "train log",
    f"{layout.EXPERIMENTS_DIR}/<stage>/<run>/{layout.TRAIN_LOG}",
    TrainLog,
    "steps.train.train (each family's fit adds its own keys)",
    "steps.evaluate.evaluate (training cost for tie-breaks), reporting",
    open=True,
)
SWEEP: Artifact[ThresholdSweep] = Artifact(
    "threshold sweep",
    f"{layout.EXPERIMENTS_DIR}/<stage>/<run>/{layout.SWEEP_FILE}",
    ThresholdSweep,
    "steps.threshold.sweep_threshold (stages whose plan sweeps)",
    "steps.evaluate (rule `threshold`), reporting.plots",
)
EVALUATION: Artifact[Evaluation] = Artifact(
    "evaluation",
    f"{layout.RESULTS_DIR}/<stage>/<run>/<set>/{layout.EVAL_FILE}",
    Evaluation,
    "steps.evaluate.evaluate",
    "reporting.report, people",
)
RUN_SUMMARY: Artifact[RunSummary] = Artifact(
    "run summary",
    f"{layout.RESULTS_DIR}/<stage>/<run>/{layout.SUMMARY_FILE}",
    RunSummary,
    "steps.evaluate.evaluate",
    "steps.selection.select_runs, method.dvc.stage_metrics, reporting.report",
)
SELECTION: Artifact[Selection] = Artifact(
    "selection",
    f"{layout.SELECTIONS_DIR}/<stage>/{layout.SELECTION_FILE}",
    Selection,
    "steps.selection.select_runs (DVC `select@N`, KFP select task)",
    "steps.freeze.freeze, reporting.report, reporting.plots, kfp.pull",
)
WINNER: Artifact[Winner] = Artifact(
    "winner",
    f"{layout.SELECTIONS_DIR}/<stage>/{layout.WINNER_FILE}",
    Winner,
    "steps.selection.select_runs",
    "method.grid.read_base (the next stage builds on its settings; DVC params dep)",
)
STAGE_METRICS: Artifact[HeadlineMetrics] = Artifact(
    "stage metrics",
    f"{layout.SELECTIONS_DIR}/<stage>/{layout.METRICS_FILE}, {layout.REPORT_METRICS}",
    HeadlineMetrics,
    "method.dvc.select_stage, reporting.report.write_report, kfp.pull",
    "`dvc metrics show/diff`",
)
CHAMPION: Artifact[ChampionCard] = Artifact(
    "champion card",
    f"{layout.CHAMPION_DIR}/{layout.CHAMPION_FILE} (and models/champions/<stage>/)",
    ChampionCard,
    "steps.freeze.freeze (DVC `freeze@N`, KFP freeze task)",
    "filtering (the `filter` command), steps.evaluate (rule `frozen`), method.grid.read_base, reporting",
)
HUMAN_REPORT: Artifact[HumanReport] = Artifact(
    "human-label report",
    f"{layout.TRAINING_DIR}/{layout.HUMAN_REPORT}",
    HumanReport,
    "data.human_training.build_training_data (DVC `training-data`, KFP training-data task)",
    "steps.freeze (the champion's `validation`), reporting.report",
)
ARTIFACTS: tuple[Artifact[Any], ...] = (
    TRAIN_LOG,
    SWEEP,
    EVALUATION,
    RUN_SUMMARY,
    SELECTION,
    WINNER,
    STAGE_METRICS,
    CHAMPION,
    HUMAN_REPORT,
)


# ----------------------------------------------------------------------------- checking


_hints = functools.cache(get_type_hints)  # a shape's resolved annotations, once per shape


def _kind(hint: Any) -> str:
    """A type hint as the reference page and the error messages write it."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return "any"
    if hint is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(_kind(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is list:
        return f"list of {_kind(args[0])}"
    if origin is dict:
        return f"object of {_kind(args[1])}"
    if typing.is_typeddict(hint):
        return hint.__name__
    return {str: "string", int: "integer", float: "number", bool: "true/false"}.get(hint, str(hint))


def _problems(value: Any, hint: Any, key: str, *, strict: bool) -> list[str]:
    """What is wrong with `value` as a `hint` (empty: nothing); each problem names its dotted key.

    `strict` (a TypedDict's own keys): every required key there, no unknown one; else types only.
    """
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return []
    if origin in (Union, types.UnionType):
        tries = [_problems(value, a, key, strict=strict) for a in args]
        if any(not t for t in tries):
            return []
        nested = [t for t in tries if not t[0].startswith(f"key '{key}': expected")]  # right container
        return nested[0] if nested else [f"key '{key}': expected {_kind(hint)}, got {shorten(value)}"]
    if typing.is_typeddict(hint):
        return _shape_problems(value, hint, key, strict=strict)
    wrong = [f"key '{key}': expected {_kind(hint)}, got {shorten(value)}"]
    if origin is list:
        if not isinstance(value, list):
            return wrong
        return [p for i, v in enumerate(value) for p in _problems(v, args[0], f"{key}[{i}]", strict=strict)]
    if origin is dict:
        if not isinstance(value, dict):
            return wrong
        return [p for k, v in value.items() for p in _problems(v, args[1], f"{key}.{k}", strict=strict)]
    if origin is Literal:
        return [] if value in args else wrong
    if hint is type(None):
        return [] if value is None else wrong
    if hint is float:
        return [] if is_number(value) else wrong
    if hint is int:
        return [] if is_int(value) else wrong
    return [] if isinstance(value, hint) else wrong


def _shape_problems(value: Any, shape: type, key: str, *, strict: bool) -> list[str]:
    """Problems of one object; `strict` holds for the top level only (nested objects are the producer's
    inputs, e.g. a summary's metrics copied into a selection: checked for type, checked whole where
    their own artifact is written)."""
    prefix = f"{key}." if key else ""
    if not isinstance(value, dict):
        return [f"key '{key or '<root>'}': expected an object ({shape.__name__}), got {shorten(value)}"]
    hints = _hints(shape)
    problems = []
    if strict:
        required = shape.__required_keys__  # type: ignore[attr-defined]
        problems += [f"missing key '{prefix}{k}'" for k in sorted(required) if k not in value]
        problems += [
            f"unknown key '{prefix}{k}' (not in {shape.__name__})" for k in sorted(set(value) - set(hints))
        ]
    for k, v in value.items():
        if k in hints:
            problems += _problems(v, hints[k], f"{prefix}{k}", strict=False)
    return problems


def required_keys(shape: type) -> list[str]:
    """A shape's required keys in declaration order (a consumer's `needs` when it uses them all)."""
    required = shape.__required_keys__  # type: ignore[attr-defined]
    return [k for k in get_type_hints(shape) if k in required]


def _has(value: dict, dotted: str) -> bool:
    """Whether `value` holds the dotted key (`selected.run`)."""
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def check(
    artifact: Artifact[Any], value: Any, path: object, *, writing: bool = False, needs: Iterable[str] = ()
) -> None:
    """Raise IacsieveError naming the file and the first bad key if `value` is not the artifact's shape.

    Writing: the whole shape (every required key, no unknown one unless the shape is open). Reading:
    the type of every key present, and the keys in `needs` (what the consumer uses) must be there;
    so a consumer reads an older or a partial file (a test's fixture) as long as it has what it uses.
    """
    if writing:
        problems = _shape_problems(value, artifact.shape, "", strict=True)
        if artifact.open:
            problems = [p for p in problems if not p.startswith("unknown key")]
    else:
        problems = [f"missing key '{k}'" for k in needs if isinstance(value, dict) and not _has(value, k)]
        problems += _shape_problems(value, artifact.shape, "", strict=False)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise IacsieveError(f"{path}: {problems[0]}{more} ({artifact.name})")


def read_artifact(
    artifact: Artifact[Shape], path: str | Path, *, hint: str = "", needs: Iterable[str] = ()
) -> Shape:
    """The artifact at `path`, typed as its shape: every key present of its shape's type, the keys in
    `needs` present (extra keys kept: a newer producer). Keys outside `needs` that the shape marks
    required may still be absent in an older file: read them with `.get` where that matters."""
    value = read_json_object(path, what="JSON", hint=hint)
    check(artifact, value, path, needs=needs)
    return value  # type: ignore[return-value]  # checked above against the shape


def write_artifact(artifact: Artifact[Any], path: str | Path, value: Any) -> Path:
    """Check `value` against the artifact's shape (no unknown keys), then write it atomically."""
    check(artifact, value, path, writing=True)
    return atomic_write_json(path, value)


# ----------------------------------------------------------------------------- the reference page


def _fields(shape: type) -> list[str]:
    hints = get_type_hints(shape)
    required = shape.__required_keys__  # type: ignore[attr-defined]
    return [
        f"| `{k}` | {_kind(hints[k])} | {'yes' if k in required else 'no'} |"
        for k in hints  # declaration order (a subclass's keys after its bases')
    ]


def _shapes_used(shape: type, seen: list[type]) -> list[type]:
    if shape in seen:
        return seen
    seen.append(shape)
    for hint in get_type_hints(shape).values():
        stack = [hint]
        while stack:
            h = stack.pop()
            if typing.is_typeddict(h):
                _shapes_used(h, seen)
            stack += list(get_args(h))
    return seen


def reference() -> str:
    """docs/INTERFACES.md: every artifact, its file, producer, consumers and keys (generated)."""
    lines = [
        "# Artifact reference",
        "",
        "<!-- Generated from src/iacsieve/core/artifacts.py by `make interfaces`; do not edit by hand. -->",
        "",
        "The JSON files the DVC stages, the KFP components, the report and the filter hand each other.",
        "Each is one `TypedDict` in `iacsieve.core.artifacts`, written by `write_artifact` (the whole shape: every",
        "required key, no unknown one) and read by `read_artifact` (every key present of its type, the keys",
        "the consumer uses present); a bad file is one line naming the file and the key.",
        "JSON is written indented with sorted keys. A number may be an integer where `number` is shown.",
        "",
        "| artifact | file | written by | read by |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| [{a.name}](#{a.shape.__name__.lower()}) | `{a.path}` | {a.written_by} | {a.read_by} |"
        for a in ARTIFACTS
    ]
    shared: list[type] = []
    for artifact in ARTIFACTS:
        doc = (artifact.shape.__doc__ or "").strip()
        lines += (
            ["", f"## {artifact.shape.__name__}", "", doc] if doc else ["", f"## {artifact.shape.__name__}"]
        )
        if artifact.open:
            lines += ["", "Open: a model family may add keys of its own."]
        lines += ["", "| key | type | required |", "| --- | --- | --- |", *_fields(artifact.shape)]
        shared += [s for s in _shapes_used(artifact.shape, [])[1:] if s not in shared]
    shared = [s for s in shared if s not in {a.shape for a in ARTIFACTS}]
    if shared:
        lines += ["", "## Shapes used inside them"]
        for shape in shared:
            doc = (shape.__doc__ or "").strip()
            lines += ["", f"### {shape.__name__}", *(["", doc] if doc else [])]
            lines += ["", "| key | type | required |", "| --- | --- | --- |", *_fields(shape)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iacsieve.core.artifacts", description="The artifact reference page."
    )
    parser.add_argument("--out", help="write the page here (atomically) instead of printing it")
    args = parser.parse_args(argv)
    if args.out:
        atomic_write_text(args.out, reference())
    else:
        sys.stdout.write(reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
