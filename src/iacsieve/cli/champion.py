"""`iacsieve champion pack | verify | unpack`: the champion as one archive a user can fetch and trust."""

from __future__ import annotations

import argparse

from iacsieve.core import layout

EXAMPLE = """\
examples: (docs/champion.md)
  iacsieve champion pack                                   # models/champion -> models/champion.tar.gz
  iacsieve champion verify champion.tar.gz                 # every member against SHA256SUMS; prints its SHA-256
  iacsieve filter --model champion.tar.gz --detections glitch.csv --scripts repo/ --out kept.csv
  iacsieve champion unpack champion.tar.gz --out champion/ # a folder for repeated runs
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "champion",
        help="pack the champion as one verifiable archive, verify or unpack one",
        description="One .tar.gz holding the champion folder, archive.json (format, package version, card: "
        "family, run, threshold, training data md5, metrics) and SHA256SUMS of every member. "
        "filter/review --model take the archive itself and refuse it if any member was altered.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = p.add_subparsers(dest="champion_command", metavar="<subcommand>", required=True)
    pack = commands.add_parser("pack", help="write the archive (reproducible: same champion, same bytes)")
    pack.add_argument(
        "--champion",
        default=layout.CHAMPION_DIR,
        metavar="DIR",
        help="champion folder (default: %(default)s)",
    )
    pack.add_argument(
        "--out", default=layout.CHAMPION_ARCHIVE, metavar="FILE", help="archive (default: %(default)s)"
    )
    pack.set_defaults(func=_pack)
    verify = commands.add_parser("verify", help="check every member against SHA256SUMS; print the card")
    verify.add_argument("archive", metavar="ARCHIVE")
    verify.set_defaults(func=_verify)
    unpack = commands.add_parser("unpack", help="verify, then write the champion folder (atomically)")
    unpack.add_argument("archive", metavar="ARCHIVE")
    unpack.add_argument("--out", required=True, metavar="DIR", help="new (or empty) folder to write")
    unpack.set_defaults(func=_unpack)


def _pack(args: argparse.Namespace) -> int:
    from iacsieve.release.archive import format_summary, pack

    print(format_summary(pack(args.champion, args.out), "packed"))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from iacsieve.release.archive import format_summary, verify

    print(format_summary(verify(args.archive), "verified"))
    return 0


def _unpack(args: argparse.Namespace) -> int:
    from iacsieve.release.archive import format_summary, unpack

    print(format_summary(unpack(args.archive, args.out), "verified"))
    return 0
