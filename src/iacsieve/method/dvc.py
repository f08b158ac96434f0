"""One DVC run of a stage (train -> threshold sweep -> evaluate) and a stage's selection.

Composition only: the work is done by the step functions (`train`, `sweep_threshold`, `evaluate`,
`select_runs`); this module decides which config a grid point means (`resolve_run_config`), which
decision rule the stage uses, and publishes each run directory atomically, so a run killed half-way
leaves no directory that looks complete (and DVC, which has no lock entry for it, reruns it).
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

from iacsieve.atomic import atomic_directory, atomic_write_json
from iacsieve.method.params import BEST, Params, resolve_run_config, stage_run_dirs
from iacsieve.errors import IacsieveError
from iacsieve.steps.evaluate import SUMMARY_FILE, evaluate
from iacsieve.steps.freeze import load_champion
from iacsieve.steps.metrics import read_json_object
from iacsieve.steps.selection import select_runs
from iacsieve.steps.threshold import SWEEP_FILE, sweep_threshold
from iacsieve.steps.train import train

log = logging.getLogger(__name__)

TIMING_FILE = "timing.json"
METRICS_FILE = "metrics.json"
SELECTION_MODES: dict[int, str] = {1: "best", 2: "best", 3: "best", 4: "median"}


def experiments_dir(stage: int, root: str | Path = "models/experiments") -> Path:
    return Path(root) / f"stage{stage}"


def results_root(stage: int, root: str | Path = "results") -> Path:
    return Path(root) / f"stage{stage}"


def selection_dir(stage: int, root: str | Path = "results") -> Path:
    """Where a stage's selection lives: outside `results/stageN/`, which its select stage reads as a dep."""
    return Path(root) / "selection" / f"stage{stage}"


def progress_line(params: Params, stage: int, name: str, results: str | Path) -> str:
    """`stage 1: run 2/3 (1 done): <name>` — one line per run, never a flood."""
    names = stage_run_dirs(params, stage)
    done = sum((Path(results) / n / SUMMARY_FILE).is_file() for n in names if n != name)
    index = f"{names.index(name) + 1}/{len(names)}" if name in names else f"?/{len(names)}"
    return f"stage {stage}: run {index} ({done} done): {name}"


def stage_run(
    params: Params,
    stage: int,
    point: dict,
    run_dir: str | Path,
    results_dir: str | Path,
    *,
    previous: str | Path | None = None,
    champion: str | Path | None = None,
) -> dict:
    """Train one grid point of `stage`, sweep the threshold where the rule needs it, evaluate.

    `previous` is the previous stage's selection.json (stages 2-3); `champion` the stage-3
    champion.json (stage 4: its config, re-seeded, and its frozen threshold). Returns the
    evaluation summary; writes `<results_dir>/timing.json` for `make bench`.
    """
    rule = params.stage(stage).decision_rule
    prev = None
    if stage == 4 or rule == "frozen":
        if champion is None:
            raise IacsieveError(f"stage {stage} (rule {rule}) needs --champion (models/champions/stage3/champion.json)")
        prev = load_champion(champion)
    elif previous is not None:
        prev = read_json_object(previous, hint="run the previous stage first (dvc repro)")
    elif stage >= 2 and (stage == 3 or BEST in point.values()):
        raise IacsieveError(f"stage {stage} needs --previous (results/selection/stage{stage - 1}/selection.json)")
    config = resolve_run_config(params, stage, point, prev)
    run_dir, results_dir = Path(run_dir), Path(results_dir)
    started = time.time()

    t0 = time.perf_counter()
    with atomic_directory(run_dir) as tmp:  # train + sweep published together
        train(config, params.data.prepared, tmp)
        train_s = time.perf_counter() - t0
        if rule in ("threshold", "frozen"):  # stage 3 picks it; stage 4 keeps the curve for plots
            sweep = params.threshold_sweep
            sweep_threshold(tmp / "val_scores.jsonl", tmp / SWEEP_FILE, sweep.start, sweep.stop, sweep.step)
    sweep_s = time.perf_counter() - t0 - train_s

    t1 = time.perf_counter()
    with atomic_directory(results_dir) as tmp_results:
        summary = evaluate(
            run_dir, tmp_results, rule=rule,
            sweep_file=run_dir / SWEEP_FILE if rule == "threshold" else None,
            champion_file=champion if rule == "frozen" else None,
            bootstrap_samples=params.evaluation.bootstrap_samples,
            bootstrap_seed=params.evaluation.bootstrap_seed,
        )
        evaluate_s = time.perf_counter() - t1
        atomic_write_json(tmp_results / TIMING_FILE, {
            "stage": stage, "run": run_dir.name, "family": config.family, "started": round(started, 3),
            "train_s": round(train_s, 3), "sweep_s": round(sweep_s, 3), "evaluate_s": round(evaluate_s, 3),
            "total_s": round(time.time() - started, 3),
        })
    return summary


def select_stage(params: Params, stage: int, *, results: str | Path = "results",
                 out_dir: str | Path | None = None) -> dict:
    """Select among the stage's CURRENT grid runs only (stale dirs of removed runs are ignored).

    Writes `selection.json`, `ranking.csv`, `ranking.md` (via `select_runs`) and `metrics.json`
    (the DVC metrics of the stage: best run, val/test F1, FP reduction, TP retention; stage 4 adds
    mean +- std over seeds).
    """
    root = results_root(stage, results)
    dirs = [root / name for name in stage_run_dirs(params, stage)]
    missing = [d for d in dirs if not (d / SUMMARY_FILE).is_file()]
    if missing:
        raise IacsieveError(f"{missing[0] / SUMMARY_FILE}: not found; stage {stage} has unfinished runs")
    out_dir = Path(out_dir) if out_dir is not None else selection_dir(stage, results)
    selection = select_runs(dirs, out_dir, mode=SELECTION_MODES[stage], stage=f"stage{stage}")
    atomic_write_json(out_dir / METRICS_FILE, stage_metrics(stage, selection))
    return selection


def stage_metrics(stage: int, selection: dict) -> dict:
    """The small, diffable metrics JSON of a stage (what `dvc metrics diff` shows)."""
    chosen = selection["selected"]
    runs = selection["runs"]
    summary = read_json_object(Path(chosen["results_dir"]) / SUMMARY_FILE)
    val = summary["val"]
    metrics: dict = {
        "stage": stage,
        "n_runs": len(runs),
        "selected_run": chosen["run"],
        "family": chosen["family"],
        "threshold": chosen["threshold"],
        "val": _headline(val),
        "test": {name: _headline(m) for name, m in summary["test"].items()},
    }
    if len(runs) > 1:
        val_f1 = [r["val_f1"] for r in runs]
        test_f1 = [r["test"]["combined"]["f1"] for r in runs]
        metrics["spread"] = {
            "val_f1_mean": statistics.fmean(val_f1), "val_f1_std": statistics.stdev(val_f1),
            "test_f1_mean": statistics.fmean(test_f1), "test_f1_std": statistics.stdev(test_f1),
        }
    return metrics


def _headline(m: dict) -> dict:
    ci = m.get("f1_ci95") or {}
    return {"f1": m["f1"], "precision": m["precision"], "recall": m["recall"],
            "fp_reduction": m["fp_reduction"], "tp_retention": m["tp_retention"],
            "f1_ci95_lo": ci.get("lo"), "f1_ci95_hi": ci.get("hi")}
