"""The flags `filter`, `review` and `explain` share, declared once, and the options they make.

Why: the three commands judge warnings with the same champion, the same scripts folder and the same
threshold; declared three times, their flags drifted (explain refused the archive `filter` took, review
had no `--path-prefix-strip`, limits or operating point). Each group is one function here; each
command adds the groups it needs and reads them back as one `FilterOptions`.
"""

from __future__ import annotations

import argparse

from iacsieve.core.layout import TECHS
from iacsieve.core.val_curve import choose_threshold, describe_choice, load_val_curve
from iacsieve.filtering import ON_MISSING, read_champion
from iacsieve.filtering.context import FilterOptions
from iacsieve.filtering.detections import FORMATS
from iacsieve.filtering.output import say
from iacsieve.io.limits import add_limit_flags, limits_from_args

SCRIPT_LIMITS: tuple[str, ...] = ("max_file_bytes", "max_rows", "max_path_chars", "max_line_chars")


def add_model_flag(p: argparse.ArgumentParser) -> None:
    """--model: a champion folder or archive, or none: the bundled champion (cli.app decides, and
    unpacks an archive for the run)."""
    p.add_argument(
        "--model",
        default=None,
        metavar="DIR|ARCHIVE",
        help="champion directory (model files, model_meta.json, champion.json): models/champion "
        "(`dvc repro`'s) or models/cluster-champion (`iacsieve kfp pull-champion`'s); or a champion "
        "archive (`iacsieve champion pack`), verified member by member first (default: the champion "
        "this package ships)",
    )
    p.set_defaults(model_archive=True)


def add_detections_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    """--detections, --input-format, --tech."""
    p.add_argument(
        "--detections",
        required=required,
        metavar="FILE",
        help="the detector's warnings (GLITCH CSV, PATH,LINE,ERROR CSV or JSONL)",
    )
    p.add_argument(
        "--input-format",
        choices=FORMATS,
        default=None,
        help="force the detections format (default: detected)",
    )
    add_tech_flag(p)


def add_tech_flag(p: argparse.ArgumentParser, required: bool = False) -> None:
    """--tech (required by `scan`, which runs the detector for one technology)."""
    p.add_argument(
        "--tech",
        choices=TECHS,
        default=None,
        required=required,
        help="technology of every script (default: from extensions: .pp puppet, .rb chef, .yml/.yaml ansible)",
    )


def add_scripts_flags(p: argparse.ArgumentParser, required: bool = True, on_missing: bool = True) -> None:
    """--scripts, --path-prefix-strip, the input limits and (`on_missing`: commands judging many rows)
    --on-missing."""
    p.add_argument(
        "--scripts",
        required=required,
        metavar="DIR",
        help="folder holding the scanned scripts; no file outside it is read",
    )
    p.add_argument(
        "--path-prefix-strip",
        default=None,
        metavar="PREFIX",
        help="drop PREFIX from the detector's paths before looking under --scripts (GLITCH run in a "
        "container on /src: --path-prefix-strip /src); absolute paths that do not exist here are also "
        "tried by their tails under --scripts",
    )
    if on_missing:
        add_on_missing_flag(p)
    add_limit_flags(p, *SCRIPT_LIMITS)


def add_on_missing_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--on-missing",
        choices=ON_MISSING,
        default="error",
        help="a script missing, outside --scripts, or shorter than the flagged line: fail with exit 2 "
        "(error, default), or keep / drop the row and count it in the summary",
    )


def add_threshold_flags(p: argparse.ArgumentParser) -> None:
    """--threshold, or an operating point (--min-retention, --max-fp-rate) on the validation curve."""
    point = p.add_mutually_exclusive_group()
    point.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="X",
        help="keep warnings scoring >= X (default: the champion's frozen threshold)",
    )
    point.add_argument(
        "--min-retention",
        type=float,
        default=None,
        metavar="R",
        help="operating point: the highest threshold that keeps at least R of the real smells on "
        "the champion's validation data (e.g. 0.95), read from its val_curve.json; no retraining",
    )
    point.add_argument(
        "--max-fp-rate",
        type=float,
        default=None,
        metavar="F",
        help="operating point: the lowest threshold that keeps at most F of the false alarms on "
        "the champion's validation data (e.g. 0.2)",
    )


def threshold_in_force(args: argparse.Namespace) -> tuple[float | None, str | None]:
    """(threshold, where it came from) for `--threshold` / `--min-retention` / `--max-fp-rate`: an
    operating point is chosen on the champion's validation curve and said on stderr; (None, None)
    leaves the champion's frozen one."""
    if args.min_retention is None and args.max_fp_rate is None:
        return args.threshold, None
    choice = choose_threshold(
        load_val_curve(args.model), min_retention=args.min_retention, max_fp_rate=args.max_fp_rate
    )
    say(describe_choice(choice, read_champion(args.model).threshold))
    return choice["threshold"], f"operating point: {choice['rule']}"


def filter_options(args: argparse.Namespace) -> FilterOptions:
    """The options of a filter-like command from its parsed flags."""
    threshold, source = threshold_in_force(args) if hasattr(args, "min_retention") else (None, None)
    return FilterOptions(
        model=str(args.model),
        model_label=getattr(args, "model_label", None),
        scripts=getattr(args, "scripts", None),
        detections=getattr(args, "detections", None),
        detections_format=getattr(args, "input_format", None),
        tech=getattr(args, "tech", None),
        on_missing=getattr(args, "on_missing", "error"),
        limits=limits_from_args(args),
        path_prefix_strip=getattr(args, "path_prefix_strip", None),
        threshold=threshold,
        threshold_source=source,
        provenance=getattr(args, "provenance", None),
    )
