"""`iacsieve stage run | select | freeze --stage N`: the method's entry points, what dvc.yaml calls.

Each interprets the stage plan (iacsieve.method.plan) for one stage; the single steps they chain are
`iacsieve step ...` (iacsieve.cli.step).
"""

from __future__ import annotations

import argparse

from iacsieve.cli.project import params_arg
from iacsieve.core.run_config import TrainConfig
from iacsieve.core.settings import add_flags, given_flags
from iacsieve.method.plan import PLAN, RUN_LISTS, STAGES

FREEZING_STAGES: tuple[int, ...] = tuple(n for n, plan in PLAN.items() if plan.freezes)

_RAW = argparse.RawDescriptionHelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stage",
        help="run, select or freeze one stage of the method (what dvc.yaml calls)",
        description="The four-stage method's entry points: `run` trains, sweeps and evaluates a stage's "
        "run(s), `select` picks its winner, `freeze` makes the selected run that stage's champion.",
    )
    inner = p.add_subparsers(dest="stage_command", metavar="<subcommand>", required=True)
    _register_stage_run(inner)
    _register_stage_select(inner)
    _register_stage_freeze(inner)


# ----------------------------------------------------------------------------- run


def _register_stage_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="train, sweep and evaluate a stage's run(s) (what dvc.yaml calls)",
        formatter_class=_RAW,
        description="Run a stage as the stage plan (iacsieve.method.plan) says. Stages whose grid names\n"
        "every value (1, 2) run ONE grid point, given by flags (dvc.yaml's matrix passes them);\n"
        "stages that build on the previous stage (3: its winner, 4: its champion) run their\n"
        "whole grid. Run settings: params.yaml defaults < families.<family> < the point, or the\n"
        "previous winner's/champion's settings < the point. Each run directory\n"
        "(models/experiments/stageN/<run>) and results directory is published atomically.",
        epilog="examples (what dvc.yaml runs):\n"
        "  iacsieve stage run --stage 1 --family classical --learning-rate 0.001 --batch-size 16 \\\n"
        "      --epochs 10 --weight-decay 0\n"
        "  iacsieve stage run --stage 3",
    )
    p.add_argument("--stage", type=int, choices=STAGES, required=True, help="stage number")
    add_flags(  # a grid point's values (stages 1-2), named and typed as `train`'s flags
        p.add_argument_group("grid point (stages whose grid names every value)"),
        TrainConfig,
        tuple(RUN_LISTS.values()),
        show_defaults=False,
    )
    _root_arg(p)
    params_arg(p)
    p.set_defaults(func=_stage_run)


def _root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root", default=".", help="project root that holds models/, results/ (default: %(default)s)"
    )


def _stage_run(args: argparse.Namespace) -> int:
    from iacsieve.method.dvc import stage_run
    from iacsieve.method.params import load_params

    point = given_flags(args, TrainConfig, tuple(RUN_LISTS.values()))
    stage_run(load_params(args.params), args.stage, point, root=args.root)
    return 0


# ----------------------------------------------------------------------------- select / freeze


def _register_stage_select(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "select",
        help="select a stage's winner among its current grid's runs",
        description="Rank the runs of the stage's CURRENT grid (results of runs removed from the grid are "
        "ignored) by validation F1 and write results/selection/stageN/: selection.json (the "
        "ranking), winner.json (the chosen run's settings, all the next stage reads), "
        "ranking.csv, ranking.md and metrics.json. The plan says best run or median seed.",
    )
    p.add_argument("--stage", type=int, choices=STAGES, required=True, help="stage number")
    _root_arg(p)
    params_arg(p)
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
        "freeze",
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
    params_arg(p)
    p.set_defaults(func=_stage_freeze)


def _stage_freeze(args: argparse.Namespace) -> int:
    from iacsieve.method.dvc import freeze_stage
    from iacsieve.method.params import load_params

    print(
        f"stage {args.stage}: champion in {freeze_stage(load_params(args.params), args.stage, root=args.root)}"
    )
    return 0
