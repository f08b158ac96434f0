"""The commands dvc.yaml calls: one run of a stage, a stage's selection, a stage's freeze.

Composition only: the work is done by the step functions (`train`, `sweep_threshold`, `evaluate`,
`select_runs`, `freeze`) and the recipe comes from the stage plan (`iacsieve.method.plan`): which
decision rule, whether runs sweep, what a run builds on, how the stage selects. Every file name
comes from `iacsieve.core.layout`. Outputs that DVC hashes hold no wall time, temp path or timestamp;
timings go to `reports/timings/` (no stage depends on them).
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

from iacsieve.core import layout
from iacsieve.core.artifacts import RUN_SUMMARY, STAGE_METRICS, read_artifact, write_artifact
from iacsieve.core.errors import IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.io.atomic import atomic_directory, atomic_write_json
from iacsieve.method.grid import read_base, resolve_run_config, run_name, stage_runs
from iacsieve.method.params import Params
from iacsieve.method.plan import PLAN, StagePlan, champion_dir, stage_plan
from iacsieve.steps.evaluate import evaluate
from iacsieve.steps.freeze import freeze
from iacsieve.steps.metrics import headline
from iacsieve.steps.selection import select_runs
from iacsieve.steps.threshold import sweep_threshold
from iacsieve.steps.train import train

log = logging.getLogger(__name__)


def base_file(plan: StagePlan, root: str | Path = ".") -> Path | None:
    """The file a stage's runs build on: the previous stage's winner.json or champion.json."""
    if plan.previous is None:
        return None
    if plan.builds_on == "winner":
        return layout.selection_dir(plan.previous, root) / layout.WINNER_FILE
    if plan.builds_on == "champion":
        return champion_dir(plan.previous, root) / layout.CHAMPION_FILE
    return None


def load_base(plan: StagePlan, root: str | Path = ".") -> dict | None:
    path = base_file(plan, root)
    if path is None:
        return None
    return read_base(path, hint=f"run stage {plan.previous} first (dvc repro)")


def run_one(
    params: Params,
    stage: int,
    config: TrainConfig,
    run_dir: str | Path,
    results_dir: str | Path,
    *,
    prepared: str | Path | None = None,
    champion_file: str | Path | None = None,
    timings_file: str | Path | None = None,
) -> dict:
    """Train one run, sweep its threshold if the plan says so, evaluate it under the plan's rule."""
    plan = stage_plan(stage)
    run_dir, results_dir = Path(run_dir), Path(results_dir)
    t0 = time.perf_counter()
    with atomic_directory(run_dir) as tmp:  # train + sweep published together
        train(config, prepared if prepared is not None else layout.TRAINING_DIR, tmp, name=run_dir.name)
        if plan.sweeps:
            s = params.threshold_sweep
            sweep_threshold(tmp / layout.VAL_SCORES, tmp / layout.SWEEP_FILE, s.start, s.stop, s.step)
    t1 = time.perf_counter()
    with atomic_directory(results_dir) as tmp_results:
        summary = evaluate(
            run_dir,
            tmp_results,
            rule=plan.decision_rule,
            sweep_file=run_dir / layout.SWEEP_FILE if plan.evaluate_consumes == "sweep" else None,
            champion_file=champion_file if plan.evaluate_consumes == "champion" else None,
            bootstrap_samples=params.evaluation.bootstrap_samples,
            bootstrap_seed=params.evaluation.bootstrap_seed,
        )
    if timings_file is not None:
        atomic_write_json(
            timings_file,
            {
                "stage": stage,
                "run": run_dir.name,
                "family": config.family,
                "train_and_sweep_s": round(t1 - t0, 3),
                "evaluate_s": round(time.perf_counter() - t1, 3),
            },
        )
    return summary


