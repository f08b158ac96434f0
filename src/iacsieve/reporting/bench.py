"""`make bench`: the local pipeline's stage timings and the champion's numbers beside the published ones.

Reads what `make repro` wrote (results/stageN/<run>/timing.json, results/selection/, models/champion);
trains nothing. Then runs the filter benchmark (`iacsieve.bench_filter`) on the champion, if present.

    python -m iacsieve.reporting.bench [--results results] [--champion models/champion] [--json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import TEST_SETS
from iacsieve.method.dvc import current_run_names
from iacsieve.method.params import Params, load_params
from iacsieve.method.plan import STAGES
from iacsieve.reporting.report import PUBLISHED, ReportData, champion_sets, collect_report, seed_spread


def stage_run_dirs(params: Params, stage: int) -> list[str]:
    """The stage's current grid's run names; none when an earlier stage (its winner) is not there yet."""
    try:
        return current_run_names(params, stage)
    except IacsieveError:
        return []


def stage_timings(params: Params, results: str | Path = layout.RESULTS_DIR) -> dict[int, dict]:
    """Per stage: runs, summed and slowest run time, per-run train seconds (from reports/timings/)."""
    out: dict[int, dict] = {}
    for stage in STAGES:
        runs = {}
        for name in stage_run_dirs(params, stage):
            path = layout.timings_file(stage, name, Path(results).parent)  # reports/timings/stageN/<run>.json
            if path.is_file():
                t = json.loads(path.read_text(encoding="utf-8"))
                train_s = float(t.get("train_and_sweep_s", 0.0))
                runs[name] = {
                    "family": t.get("family"),
                    "train_s": train_s,
                    "total_s": round(train_s + float(t.get("evaluate_s", 0.0)), 3),
                }
        totals = [r["total_s"] for r in runs.values()]
        out[stage] = {
            "runs": len(runs),
            "grid": len(stage_run_dirs(params, stage)),
            "total_s": round(sum(totals), 1),
            "slowest_s": round(max(totals), 1) if totals else None,
            "per_run": {
                n: {"family": r.get("family"), "train_s": r["train_s"], "total_s": r["total_s"]}
                for n, r in runs.items()
            },
        }
    return out


def bench(
    results: str | Path = layout.RESULTS_DIR,
    champion: str | Path = layout.CHAMPION_DIR,
    params_file: str | Path = layout.PARAMS_FILE,
    *,
    filter_bench: bool = True,
) -> dict:
    """Everything `make bench` prints, as one dict."""
    params = load_params(params_file)
    data = collect_report(results, champion, params=params)
    out = {
        "profile": params.profile,
        "timings": stage_timings(params, results),
        "champion": champion_card(data) if data.champion else None,
        "published": PUBLISHED,
        "operating_points": data.tradeoff,
        "learning_curve": data.learning_curve,
    }
    if filter_bench and data.champion is not None:
        try:
            module = importlib.import_module("iacsieve.reporting.bench_filter")
        except ImportError:
            module = None
        if module is not None and hasattr(module, "run_filter_benchmark"):
            from iacsieve.reporting import bench_targets

            targets = bench_targets.measure(champion, scale=False)  # issue 28's targets, fresh processes
            out["filter_startup"] = module.run_startup_benchmark(champion)
            out["filter"] = module.run_filter_benchmark(champion)
            scales: list[dict] = module.run_scale_benchmarks(champion)
            out["filter_scale"] = scales
            by_rows = {run["rows"]: run for run in scales}  # the targets' 400k and 2M rows
            if 400_000 in by_rows:
                targets["rows_per_s_400k"] = by_rows[400_000]["rows_per_s"]
            if 2_000_000 in by_rows:
                targets["rss_mb_2m"] = by_rows[2_000_000]["peak_rss_mb"]
            out["filter_targets"] = targets
            out["filter_no_evidence"] = module.run_filter_benchmark(champion, evidence=False)
            out["filter_scale_no_evidence"] = module.run_scale_benchmark(champion, evidence=False)
            # The encoders of stage 1, for their throughput (argmax rule: threshold 0.5).
            out["filter_encoders"] = [
                module.run_filter_benchmark(model, threshold=0.5, repeats=3)
                for model in sorted(layout.experiments_dir(STAGES[0]).glob(f"tiny-*/{layout.MODEL_DIR}"))
            ]
    return out


def champion_card(data: ReportData) -> dict:
    """The champion as the bench prints it: name, threshold, metrics per set, seed spread."""
    card = data.champion or {}
    out = {
        "run": card.get("run"),
        "family": card.get("family"),
        "threshold": card.get("threshold"),
        "sets": champion_sets(data),
    }
    stage4 = data.stages.get(4, [])
    if len(stage4) > 1:
        spread = seed_spread(stage4)
        out["seeds"] = {
            "n": spread["n"],
            "val_f1_mean": spread["val_f1"][0],
            "val_f1_std": spread["val_f1"][1],
            "test_f1_mean": spread["test_f1_combined"][0],
            "test_f1_std": spread["test_f1_combined"][1],
        }
    return out


def format_bench(result: dict) -> str:
    """`make bench`'s text: timings, the champion's numbers, the published ones, the extras measured."""
    lines = _timing_lines(result)
    champ = result.get("champion")
    lines.append("")
    if not champ:
        lines.append("no champion yet: run `make repro`")
        return "\n".join(lines)
    lines += _champion_lines(champ) + _published_lines(result) + _extra_lines(result)
    return "\n".join(lines)


def _timing_lines(result: dict) -> list[str]:
    lines = [
        f"== local pipeline timings (profile {result['profile']}; seconds per run, from reports/timings) =="
    ]
    grand = 0.0
    for stage, t in result["timings"].items():
        grand += t["total_s"]
        lines.append(
            f"stage {stage}: {t['runs']}/{t['grid']} runs, {t['total_s']:.1f}s in runs, "
            f"slowest {t['slowest_s'] if t['slowest_s'] is not None else '—'}s"
        )
        for name, r in t["per_run"].items():
            lines.append(
                f"    {name:<44} {r['family']:<13} train {r['train_s']:7.1f}s  total {r['total_s']:7.1f}s"
            )
    lines.append(f"all runs: {grand:.1f}s (plus DVC/process start-up, select, freeze, report, plots)")
    return lines


def _champion_lines(champ: dict) -> list[str]:
    lines = [f"== champion {champ['run']} ({champ['family']}), threshold {champ['threshold']:.2f} =="]
    lines.append(f"{'set':<10}{'F1':>7}  {'95% CI':<16}{'FP red.':>8}{'TP ret.':>8}")
    for name in ("val", *TEST_SETS):
        m = champ["sets"].get(name)
        if not m:
            continue
        interval = m.get("f1_ci95") or {}
        ci = f"[{interval['lo']:.3f}, {interval['hi']:.3f}]" if interval.get("lo") is not None else "—"
        fp, tp = m.get("fp_reduction"), m.get("tp_retention")
        lines.append(
            f"{name:<10}{m['f1']:>7.3f}  {ci:<16}" + (f"{fp:>8.3f}{tp:>8.3f}" if fp is not None else "")
        )
    seeds = champ.get("seeds")
    if seeds:
        lines.append(
            f"stage 4, {seeds['n']} seeds: val F1 {seeds['val_f1_mean']:.3f} ± {seeds['val_f1_std']:.3f}, "
            f"test F1 {seeds['test_f1_mean']:.3f} ± {seeds['test_f1_std']:.3f}"
        )
    return lines


def _published_lines(result: dict) -> list[str]:
    pub = result["published"]
    lines = ["", f"== published ({pub['source']}) =="]
    for model, f1 in pub["model_f1"].items():
        std = pub["model_f1_std"].get(model)
        lines.append(f"    {model:<42} test F1 {f1:.3f}" + (f" ± {std:.3f}" if std else ""))
    lines.append(
        "    GLITCH + published filter, end to end: "
        + ", ".join(f"{k} {v:.3f}" for k, v in pub["glitch_filtered_f1"].items())
    )
    return lines


def _extra_lines(result: dict) -> list[str]:
    """Operating points, the learning curve and the filter's throughput, where measured."""
    lines = []
    for p in result.get("operating_points") or []:
        lines.append(
            f"operating point {p['rule']:<26} threshold {p['threshold']:.3f}: val FP red. {p['val_fp_reduction']:.3f} "
            f"TP ret. {p['val_tp_retention']:.3f} | test FP red. {p['test_fp_reduction']:.3f} "
            f"TP ret. {p['test_tp_retention']:.3f}"
        )
    curve = result.get("learning_curve")
    if curve:
        lines += [
            "",
            "== learning curve (report only: cross-fitted on the human test split, not a headline) ==",
        ]
        lines += [
            f"    {p['strategy']:<12} {p['n_labels']:>4} human labels: F1 {p['f1']:.3f} ± {p['f1_fold_std']:.3f}"
            for p in curve["points"]
        ]
    return lines + _filter_lines(result)


