"""The step components' functions: thin, typed wrappers over the library's steps.

KFP copies each function's source into its container command, so every body imports what it
uses; `iacsieve` is installed in the image (docker/Dockerfile) and in the venv kfp.local runs in.
No step logic lives here: each body maps typed artifacts to paths and calls one library function.
Small artifacts travel between tasks: a train task emits its `scores` (score files, settings, log:
kilobytes) beside the `run` (the weights); sweep and evaluate read scores only, and freeze gets the
one chosen run by reference.
(No `from __future__ import annotations`: KFP reads the annotations as real types.)
"""

from typing import NamedTuple

from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def prepare(
    raw: Input[Dataset], prepared: Output[Dataset], expected_md5: str = "", skip_invalid: bool = False
) -> None:
    """Validate + normalise the raw splits into the prepared layout (`iacsieve.data.prepare`);
    `expected_md5` (data.dvc's): refuse data whose DVC md5 differs."""
    from iacsieve.data.records import prepare as prepare_data

    stats = prepare_data(
        raw.path, prepared.path, skip_invalid=skip_invalid, expected_md5=expected_md5 or None
    )
    prepared.metadata["data_md5"] = expected_md5
    prepared.metadata["rows"] = {
        split: stats[split]["combined"]["total"] for split in ("train", "val", "test")
    }


def training_data(
    prepared: Input[Dataset], human: Input[Dataset], settings_json: str, training: Output[Dataset]
) -> None:
    """The data every run reads: prepared data with your reviewers' labels applied, as params.yaml's
    `human:` block says (`iacsieve.data.human.build_training_data`, what DVC's training-data stage runs)."""
    import json

    from iacsieve.data.human import HumanSettings, build_training_data

    report = build_training_data(
        prepared.path,
        human.path,
        training.path,
        HumanSettings.from_dict(json.loads(settings_json), source="settings_json"),
    )
    training.metadata.update({k: report[k] for k in ("labels", "validation", "train_relabelled", "val_rows")})


def resolve(base: Input[Artifact], stage: int, point_json: str) -> str:
    """One grid point's run settings on top of the previous stage's winner/champion
    (`iacsieve.method.grid.resolve_from_base`); the JSON is the train task's only setting input."""
    import json

    from iacsieve.method.grid import read_base, resolve_from_base

    return json.dumps(
        resolve_from_base(stage, json.loads(point_json), read_base(base.path)).to_dict(), sort_keys=True
    )


def train(
    data: Input[Dataset], config_json: str, stage: int, run: Output[Model], scores: Output[Artifact]
) -> None:
    """Train one run (`iacsieve.steps.train.train`) from its resolved settings, named by them."""
    import json
    from pathlib import Path

    from iacsieve.core.run_config import TrainConfig
    from iacsieve.kfp.runtime import publish_scores
    from iacsieve.method.grid import run_name
    from iacsieve.steps.train import train as train_run

    config = TrainConfig.from_dict(json.loads(config_json), where="config_json")
    name = run_name(stage, config)
    timings: dict = {}
    run_dir = train_run(config, data.path, Path(run.path) / name, name=name, timings=timings)
    publish_scores(run_dir, scores.path, run_uri=run.uri)
    run.metadata.update({"run": name, "family": config.family, "stage": stage})
    scores.metadata.update({"run": name, "family": config.family, "stage": stage, **timings})


def threshold_sweep(
    scores: Input[Artifact],
    start: float,
    stop: float,
    step: float,
    sweep: Output[Artifact],
    metrics: Output[Metrics],
) -> None:
    """Sweep the decision threshold on validation scores (`iacsieve.steps.threshold.sweep_threshold`)."""
    from pathlib import Path

    from iacsieve.core.layout import VAL_SCORES
    from iacsieve.steps.threshold import sweep_threshold

    result = sweep_threshold(Path(scores.path) / VAL_SCORES, sweep.path, start, stop, step)
    metrics.log_metric("best_threshold", result["best_threshold"])
    metrics.log_metric("val_f1_at_best", result["best_f1"])


def evaluate(
    scores: Input[Artifact],
    rule: str,
    bootstrap_samples: int,
    bootstrap_seed: int,
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
    sweep: Input[Artifact] | None = None,
    champion: Input[Artifact] | None = None,
) -> None:
    """Evaluate one run under a decision rule on val + every test set (`iacsieve.steps.evaluate.evaluate`)."""
    from iacsieve.kfp.runtime import carry_run_ref, champion_file, log_headline
    from iacsieve.steps.evaluate import evaluate as evaluate_run

    summary = evaluate_run(
        scores.path,
        evaluation.path,
        rule=rule,
        sweep_file=sweep.path if sweep is not None else None,
        champion_file=champion_file(champion.path) if champion is not None else None,
        bootstrap_samples=bootstrap_samples,
        bootstrap_seed=bootstrap_seed,
    )
    carry_run_ref(scores.path, evaluation.path)
    log_headline(metrics, summary)


def select(
    evaluations: Input[list[Artifact]],
    mode: str,
    stage: str,
    selection: Output[Artifact],
    metrics: Output[Metrics],
) -> NamedTuple("Selected", [("run_uri", str), ("run", str)]):  # type: ignore[valid-type]  # KFP reads this form
    """Rank the stage's evaluated runs by validation metrics and pick one (`iacsieve.steps.selection.select_runs`);
    returns the chosen run's artifact URI, so freeze downloads that run only."""
    from collections import namedtuple

    from iacsieve.kfp.runtime import chosen_run_uri, log_headline
    from iacsieve.steps.selection import select_runs

    result = select_runs([e.path for e in evaluations], selection.path, mode=mode, stage=stage)
    chosen = result["selected"]
    selection.metadata.update({"run": chosen["run"], "mode": mode, "stage": stage})
    log_headline(metrics, chosen)
    return namedtuple("Selected", ["run_uri", "run"])(chosen_run_uri(chosen), chosen["run"])  # type: ignore[call-arg]


def freeze(
    selection: Input[Artifact],
    run: Input[Model],
    data: Input[Dataset],
    champion: Output[Model],
    card: Output[Artifact],
    metrics: Output[Metrics],
) -> None:
    """Freeze the selected run as the champion (`iacsieve.steps.freeze.freeze`); `card` is its
    champion.json alone (what stage 4 and a report read: no weights)."""
    import shutil
    from pathlib import Path

    from iacsieve.core.layout import CHAMPION_FILE, SELECTION_FILE
    from iacsieve.kfp.runtime import log_headline
    from iacsieve.steps.freeze import freeze as freeze_run
    from iacsieve.steps.freeze import load_champion

    freeze_run(Path(selection.path) / SELECTION_FILE, champion.path, data.path, run_dir=run.path)
    Path(card.path).mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(champion.path) / CHAMPION_FILE, Path(card.path) / CHAMPION_FILE)
    info = load_champion(champion.path)
    champion.metadata.update(
        {k: info[k] for k in ("run", "family", "threshold", "threshold_source", "data_md5")}
    )
    log_headline(metrics, info)
