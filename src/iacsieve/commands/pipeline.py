"""`iacsieve stage-run | stage-select | report | plots | profile | where`: the DVC pipeline's commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..overlap import refuse_overlap

_RAW = argparse.RawDescriptionHelpFormatter
CHAMPION_DIR = Path("models/champion")
STAGE3_CHAMPION = Path("models/champions/stage3/champion.json")
REPORT_FILE = Path("reports/summary.md")
PLOTS_DIR = Path("reports/plots")


def register(sub: argparse._SubParsersAction) -> None:
    _register_stage_run(sub)
    _register_stage_select(sub)
    _register_report(sub)
    _register_plots(sub)
    _register_profile(sub)
    _register_where(sub)


def _params_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")


# ----------------------------------------------------------------------------- stage-run

def _best_or(kind: type):
    """A grid value from the command line: a number, or `best` (the previous stage's value)."""
    def parse(text: str):
        return text if text == "best" else kind(text)
    parse.__name__ = kind.__name__
    return parse


def _register_stage_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stage-run", help="one run of a stage: train -> threshold sweep -> evaluate (what dvc.yaml calls)",
        formatter_class=_RAW,
        description="Train one grid point of a stage, sweep the decision threshold where the stage's rule\n"
                    "needs it (stage 3+), and evaluate on val + every test set. Run settings: params.yaml's\n"
                    "defaults < families.<family> < the values given here; `best` takes the previous stage's\n"
                    "value (from --previous, or the stage-3 --champion in stage 4). The run directory and\n"
                    "the results directory are each published atomically.",
        epilog="example (what dvc.yaml's stage1 matrix runs):\n"
               "  iacsieve stage-run --stage 1 --family classical --learning-rate 0.0005 --batch-size 16 \\\n"
               "      --epochs 3 --weight-decay 0 --gradient-accumulation 1 --seed 42 \\\n"
               "      --run-dir models/experiments/stage1/classical_lr0.0005_bs16_ep3_wd0 \\\n"
               "      --results-dir results/stage1/classical_lr0.0005_bs16_ep3_wd0")
    p.add_argument("--stage", type=int, choices=(1, 2, 3, 4), required=True, help="stage number")
    p.add_argument("--family", help="model family, or `best` (stage 2)")
    p.add_argument("--learning-rate", type=_best_or(float), help="learning rate or `best`")
    p.add_argument("--batch-size", type=_best_or(int), help="batch size or `best`")
    p.add_argument("--epochs", type=_best_or(int), help="max epochs or `best`")
    p.add_argument("--weight-decay", type=_best_or(float), help="weight decay or `best`")
    p.add_argument("--gradient-accumulation", type=_best_or(int), help="gradient accumulation steps or `best`")
    p.add_argument("--seed", type=_best_or(int), help="random seed or `best`")
    p.add_argument("--run-dir", required=True, help="run directory to write (models/experiments/stageN/<run>)")
    p.add_argument("--results-dir", required=True, help="results directory to write (results/stageN/<run>)")
    p.add_argument("--previous", help="previous stage's selection.json (stages 2-3)")
    p.add_argument("--champion", help="stage-3 champion.json (stage 4, frozen threshold)")
    _params_arg(p)
    p.set_defaults(func=_stage_run)


def _stage_run(args: argparse.Namespace) -> int:
    from ..config import load_params
    from ..stage_run import progress_line, stage_run

    params = load_params(args.params)
    point = {key: value for key, value in (
        ("family", args.family), ("learning_rate", args.learning_rate), ("batch_size", args.batch_size),
        ("epochs", args.epochs), ("weight_decay", args.weight_decay),
        ("gradient_accumulation", args.gradient_accumulation), ("seed", args.seed),
    ) if value is not None}
    print(progress_line(params, args.stage, Path(args.run_dir).name, Path(args.results_dir).parent), flush=True)
    summary = stage_run(params, args.stage, point, args.run_dir, args.results_dir,
                        previous=args.previous, champion=args.champion)
    test = summary["test"]
    print(f"  {summary['family']} {Path(args.run_dir).name}: threshold {summary['threshold']:.2f}, "
          f"val F1 {summary['val']['f1']:.3f}, test F1 {test['combined']['f1']:.3f} "
          f"(ansible {test['ansible']['f1']:.3f}, chef {test['chef']['f1']:.3f}, puppet {test['puppet']['f1']:.3f})")
    return 0


# ----------------------------------------------------------------------------- stage-select

def _register_stage_select(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stage-select", help="select a stage's winner among its current grid's runs",
        description="Rank the runs of the stage's CURRENT grid (from params.yaml; results of runs removed "
                    "from the grid are ignored) by validation F1 and write results/selection/stageN/: "
                    "selection.json, ranking.csv, ranking.md and metrics.json. Stage 4 picks the "
                    "median-val-F1 seed, the others the best run.")
    p.add_argument("--stage", type=int, choices=(1, 2, 3, 4), required=True, help="stage number")
    p.add_argument("--results", default="results", help="results root (default: %(default)s)")
    p.add_argument("--out", help="output folder (default: <results>/selection/stageN)")
    _params_arg(p)
    p.set_defaults(func=_stage_select)


def _stage_select(args: argparse.Namespace) -> int:
    from ..config import load_params
    from ..stage_run import select_stage

    selection = select_stage(load_params(args.params), args.stage, results=args.results, out_dir=args.out)
    chosen = selection["selected"]
    print(f"stage {args.stage}: selected {chosen['run']} ({chosen['family']}, {selection['mode']} of "
          f"{len(selection['runs'])}): val F1 {chosen['val_f1']:.3f}, threshold {chosen['threshold']:.2f}")
    return 0


