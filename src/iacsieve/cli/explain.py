"""`iacsieve explain`: why the champion kept or dropped one warning, as a page in the terminal."""

from __future__ import annotations

import argparse
import sys

from iacsieve.cli.filter_context import (
    add_detections_flags,
    add_model_flag,
    add_scripts_flags,
    add_threshold_flags,
    filter_options,
)
from iacsieve.core.errors import IacsieveError
from iacsieve.filtering.explain_page import explain_warning, render_page

EXAMPLE = """\
examples:
  iacsieve explain --model models/champion --detections glitch.csv --row 12 --scripts repo/
  iacsieve explain --model models/champion --scripts repo/ --file manifests/init.pp --line 40 \\
      --smell hard_coded_secret

--row is the warning's line in the detections file (the `row` of `filter --explain`'s JSONL).
The page: the code around the flagged line, the score against the threshold in force, the features
that moved the score (classical champions), and the nearest labelled training warnings (label, who
labelled it, similarity) with their code side by side with this one. docs/explain.md has an example.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="why the champion kept or dropped one warning (score, neighbours, features)",
        description="Judge one warning exactly as `iacsieve filter` does and print the evidence: the code "
        "with context, the score and threshold, what moved the score, and the nearest labelled "
        "training warnings side by side.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_flag(p)
    add_scripts_flags(p, on_missing=False)
    add_detections_flags(p, required=False)
    p.add_argument("--row", type=int, metavar="N", help="with --detections: the warning's line in that file")
    p.add_argument("--file", metavar="F", help="the script (relative to --scripts), instead of --detections")
    p.add_argument("--line", type=int, metavar="L", help="with --file: the flagged line")
    p.add_argument("--smell", metavar="S", help="with --file: the smell (canonical name or detector code)")
    p.add_argument("--neighbours", type=int, default=3, metavar="K", help="neighbours shown (default: 3)")
    p.add_argument("--width", type=int, default=None, help="page width (default: the terminal's)")
    add_threshold_flags(p)
    p.set_defaults(func=_explain)


def _explain(args: argparse.Namespace) -> int:
    if args.neighbours < 1:
        raise IacsieveError(
            f"--neighbours must be >= 1, got {args.neighbours} (the page compares the warning with its "
            f"nearest labelled training warnings)"
        )
    options = filter_options(args)
    explained = explain_warning(
        options.model,
        args.scripts,
        detections=options.detections,
        row=args.row,
        file=args.file,
        line=args.line,
        smell=args.smell,
        tech=options.tech,
        threshold=options.threshold,
        threshold_source=options.threshold_source,
        k=args.neighbours,
        detections_format=options.detections_format,
        limits=options.limits,
        path_prefix_strip=options.path_prefix_strip,
        model_label=options.model_label,
    )
    sys.stdout.write(render_page(explained, args.width))
    return 0