def stage_run(params: Params, stage: int, point: dict | None = None, *, root: str | Path = ".") -> list[dict]:
    """DVC's `iacsieve stage-run`: one grid point (stages whose grid names every value: dvc.yaml's
    matrix gives it) or every point (stages that build on the previous stage's output)."""
    plan = stage_plan(stage)
    base = load_base(plan, root)
    if plan.builds_on == "nothing":
        if not point:
            raise IacsieveError(
                f"stage {stage} runs one grid point: give its values (--family, --learning-rate, ...)"
            )
        config = resolve_run_config(params, stage, point, base)
        runs = [(run_name(stage, config), config)]
    else:
        if point:
            raise IacsieveError(
                f"stage {stage} runs its whole grid (it builds on the stage-{plan.previous} "
                f"{plan.builds_on}); give no grid values"
            )
        runs = stage_runs(params, stage, base)
    champion = base_file(plan, root) if plan.evaluate_consumes == "champion" else None
    summaries = []
    for i, (name, config) in enumerate(runs, start=1):
        print(f"stage {stage}: run {i}/{len(runs)}: {name}", flush=True)
        summary = run_one(
            params,
            stage,
            config,
            layout.experiments_dir(stage, root) / name,
            layout.results_dir(stage, root) / name,
            prepared=Path(root) / layout.TRAINING_DIR,
            champion_file=champion,
            timings_file=layout.timings_file(stage, name, root),
        )
        test = summary["test"]
        print(
            f"  threshold {summary['threshold']:.2f}, val F1 {summary['val']['f1']:.3f}, test F1 "
            f"{test['combined']['f1']:.3f} (ansible {test['ansible']['f1']:.3f}, chef {test['chef']['f1']:.3f}, "
            f"puppet {test['puppet']['f1']:.3f})",
            flush=True,
        )
        summaries.append(summary)
    return summaries


def current_run_names(params: Params, stage: int, root: str | Path = ".") -> list[str]:
    """The stage's CURRENT grid's run names (select reads only these, never stale dirs)."""
    return [name for name, _ in stage_runs(params, stage, load_base(stage_plan(stage), root))]


def select_stage(params: Params, stage: int, *, root: str | Path = ".") -> dict:
    """DVC's `iacsieve stage-select`: rank the current grid's runs by the plan's mode; write the
    selection (selection.json, winner.json, ranking.csv/md) and the stage's metrics.json."""
    plan = stage_plan(stage)
    dirs = [layout.results_dir(stage, root) / name for name in current_run_names(params, stage, root)]
    missing = [d for d in dirs if not (d / layout.SUMMARY_FILE).is_file()]
    if missing:
        raise IacsieveError(
            f"{missing[0] / layout.SUMMARY_FILE}: not found; stage {stage} has unfinished runs"
        )
    out_dir = layout.selection_dir(stage, root)
    selection = select_runs(dirs, out_dir, mode=plan.selection_mode, stage=f"stage{stage}")
    write_artifact(STAGE_METRICS, out_dir / layout.METRICS_FILE, stage_metrics(stage, selection))
    return selection


def freeze_stage(params: Params, stage: int, *, root: str | Path = ".") -> Path:
    """DVC's `iacsieve stage-freeze`: freeze the stage's selected run (stages whose plan freezes)."""
    plan = stage_plan(stage)
    if not plan.freezes:
        raise IacsieveError(
            f"stage {stage} does not freeze a champion (the plan freezes stages "
            f"{', '.join(str(n) for n, p in PLAN.items() if p.freezes)})"
        )
    return freeze(
        layout.selection_dir(stage, root) / layout.SELECTION_FILE,
        champion_dir(stage, root),
        Path(root) / layout.TRAINING_DIR,
    )


def stage_metrics(stage: int, selection: dict) -> dict:
    """The small, diffable metrics JSON of a stage (what `dvc metrics diff` shows): the chosen run's
    headline numbers and, over several runs, the spread of val and test F1."""
    chosen = selection["selected"]
    runs = selection["runs"]
    summary = read_artifact(
        RUN_SUMMARY, Path(chosen["results_dir"]) / layout.SUMMARY_FILE, needs=["val", "test"]
    )
    metrics = headline(chosen["threshold"], summary["val"], summary["test"].get("combined"))
    if len(runs) > 1:
        metrics["val_f1_std"] = statistics.stdev(r["val_f1"] for r in runs)
        metrics["test_f1_std"] = statistics.stdev(r["test"]["combined"]["f1"] for r in runs)
    return metrics