# ----------------------------------------------------------------------------- report / plots

def _register_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write reports/summary.md: every stage's runs, the champion, published figures",
        description="Write a Markdown report: one table per stage of every run (val F1, test F1 per set, "
                    "FP reduction, wall time), the champion with 95%% bootstrap intervals, the stage-4 "
                    "mean +- std over seeds, the published figures beside ours, and the ablation table "
                    "if reports/ablation/ablation.md exists. Also writes the champion's DVC metrics file.")
    p.add_argument("--results", default="results", help="results root (default: %(default)s)")
    p.add_argument("--champion", default=str(CHAMPION_DIR), help="final champion folder (default: %(default)s)")
    p.add_argument("--out", default=str(REPORT_FILE), help="report file (default: %(default)s)")
    p.add_argument("--metrics", default="reports/metrics.json",
                   help="champion metrics JSON for DVC (default: %(default)s; '' to skip)")
    p.add_argument("--prefix", default="", help="only runs whose name starts with this prefix")
    _params_arg(p)
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from ..config import load_params
    from ..report import write_report

    refuse_overlap(args.out, {"--results": args.results, "--champion": args.champion, "--params": args.params},
                   inside_ok=True)
    if args.metrics:
        refuse_overlap(args.metrics, {"--results": args.results, "--champion": args.champion}, out_flag="--metrics",
                       inside_ok=True)
    params = load_params(args.params) if Path(args.params).is_file() else None
    path = write_report(args.results, args.champion, args.out, prefix=args.prefix, params=params,
                        metrics_file=args.metrics or None)
    print(f"report: {path}")
    return 0


def _register_plots(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plots", help="render the champion's plots to PNG (offline, matplotlib)",
        description="Render PNGs: the stage-3 threshold sweep (F1 vs threshold, chosen one marked), the "
                    "champion's precision-recall curves on val and test, its confusion matrix, and the "
                    "stage-4 spread over seeds. Also writes the plot data (CSV/JSON) for `dvc plots`.")
    p.add_argument("--results", default="results", help="results root (default: %(default)s)")
    p.add_argument("--champion", default=str(CHAMPION_DIR), help="final champion folder (default: %(default)s)")
    p.add_argument("--out", default=str(PLOTS_DIR), help="output folder (default: %(default)s)")
    p.set_defaults(func=_plots)


def _plots(args: argparse.Namespace) -> int:
    from ..plots import render_plots

    refuse_overlap(args.out, {"--results": args.results, "--champion": args.champion}, inside_ok=True)
    written = render_plots(args.results, args.champion, args.out)
    print(f"plots: {len(written)} files in {args.out}")
    return 0


# ----------------------------------------------------------------------------- profile / where

def _register_profile(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="show or switch the active params profile (local | cluster)",
                       description="Profiles live under `profiles:` in params.yaml; the active one is copied "
                                   "to the top-level stage1..4 blocks that dvc.yaml reads.")
    psub = p.add_subparsers(dest="profile_command", metavar="<subcommand>", required=True)
    u = psub.add_parser("use", help="make profile NAME the active one (rewrites params.yaml's stage blocks)",
                        description="Copy profiles.NAME's stage grids over params.yaml's top-level stage1..4 "
                                    "and set `profile: NAME`; comments are kept. Then `dvc repro` runs it.")
    u.add_argument("name", metavar="NAME", help="profile name, e.g. local or cluster")
    _params_arg(u)
    u.set_defaults(func=_profile_use)
    s = psub.add_parser("show", help="print the active profile and each stage's run count",
                        description="Validate params.yaml and print the active profile's grid sizes.")
    _params_arg(s)
    s.add_argument("--profile", help="show this profile instead of the active blocks")
    s.set_defaults(func=_profile_show)


def _profile_use(args: argparse.Namespace) -> int:
    from ..config import use_profile

    params = use_profile(args.params, args.name)
    print(f"{args.params}: profile {params.profile} active; " + _grid_sizes(params))
    return 0


def _profile_show(args: argparse.Namespace) -> int:
    from ..config import load_params

    params = load_params(args.params, profile=args.profile)
    print(f"profile {params.profile}: " + _grid_sizes(params))
    return 0


def _grid_sizes(params) -> str:
    return ", ".join(f"stage{n} {len(params.stage(n).grid_points())} runs" for n in (1, 2, 3, 4))


def _register_where(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("where", help="print where the champion, report, metrics and plots are",
                       description="Print the paths `make repro` produced (and whether each exists).")
    p.add_argument("--champion", default=str(CHAMPION_DIR), help="final champion folder (default: %(default)s)")
    p.set_defaults(func=_where)


def _where(args: argparse.Namespace) -> int:
    import json

    champion = Path(args.champion)
    rows = [("champion", champion), ("report", REPORT_FILE), ("metrics", Path("reports/metrics.json")),
            ("plots", PLOTS_DIR), ("stage selections", Path("results/selection"))]
    for label, path in rows:
        print(f"{label + ':':<18}{path}{'' if path.exists() else '  (missing: run make repro)'}")
    card = champion / "champion.json"
    if card.is_file():
        data = json.loads(card.read_text(encoding="utf-8"))
        test = data.get("test", {})
        print(f"champion {data.get('run')} ({data.get('family')}), threshold {data.get('threshold'):.2f}: "
              f"val F1 {data.get('val_f1', 0):.3f}, test F1 {test.get('combined', {}).get('f1', 0):.3f}")
        print(f"filter with: iacsieve filter --model {champion} --detections FILE --scripts DIR --out FILE")
    return 0
