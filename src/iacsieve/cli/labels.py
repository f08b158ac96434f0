"""`iacsieve labels add | stats | apply`: people's labels as versioned data (data/human)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from iacsieve.core import layout
from iacsieve.io.safe_text import print_safe as say

_RAW = argparse.RawDescriptionHelpFormatter

LABELS_EXAMPLE = """\
examples:
  iacsieve labels add sheet.csv --reviewer alice      # validate, then merge into data/human (+ data/human.dvc)
  iacsieve labels stats                               # counts per tech x smell, LLM-vs-human kappa
  git add data/human.dvc && git commit -m "labels: alice, 50 warnings" && dvc push
"""


def register(sub: argparse._SubParsersAction) -> None:
    _register_labels(sub)


# ----------------------------------------------------------------------------- labels


def _register_labels(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "labels",
        help="human labels as versioned data (data/human)",
        description="Record, count and apply human labels.",
        epilog=LABELS_EXAMPLE,
        formatter_class=_RAW,
    )
    lsub = p.add_subparsers(dest="labels_command", metavar="<subcommand>", required=True)
    _add_labels_add(lsub)
    _add_labels_stats(lsub)
    _add_labels_apply(lsub)


def _add_labels_add(lsub: argparse._SubParsersAction) -> None:
    """`labels add`: a filled sheet into the store."""
    a = lsub.add_parser(
        "add",
        help="validate a filled review sheet and merge it into data/human",
        description="Validate every row of a filled sheet (one line per bad row: file:line, field, "
        "what was expected) and, only if all are valid (or --skip-invalid), merge them into "
        "data/human: one record per warning and reviewer, dated. Another reviewer's "
        "different verdict is kept and reported as a disagreement. Rows on test-split "
        "warnings are refused. Inside a DVC repo, data/human.dvc is updated.",
    )
    a.add_argument("sheet", help="the filled sheet (CSV)")
    a.add_argument("--reviewer", required=True, metavar="NAME", help="who labelled it")
    a.add_argument("--date", default=None, metavar="YYYY-MM-DD", help="review date (default: today, UTC)")
    a.add_argument(
        "--human", default=layout.HUMAN_DIR, metavar="DIR", help="labels store (default: %(default)s)"
    )
    a.add_argument(
        "--raw",
        default=layout.RAW_DIR,
        metavar="DIR",
        help="raw data, to refuse test rows (default: %(default)s)",
    )
    a.add_argument(
        "--skip-invalid", action="store_true", help="record the valid rows and list the invalid ones"
    )
    a.add_argument("--no-dvc", action="store_true", help="do not run `dvc add` on the store")
    a.set_defaults(func=_labels_add)


def _add_labels_stats(lsub: argparse._SubParsersAction) -> None:
    """`labels stats`: counts, disagreements, agreement with the LLM."""
    s = lsub.add_parser(
        "stats",
        help="counts per tech x smell, disagreements, LLM-vs-human agreement",
        description="Counts of human labels per tech x smell, reviewer disagreements, and agreement "
        "with the LLM label (Cohen's kappa) on warnings that have both.",
    )
    s.add_argument(
        "--human", default=layout.HUMAN_DIR, metavar="DIR", help="labels store (default: %(default)s)"
    )
    s.add_argument(
        "--raw",
        default=layout.RAW_DIR,
        metavar="DIR",
        help="raw data with the LLM labels (default: %(default)s)",
    )
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=_labels_stats)


def _add_labels_apply(lsub: argparse._SubParsersAction) -> None:
    """`labels apply`: the prepared splits with human labels applied (DVC `training-data`)."""
    ap = lsub.add_parser(
        "apply",
        help="the data training reads: prepared splits with human labels applied",
        description="Write the prepared layout with human labels applied: train labels overridden "
        "(--train), validation per --validation, test copied unchanged, plus human.json. "
        "With no human labels the splits are byte-identical to --prepared.",
    )
    ap.add_argument("--prepared", default=layout.PREPARED_DIR, help="prepared data (default: %(default)s)")
    ap.add_argument(
        "--human", default=layout.HUMAN_DIR, metavar="DIR", help="labels store (default: %(default)s)"
    )
    ap.add_argument("--out", required=True, metavar="DIR", help="output folder (replaced atomically)")
    from iacsieve.cli.step import params_block_arg
    from iacsieve.core.settings import add_flags
    from iacsieve.data.human import HumanSettings

    add_flags(ap, HumanSettings, ("train", "validation", "val_fraction", "min_val_rows"), show_defaults=False)
    params_block_arg(ap, HumanSettings)
    ap.set_defaults(func=_labels_apply)


def _labels_add(args: argparse.Namespace) -> int:
    from iacsieve.data.labels import SheetError, add_labels, format_add

    try:
        result = add_labels(
            args.sheet,
            args.reviewer,
            human_dir=args.human,
            raw_dir=args.raw,
            skip_invalid=args.skip_invalid,
            date=args.date,
            dvc_track=not args.no_dvc,
        )
    except SheetError as exc:
        for problem in exc.problems:
            say(problem, file=sys.stderr)
        raise
    say(format_add(result))
    return 0


def _labels_stats(args: argparse.Namespace) -> int:
    from iacsieve.data.labels import format_stats, label_stats

    stats = label_stats(args.human, args.raw)
    say(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def _labels_apply(args: argparse.Namespace) -> int:
    from iacsieve.cli.step import settings_in_force
    from iacsieve.data.human import HumanSettings, build_training_data
    from iacsieve.data.human_store import store_lock

    settings = replace(settings_in_force(args, HumanSettings), dir=str(args.human))
    with store_lock(args.human, shared=True):  # `labels add` waits: no label lands mid-stage
        report = build_training_data(args.prepared, args.human, args.out, settings)
    say(
        f"{args.out}: {report['labels']} human label(s); train relabelled {report['train_relabelled']} "
        f"(+{report['train_added']} added), validation '{report['validation']}' with {report['val_rows']} rows "
        f"({report['val_human_rows']} human-labelled)"
        + (f"; disputed {len(report['disputed'])}" if report["disputed"] else "")
    )
    return 0
