"""`iacsieve prepare` and `iacsieve data stats`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iacsieve.core import layout
from iacsieve.data.records import SPLITS, TECHS, compute_stats, load_jsonl, load_raw_split, prepare
from iacsieve.io.limits import add_limit_flags, limits_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="validate + normalise raw splits into data/prepared/",
        description="Validate every raw row, normalise smell names, and write "
        "train/val/test (combined and per tech) plus stats.json.",
    )
    p.add_argument(
        "--raw",
        default=layout.RAW_DIR,
        help="raw data folder, <tech>/<tech>_<split>.jsonl (default: %(default)s)",
    )
    p.add_argument("--out", default=layout.PREPARED_DIR, help="output folder (default: %(default)s)")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="drop malformed rows (and report how many) instead of failing",
    )
    p.add_argument(
        "--expect-md5",
        metavar="MD5",
        help="refuse raw data whose DVC md5 differs (e.g. data.dvc's: `iacsieve data md5 --dvc-file data.dvc`)",
    )
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="accept warnings present in two splits (leakage; counted in stats.json) instead of failing",
    )
    add_limit_flags(p, "max_file_bytes", "max_rows")
    p.set_defaults(func=_prepare)

    data = sub.add_parser("data", help="inspect datasets", description="Inspect labelled datasets.")
    dsub = data.add_subparsers(dest="data_command", metavar="<subcommand>", required=True)
    s = dsub.add_parser(
        "stats",
        help="counts per split x tech x label",
        description="Print TP/FP counts per split and tech for a raw folder or JSONL files.",
    )
    s.add_argument("paths", nargs="*", help="JSONL files (default: the raw folder's splits)")
    s.add_argument("--raw", default=layout.RAW_DIR, help="raw data folder (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="print the full stats as JSON")
    s.add_argument("--skip-invalid", action="store_true", help="drop malformed rows instead of failing")
    add_limit_flags(s, "max_file_bytes", "max_rows")
    s.set_defaults(func=_stats)
    m = dsub.add_parser(
        "md5",
        help="print the data's DVC md5 (its identity on a cluster)",
        description="Print the DVC md5 of a folder (computed as DVC does) or the one a .dvc file records.",
    )
    m.add_argument("folder", nargs="?", help="folder to hash (default: read --dvc-file instead)")
    m.add_argument(
        "--dvc-file",
        default="data.dvc",
        help=".dvc file to read when no folder is given (default: %(default)s)",
    )
    m.set_defaults(func=_md5)


def _prepare(args: argparse.Namespace) -> int:
    stats = prepare(
        args.raw,
        args.out,
        skip_invalid=args.skip_invalid,
        allow_overlap=args.allow_overlap,
        expected_md5=args.expect_md5,
        limits=limits_from_args(args),
    )
    skipped = sum(stats["skipped_invalid_rows"].values())
    totals = ", ".join(f"{split} {stats[split]['combined']['total']}" for split in SPLITS)
    warnings = stats["warnings"]
    for split, n in warnings["duplicate_rows"].items():
        if n:
            print(f"warning: {split}: {n} duplicate rows (same tech, file, line and smell)", file=sys.stderr)
    for pair, n in warnings["overlap"].items():
        if n:
            print(
                f"warning: {n} warnings in both {pair.replace('&', ' and ')} (allowed by --allow-overlap)",
                file=sys.stderr,
            )
    for name in warnings["empty"]:
        print(f"warning: {name} is empty", file=sys.stderr)
    print(
        f"prepared {args.out}: {totals}"
        + (f"; skipped {skipped} invalid rows" if skipped else "")
        + (f"; {warnings['count']} warnings (stats.json)" if warnings["count"] else "")
    )
    return 0


def _md5(args: argparse.Namespace) -> int:
    from iacsieve.data.identity import data_md5_from_dvc_file, folder_md5

    print(folder_md5(args.folder) if args.folder else data_md5_from_dvc_file(args.dvc_file))
    return 0


def _stats(args: argparse.Namespace) -> int:
    if args.paths:
        splits = {}
        skipped = 0
        for path in args.paths:
            splits[Path(path).name], bad = load_jsonl(
                path,
                skip_invalid=args.skip_invalid,
                tech=_tech_from_name(path),
                limits=limits_from_args(args),
            )
            skipped += bad
    else:
        splits, skipped = {}, 0
        for split in SPLITS:
            splits[split], bad = load_raw_split(
                args.raw, split, skip_invalid=args.skip_invalid, limits=limits_from_args(args)
            )
            skipped += bad
    stats = compute_stats(splits)
    if args.json:
        print(json.dumps(stats, indent=2, sort_keys=True))
        return 0
    header = f"{'split':<24}" + "".join(f"{t:>12}" for t in (*TECHS, "all"))
    print(header)
    for split, by_tech in stats.items():
        cells = [f"{by_tech[t]['TP']}/{by_tech[t]['FP']}" for t in TECHS] + [
            str(by_tech["combined"]["total"])
        ]
        print(f"{split:<24}" + "".join(f"{c:>12}" for c in cells))
    print("(cells: TP/FP)" + (f"; skipped {skipped} invalid rows" if skipped else ""))
    return 0


def _tech_from_name(path: str) -> str | None:
    name = Path(path).name.lower()
    return next((t for t in TECHS if t in name), None)
