"""The step components' functions: thin, typed wrappers over the library's steps.

KFP copies each function's source into its container command, so every body imports what it
uses; `iacsieve` is installed in the image (docker/Dockerfile) and in the venv kfp.local runs in.
No step logic lives here: each body maps typed artifacts to paths and calls one library function.
(No `from __future__ import annotations`: KFP reads the annotations as real types.)
"""

from typing import List, Optional

from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def prepare(raw: Input[Dataset], prepared: Output[Dataset], skip_invalid: bool = False):
    """Validate + normalise the raw splits into the prepared layout (`iacsieve.data.prepare`)."""
    from iacsieve.data import prepare as prepare_data

    stats = prepare_data(raw.path, prepared.path, skip_invalid=skip_invalid)
    prepared.metadata["rows"] = {split: stats[split]["combined"]["total"] for split in ("train", "val", "test")}


def train(data: Input[Dataset], params_json: str, profile: str, stage: int, point_json: str,
          run: Output[Model], previous: Optional[Input[Artifact]] = None):
    """Train one grid point (`iacsieve.steps.train.train`), its settings resolved and its run named as DVC does.

    `previous`: the previous stage's selection (stages 2-3) or the stage-3 champion (stage 4).
    """
    import json
    from pathlib import Path

    from iacsieve.kfp.runtime import params_from_json, read_previous
    from iacsieve.method.params import resolve_run_config, run_dir_name
    from iacsieve.steps.train import train as train_run

    point = json.loads(point_json)
    config = resolve_run_config(params_from_json(params_json, profile), stage, point, read_previous(previous))
    train_run(config, data.path, Path(run.path) / run_dir_name(stage, point))
    run.metadata.update({"run": run_dir_name(stage, point), "family": config.family, "stage": stage})


def threshold_sweep(run: Input[Model], start: float, stop: float, step: float,
                    sweep: Output[Artifact], metrics: Output[Metrics]):
    """Sweep the decision threshold on validation scores (`iacsieve.steps.threshold.sweep_threshold`)."""
    from iacsieve.kfp.runtime import run_dir_in
    from iacsieve.steps.threshold import sweep_threshold

    result = sweep_threshold(run_dir_in(run.path) / "val_scores.jsonl", sweep.path, start, stop, step)
    metrics.log_metric("best_threshold", result["best_threshold"])
    metrics.log_metric("val_f1_at_best", result["best_f1"])


def evaluate(run: Input[Model], rule: str, bootstrap_samples: int, bootstrap_seed: int,
             evaluation: Output[Artifact], metrics: Output[Metrics],
             sweep: Optional[Input[Artifact]] = None, champion: Optional[Input[Model]] = None):
    """Evaluate one run under a decision rule on val + every test set (`iacsieve.steps.evaluate.evaluate`)."""
    from pathlib import Path

    from iacsieve.kfp.runtime import log_headline, run_dir_in
    from iacsieve.steps.evaluate import evaluate as evaluate_run
    from iacsieve.steps.freeze import CHAMPION_FILE

    summary = evaluate_run(
        run_dir_in(run.path), evaluation.path, rule=rule,
        sweep_file=sweep.path if sweep is not None else None,
        champion_file=Path(champion.path) / CHAMPION_FILE if champion is not None else None,
        bootstrap_samples=bootstrap_samples, bootstrap_seed=bootstrap_seed,
    )
    log_headline(metrics, summary)


def select(evaluations: Input[List[Artifact]], mode: str, stage: str,
           selection: Output[Artifact], metrics: Output[Metrics]):
    """Rank the stage's evaluated runs by validation metrics and pick one (`iacsieve.steps.selection.select_runs`)."""
    from iacsieve.kfp.runtime import log_headline
    from iacsieve.steps.selection import select_runs

    result = select_runs([e.path for e in evaluations], selection.path, mode=mode, stage=stage)
    selection.metadata.update({"run": result["selected"]["run"], "mode": mode, "stage": stage})
    log_headline(metrics, result["selected"])


def freeze(selection: Input[Artifact], runs: Input[List[Model]], data: Input[Dataset],
           champion: Output[Model], metrics: Output[Metrics]):
    """Freeze the selected run as the champion (`iacsieve.steps.freeze.freeze`).

    `runs` is here so the cluster's launcher downloads the stage's run dirs into this pod: the
    selection names the chosen one by the path the evaluate task saw, which is the same path here.
    """
    from iacsieve.kfp.runtime import check_selected_run, log_headline, selection_file
    from iacsieve.steps.freeze import freeze as freeze_run, load_champion

    check_selected_run(selection_file(selection.path), [r.path for r in runs])
    freeze_run(selection_file(selection.path), champion.path, data.path)
    info = load_champion(champion.path)
    champion.metadata.update({k: info[k] for k in ("run", "family", "threshold", "threshold_source", "data_md5")})
    log_headline(metrics, info)
