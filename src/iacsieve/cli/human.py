"""`iacsieve review | labels add | labels stats | labels apply | experiment learning-curve`: people in the loop."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import TextIO

from iacsieve.cli.filter_context import (
    add_detections_flags,
    add_model_flag,
    add_scripts_flags,
    add_threshold_flags,
)
from iacsieve.core import layout
from iacsieve.io.safe_text import terminal_safe

_RAW = argparse.RawDescriptionHelpFormatter

REVIEW_EXAMPLE = """\
examples:
  iacsieve review --model models/champion --detections glitch.csv --scripts repo/ --budget 50 --out sheet.csv
  iacsieve review --model models/champion --from-train --budget 50 --out audit.csv     # a label audit

Then fill `label` (TP = real smell, FP = false alarm; leave empty to skip) and `note` in a spreadsheet,
and record the sheet: iacsieve labels add sheet.csv --reviewer NAME
"""

LABELS_EXAMPLE = """\
examples:
  iacsieve labels add sheet.csv --reviewer alice      # validate, then merge into data/human (+ data/human.dvc)
  iacsieve labels stats                               # counts per tech x smell, LLM-vs-human kappa
  git add data/human.dvc && git commit -m "labels: alice, 50 warnings" && dvc push
"""


def say(text: str, file: TextIO | None = None) -> None:
    """Print lines that hold names from users' files (scripts, sheets): escape sequences shown, not run."""
    print("\n".join(terminal_safe(line) for line in text.split("\n")), file=file or sys.stdout)


def register(sub: argparse._SubParsersAction) -> None:
    _register_review(sub)
    _register_labels(sub)
    _register_experiment(sub)


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
        options = filter_options(args)
        summary = review_detections(
            options.model,
            args.detections,
            args.scripts,
            args.budget,
            args.out,
            tech=options.tech,
            threshold=options.threshold,
            human_dir=args.human,
            on_missing=options.on_missing,
            detections_format=options.detections_format,
            model_label=options.model_label,
            limits=options.limits,
            path_prefix_strip=options.path_prefix_strip,
            threshold_source=options.threshold_source,
        )
    say(format_review(summary))
    return 0


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
    params_block_arg(ap, "human")
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

    settings = replace(settings_in_force(args, HumanSettings, "human"), dir=str(args.human))
    with store_lock(args.human, shared=True):  # `labels add` waits: no label lands mid-stage
        report = build_training_data(args.prepared, args.human, args.out, settings)
    say(
        f"{args.out}: {report['labels']} human label(s); train relabelled {report['train_relabelled']} "
        f"(+{report['train_added']} added), validation '{report['validation']}' with {report['val_rows']} rows "
        f"({report['val_human_rows']} human-labelled)"
        + (f"; disputed {len(report['disputed'])}" if report["disputed"] else "")
    )
    return 0


# ----------------------------------------------------------------------------- experiment


def _register_experiment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="report-only experiments (never feed a champion)")
    esub = p.add_subparsers(dest="experiment_command", metavar="<experiment>", required=True)
    lc = esub.add_parser(
        "learning-curve",
        help="F1 vs number of human labels (cross-fitted on the test split; report only)",
        description="How much does a person's hour buy? k-fold cross-fitting over the human-labelled test split: "
        "n reviews come from k-1 folds (random, or picked by the review queue's rule), a throwaway "
        "classical model trains on the LLM-labelled train split plus those n rows, F1 is measured on "
        "the held-out fold. n = 0 is the LLM-only champion. Reuses test rows: never a headline figure, "
        "and nothing here is selected, frozen or shipped.",
    )
    lc.add_argument("--data", default=layout.PREPARED_DIR, help="prepared data (default: %(default)s)")
    lc.add_argument(
        "--champion",
        default=layout.CHAMPION_DIR,
        help="the LLM-only champion, the n = 0 point; 'none' "
        "trains a classical model instead (default: %(default)s)",
    )
    lc.add_argument("--out", default=layout.LEARNING_CURVE_DIR, help="output folder (default: %(default)s)")
    lc.add_argument(
        "--sizes",
        default="0,25,50,100",
        help="numbers of human labels, comma-separated; the whole pool "
        "is always added (default: %(default)s)",
    )
    lc.add_argument("--folds", type=int, default=5, help="k (default: %(default)s)")
    lc.add_argument(
        "--repeats", type=int, default=2, help="random draws per fold and size (default: %(default)s)"
    )
    lc.add_argument(
        "--strategies", default="random,uncertainty", help="random and/or uncertainty (default: %(default)s)"
    )
    lc.add_argument("--seed", type=int, default=0, help="folds and draws (default: %(default)s)")
    lc.set_defaults(func=_learning_curve)


def _learning_curve(args: argparse.Namespace) -> int:
    from iacsieve.core.errors import IacsieveError
    from iacsieve.io.output_policy import check_folder_output
    from iacsieve.reporting.learning_curve import learning_curve

    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        raise IacsieveError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    champion = None if args.champion == "none" else args.champion
    check_folder_output(args.out, inputs={"--data": args.data, "--champion": champion}, replaces=False)
    result = learning_curve(
        args.data,
        args.out,
        champion_dir=champion,
        sizes=sizes,
        folds=args.folds,
        seed=args.seed,
        repeats=args.repeats,
        strategies=[s.strip() for s in args.strategies.split(",") if s.strip()],
    )
    print(result["caveat"])
    for p in result["points"]:
        print(f"  {p['strategy']:<12} n={p['n_labels']:>4}  F1 {p['f1']:.3f} ± {p['f1_fold_std']:.3f}")
    print(f"wrote {args.out}/learning_curve.{{json,csv,md,png}}")
    return 0
