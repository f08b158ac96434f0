"""`iacsieve ablate`: the classical family's ablation table, measured on validation data only."""

from __future__ import annotations

import argparse
from pathlib import Path

from iacsieve.cli.step import params_block_arg, settings_in_force
from iacsieve.core import layout
from iacsieve.core.settings import add_flags
from iacsieve.models.ablation_settings import AblationSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ablate",
        help="ablation table of the classical family's ideas (val + CV on train; no test)",
        description="Train the classical defaults and one variant per idea (feature hashing vs a vocabulary, "
        "smell-definition and reviewer features, line shape, LLM label-noise pruning, context window, "
        "word n-grams, L2 strength, class weights, label smoothing) on train; "
        "report val F1 at 0.5 and k-fold CV F1 on train, and write ablation.json + ablation.md. "
        "Test data is never read.",
    )
    p.add_argument("--data", default=layout.PREPARED_DIR, help="prepared data folder (default: %(default)s)")
    p.add_argument(
        "--out",
        default=layout.ABLATION_DIR,
        help="output folder for ablation.json/.md (default: %(default)s)",
    )
    add_flags(p, AblationSettings, show_defaults=False)
    params_block_arg(p, AblationSettings)
    p.add_argument(
        "--timings",
        default=str(Path(layout.TIMINGS_DIR) / layout.ABLATION_JSON),
        help="where the fit times go (default: %(default)s; git-ignored: they change run to run)",
    )
    p.set_defaults(func=_ablate)


def _ablate(args: argparse.Namespace) -> int:
    from iacsieve.io.output_policy import check_file_output, check_folder_output
    from iacsieve.reporting.ablation import run_ablation

    check_folder_output(args.out, inputs={"--data": args.data}, replaces=False)  # its own named files
    check_file_output(args.timings, flag="--timings", inputs={"--data": args.data})
    settings = settings_in_force(args, AblationSettings)
    rows = run_ablation(
        args.data, args.out, cv_folds=settings.cv_folds, seed=settings.seed, timings_file=args.timings
    )
    for row in rows:
        cv = "" if row["cv_f1"] is None else f"  cv {row['cv_f1']:.4f} ({row['delta_cv_f1']:+.4f})"
        print(f"{row['variant']:<22} val {row['val_f1']:.4f} ({row['delta_val_f1']:+.4f}){cv}")
    print(f"wrote {args.out}/ablation.json and ablation.md")
    return 0
