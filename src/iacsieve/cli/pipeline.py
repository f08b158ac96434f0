"""`iacsieve stage-run | stage-select | stage-freeze | report | plots | params | where`: the DVC pipeline's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iacsieve.core import layout
from iacsieve.io.output_policy import check_file_output, check_folder_output
from iacsieve.io.overlap import refuse_overlap
from iacsieve.method.plan import PLAN, STAGES

FREEZING_STAGES: tuple[int, ...] = tuple(n for n, plan in PLAN.items() if plan.freezes)

_RAW = argparse.RawDescriptionHelpFormatter

CHAMPION_DIR = Path(layout.CHAMPION_DIR)
REPORT_FILE = Path(layout.REPORT_FILE)
PLOTS_DIR = Path(layout.PLOTS_DIR)


def register(sub: argparse._SubParsersAction) -> None:
    _register_stage_run(sub)
    _register_stage_select(sub)
    _register_stage_freeze(sub)
    _register_report(sub)
    _register_plots(sub)
    _register_params(sub)
    _register_where(sub)
    _register_repair_lock(sub)


def _params_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=layout.PARAMS_FILE, help="params file (default: %(default)s)")


# ----------------------------------------------------------------------------- stage-run


def _register_stage_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stage-run",
        help="train, sweep and evaluate a stage's run(s) (what dvc.yaml calls)",
        formatter_class=_RAW,
        description="Run a stage as the stage plan (iacsieve.method.plan) says. Stages whose grid names\n"
        "every value (1, 2) run ONE grid point, given by flags (dvc.yaml's matrix passes them);\n"
        "stages that build on the previous stage (3: its winner, 4: its champion) run their\n"
        "whole grid. Run settings: params.yaml defaults < families.<family> < the point, or the\n"
        "previous winner's/champion's settings < the point. Each run directory\n"
        "(models/experiments/stageN/<run>) and results directory is published atomically.",
        epilog="examples (what dvc.yaml runs):\n"
        "  iacsieve stage-run --stage 1 --family classical --learning-rate 0.001 --batch-size 16 \\\n"
        "      --epochs 10 --weight-decay 0\n"
        "  iacsieve stage-run --stage 3",
    )
    p.add_argument("--stage", type=int, choices=STAGES, required=True, help="stage number")
    p.add_argument("--family", help="model family (stages 1-2)")
    p.add_argument("--learning-rate", type=float, help="learning rate")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--epochs", type=int, help="max epochs")
    p.add_argument("--weight-decay", type=float, help="weight decay")
    _root_arg(p)
    _params_arg(p)
    p.set_defaults(func=_stage_run)


def _root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root", default=".", help="project root that holds models/, results/ (default: %(default)s)"
    )


def _stage_run(args: argparse.Namespace) -> int:
    from iacsieve.method.dvc import stage_run
    from iacsieve.method.params import load_params

    point = {
        key: value
        for key, value in (
            ("family", args.family),
            ("learning_rate", args.learning_rate),
            ("batch_size", args.batch_size),
            ("epochs", args.epochs),
            ("weight_decay", args.weight_decay),
        )
        if value is not None
    }
    stage_run(load_params(args.params), args.stage, point, root=args.root)
    return 0


# ----------------------------------------------------------------------------- stage-select / stage-freeze


def _register_stage_select(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stage-select",
        help="select a stage's winner among its current grid's runs",
        description="Rank the runs of the stage's CURRENT grid (results of runs removed from the grid are "
        "ignored) by validation F1 and write results/selection/stageN/: selection.json (the "
        "ranking), winner.json (the chosen run's settings, all the next stage reads), "
        "ranking.csv, ranking.md and metrics.json. The plan says best run or median seed.",
    )
    p.add_argument("--stage", type=int, choices=STAGES, required=True, help="stage number")
    _root_arg(p)
    _params_arg(p)
    p.set_defaults(func=_stage_select)


def _stage_select(args: argparse.Namespace) -> int:
    from iacsieve.method.dvc import select_stage
    from iacsieve.method.params import load_params

    selection = select_stage(load_params(args.params), args.stage, root=args.root)
    chosen = selection["selected"]
    print(
        f"stage {args.stage}: selected {chosen['run']} ({chosen['family']}, {selection['mode']} of "
        f"{len(selection['runs'])}): val F1 {chosen['val_f1']:.3f}, threshold {chosen['threshold']:.2f}"
    )
    return 0


def _register_stage_freeze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stage-freeze",
        help="freeze a stage's selected run as that stage's champion",
        description="Copy the stage's selected run (results/selection/stageN/selection.json) into its "
        "champion folder with champion.json (stage 3: models/champions/stage3, stage 4: "
        "models/champion), atomically.",
    )
    p.add_argument(
        "--stage",
        type=int,
        choices=FREEZING_STAGES,
        required=True,
        help="stage number (those the plan freezes)",
    )
    _root_arg(p)
    _params_arg(p)
    p.set_defaults(func=_stage_freeze)


def _stage_freeze(args: argparse.Namespace) -> int:
    from iacsieve.method.dvc import freeze_stage
    from iacsieve.method.params import load_params

    print(
        f"stage {args.stage}: champion in {freeze_stage(load_params(args.params), args.stage, root=args.root)}"
    )
    return 0


# ----------------------------------------------------------------------------- report / plots


def _register_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write reports/summary.md: every stage's runs, the champion, published figures",
        description="Write a Markdown report: one table per stage of every run (val F1, test F1 per set, "
        "FP reduction, wall time), the champion with 95%% bootstrap intervals, the stage-4 "
        "mean +- std over seeds, the published figures beside ours, and the ablation table "
        "if reports/ablation/ablation.md exists. Also writes the champion's DVC metrics file.",
    )
    p.add_argument("--results", default="results", help="results root (default: %(default)s)")
    p.add_argument(
        "--champion", default=str(CHAMPION_DIR), help="final champion folder (default: %(default)s)"
    )
    p.add_argument("--out", default=str(REPORT_FILE), help="report file (default: %(default)s)")
    p.add_argument(
        "--metrics",
        default=layout.REPORT_METRICS,
        help="champion metrics JSON for DVC (default: %(default)s; '' to skip)",
    )
    p.add_argument("--prefix", default="", help="only runs whose name starts with this prefix")
    p.add_argument(
        "--selection", help="a pulled stage-4 selection.json: the seed table of a cluster champion"
    )
    _cluster_arg(p)
    _params_arg(p)
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from iacsieve.method.params import load_params
    from iacsieve.reporting.report import write_report

    params = load_params(args.params) if Path(args.params).is_file() else None
    if args.cluster:
        args.champion, args.out, args.selection = (
            str(Path(layout.CLUSTER_CHAMPION_DIR)),
            str(Path(layout.CLUSTER_REPORTS_DIR) / "summary.md"),
            args.selection or str(Path(layout.CLUSTER_REPORTS_DIR) / layout.SELECTION_FILE),
        )
        args.metrics = ""  # pull-champion wrote it; the report only reads
    read = {"--results": args.results, "--champion": args.champion, "--params": args.params}
    check_file_output(args.out, inputs={"--params": args.params, "--champion": args.champion})
    refuse_overlap(args.out, read, inside_ok=True)  # a report file beside the results is fine
    if args.metrics:
        check_file_output(args.metrics, flag="--metrics", inputs={"--params": args.params, "--out": args.out})
        refuse_overlap(args.metrics, read, out_flag="--metrics", inside_ok=True)
    path = write_report(
        args.results,
        args.champion,
        args.out,
        prefix=args.prefix,
        params=params,
        metrics_file=args.metrics or None,
        selection=args.selection,
    )
    print(f"report: {path}")
    return 0


def _register_plots(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plots",
        help="render the champion's plots to PNG (offline, matplotlib)",
        description="Render PNGs: the stage-3 threshold sweep (F1 vs threshold, chosen one marked), the "
        "champion's precision-recall curves on val and test, its confusion matrix, and the "
        "stage-4 spread over seeds. Also writes the plot data (CSV/JSON) for `dvc plots`.",
    )
    p.add_argument("--results", default="results", help="results root (default: %(default)s)")
    p.add_argument(
        "--champion", default=str(CHAMPION_DIR), help="final champion folder (default: %(default)s)"
    )
    p.add_argument("--out", default=str(PLOTS_DIR), help="output folder (default: %(default)s)")
    p.add_argument(
        "--data",
        default=layout.PREPARED_DIR,
        help="prepared data, scored with the champion when its run dir is not here (default: %(default)s)",
    )
    p.add_argument(
        "--selection", help="stage-4 selection.json for the seed plot (default: the results root's)"
    )
    _cluster_arg(p)
    p.set_defaults(func=_plots)


def _cluster_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster",
        action="store_true",
        help=f"describe the champion pulled from a cluster ({Path(layout.CLUSTER_CHAMPION_DIR)}; output and inputs "
        f"under {Path(layout.CLUSTER_REPORTS_DIR)}/) instead of this repo's",
    )


def _plots(args: argparse.Namespace) -> int:
    from iacsieve.reporting.plots import render_plots

    if args.cluster:
        args.champion, args.out = (
            str(Path(layout.CLUSTER_CHAMPION_DIR)),
            str(Path(layout.CLUSTER_REPORTS_DIR) / "plots"),
        )
        args.selection = args.selection or str(Path(layout.CLUSTER_REPORTS_DIR) / layout.SELECTION_FILE)
    check_folder_output(
        args.out,
        inputs={"--champion": args.champion, "--data": args.data, "--selection": args.selection},
        replaces=False,
    )
    refuse_overlap(args.out, {"--results": args.results}, inside_ok=True)
    written = render_plots(args.results, args.champion, args.out, data=args.data, selection=args.selection)
    print(f"plots: {len(written)} files in {args.out}")
    return 0


# ----------------------------------------------------------------------------- params / where


def _register_params(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "params",
        help="check params.yaml and show each stage's runs",
        description="Validate params.yaml (a typo names its key path) and print each stage's "
        "run count for a profile: `local` (the top-level grids dvc repro runs) or "
        "a name under `profiles:` (KFP's, e.g. cluster). `make repro` runs it first.",
    )
    _params_arg(p)
    p.add_argument("--profile", help="profile to show (default: local, the grids dvc repro runs)")
    p.set_defaults(func=_params_check)


def _params_check(args: argparse.Namespace) -> int:
    from iacsieve.method.params import load_params

    params = load_params(args.params, profile=args.profile)
    sizes = ", ".join(f"stage{n} {len(params.stage(n).grid_points())} runs" for n in STAGES)
    print(f"{args.params}: ok; profile {params.profile}: {sizes}")
    return 0


def _register_where(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "where",
        help="print where the champion, report, metrics and plots are",
        description="Print the paths `make repro` produced (and whether each exists).",
    )
    p.add_argument(
        "--champion", default=str(CHAMPION_DIR), help="final champion folder (default: %(default)s)"
    )
    p.set_defaults(func=_where)


def _where(args: argparse.Namespace) -> int:
    import json

    champion = Path(args.champion)
    rows = [
        ("champion", champion),
        ("report", REPORT_FILE),
        ("metrics", Path(layout.REPORT_METRICS)),
        ("plots", PLOTS_DIR),
        ("stage selections", Path(layout.SELECTIONS_DIR)),
    ]
    for label, path in rows:
        print(f"{label + ':':<18}{path}{'' if path.exists() else '  (missing: run make repro)'}")
    card = champion / layout.CHAMPION_FILE
    if card.is_file():
        data = json.loads(card.read_text(encoding="utf-8"))
        test = data.get("test", {})
        print(
            f"champion {data.get('run')} ({data.get('family')}), threshold {data.get('threshold'):.2f}: "
            f"val F1 {data.get('val_f1', 0):.3f}, test F1 {test.get('combined', {}).get('f1', 0):.3f}"
        )
        print(f"filter with: iacsieve filter --model {champion} --detections FILE --scripts DIR --out FILE")
    return 0


def _register_repair_lock(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "repair-dvc-lock",
        help="remove an empty/corrupt .dvc/tmp/rwlock left by an interrupted dvc (DVC #7615)",
        description="When an interrupted `dvc` left .dvc/tmp/rwlock empty or half-written (every dvc "
        "command then fails) and no DVC process holds the repository, remove it and say so. "
        "`make repro` runs it before `dvc repro`; it does nothing when the file is fine.",
    )
    p.add_argument("--root", default=".", help="the DVC repository (default: %(default)s)")
    p.set_defaults(func=_repair_lock)


def _repair_lock(args: argparse.Namespace) -> int:
    from iacsieve.repo.dvc_lock import repair_rwlock

    message = repair_rwlock(args.root)
    if message:
        print(f"iacsieve: {message}", file=sys.stderr)
    return 0
