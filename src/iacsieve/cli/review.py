"""`iacsieve review`: pick the warnings worth a person's label, as a sheet to fill."""

from __future__ import annotations

import argparse

from iacsieve.cli.filter_context import (
    add_detections_flags,
    add_model_flag,
    add_scripts_flags,
    add_threshold_flags,
)
from iacsieve.core import layout
from iacsieve.io.safe_text import print_safe as say

_RAW = argparse.RawDescriptionHelpFormatter

REVIEW_EXAMPLE = """\
examples:
  iacsieve review --model models/champion --detections glitch.csv --scripts repo/ --budget 50 --out sheet.csv
  iacsieve review --model models/champion --from-train --budget 50 --out audit.csv     # a label audit

Then fill `label` (TP = real smell, FP = false alarm; leave empty to skip) and `note` in a spreadsheet,
and record the sheet: iacsieve labels add sheet.csv --reviewer NAME
"""


def register(sub: argparse._SubParsersAction) -> None:
    _register_review(sub)


# ----------------------------------------------------------------------------- review


def _register_review(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "review",
        help="pick the warnings worth a person's label, as a sheet to fill",
        description="Write a review sheet (CSV) of the N warnings whose labels would teach the champion most: "
        "those scored nearest its threshold, spread over tech x smell, duplicates collapsed, warnings "
        "already in data/human left out. With --from-train: a label audit of the training rows where "
        "the champion and the LLM label disagree most.",
        epilog=REVIEW_EXAMPLE,
        formatter_class=_RAW,
    )
    add_model_flag(p)  # the flag groups `filter` and `explain` share (cli.filter_context)
    add_detections_flags(p, required=False)
    add_scripts_flags(p, required=False)
    add_threshold_flags(p)
    p.add_argument(
        "--from-train", action="store_true", help="audit the LLM labels of the training split instead"
    )
    p.add_argument(
        "--data", default=layout.PREPARED_DIR, help="prepared data for --from-train (default: %(default)s)"
    )
    p.add_argument(
        "--budget", type=int, required=True, metavar="N", help="how many warnings to put on the sheet"
    )
    p.add_argument("--out", required=True, metavar="FILE", help="the sheet to write (CSV, atomically)")
    p.add_argument(
        "--human",
        default=layout.HUMAN_DIR,
        metavar="DIR",
        help="labels store; its warnings are left out (default: %(default)s)",
    )
    p.set_defaults(func=_review)


def _review(args: argparse.Namespace) -> int:
    from iacsieve.cli.filter_context import filter_options
    from iacsieve.core.errors import IacsieveError
    from iacsieve.filtering.review import format_review, review_detections, review_train

    if args.from_train:
        if args.detections or args.scripts or args.min_retention is not None or args.max_fp_rate is not None:
            raise IacsieveError(
                "--from-train reads the training split; drop --detections/--scripts/--min-retention/--max-fp-rate"
            )
        summary = review_train(
            args.model,
            args.data,
            args.budget,
            args.out,
            human_dir=args.human,
            model_label=getattr(args, "model_label", None),
        )
    else:
        if not (args.detections and args.scripts):
            raise IacsieveError(
                "give --detections FILE and --scripts DIR (or --from-train for a label audit)"
            )
        summary = review_detections(filter_options(args), args.budget, args.out, human_dir=args.human)
    say(format_review(summary))
    return 0