def _filter_lines(result: dict) -> list[str]:
    """The filter's weight against its targets and its throughput, where measured."""
    lines: list[str] = []
    f = result.get("filter")
    if f:
        lines += [
            "",
            f"== filter on the GLITCH Puppet fixture: {f['warnings_per_s']:.1f} warnings/s "
            f"(median of {f['repeats']}, first load incl. imports {f['load_s']:.2f}s), drops {f['dropped_scored']}/{f['scored']} "
            f"scored warnings ==",
        ]
    if result.get("filter_targets"):
        from iacsieve.reporting.bench_targets import format_targets

        lines += ["", "== the filter's weight beside its targets (fresh processes; CPU s, peak RSS) =="]
        lines += [f"   {line}" for line in format_targets(result["filter_targets"])]
    if result.get("filter_startup"):
        from iacsieve.reporting.bench_filter import format_startup

        lines.append(f"   {format_startup(result['filter_startup'])}")
    if result.get("filter_scale"):
        from iacsieve.reporting.bench_filter import format_scale

        scales = result["filter_scale"]
        lines += [f"   {format_scale(s)}" for s in (scales if isinstance(scales, list) else [scales])]
        without = result.get("filter_scale_no_evidence")
        if without:
            from iacsieve.reporting.bench_filter import format_evidence_cost

            largest = [
                s for s in (scales if isinstance(scales, list) else [scales]) if s["rows"] == without["rows"]
            ]
            lines.append(f"   {format_scale(without)} [--no-evidence]")
            if largest:
                lines.append(f"   {format_evidence_cost(largest[-1], without)}")
    n = result.get("filter_no_evidence")
    if f and n:
        lines.append(
            f"   fixture without evidence (--no-evidence): {n['warnings_per_s']:.1f} warnings/s; with it: "
            f"{f['warnings_per_s']:.1f} warnings/s"
        )
    for e in result.get("filter_encoders") or []:
        lines.append(
            f"   stage-1 {e['family']:<13} {e['warnings_per_s']:8.1f} warnings/s (median of {e['repeats']}, "
            f"load {e['load_s']:.2f}s, threshold 0.5), drops {e['dropped_scored']}/{e['scored']}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iacsieve.reporting.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--results", default=layout.RESULTS_DIR, help="results root (default: %(default)s)")
    parser.add_argument(
        "--champion", default=layout.CHAMPION_DIR, help="champion folder (default: %(default)s)"
    )
    parser.add_argument("--params", default=layout.PARAMS_FILE, help="params file (default: %(default)s)")
    parser.add_argument("--no-filter", action="store_true", help="skip the filter throughput benchmark")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    try:
        result = bench(args.results, args.champion, args.params, filter_bench=not args.no_filter)
    except IacsieveError as exc:
        print(f"iacsieve.reporting.bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(result, indent=2, default=str) if args.json else format_bench(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
