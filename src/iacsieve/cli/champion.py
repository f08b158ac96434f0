"""`iacsieve champion pack | verify | unpack`: the champion as one archive a user can fetch and trust."""

from __future__ import annotations

import argparse

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError

EXAMPLE = """\
examples: (docs/champion.md)
  iacsieve champion pack                                   # models/champion -> models/champion.tar.gz
  iacsieve champion verify champion.tar.gz                 # every member against SHA256SUMS; prints its SHA-256
  iacsieve champion verify champion.tar.gz --expect-sha256 HEX   # and exit 2 unless it is the published one
  iacsieve champion verify                                 # the champion this package bundles
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
    verify.add_argument(
        "archive",
        metavar="ARCHIVE",
        nargs="?",
        default=None,
        help="the archive (default: the champion this package bundles)",
    )
    verify.add_argument(
        "--expect-sha256",
        default=None,
        metavar="HEX",
        help="the archive's published SHA-256: exit 2 unless the archive is exactly that file (what SARIF "
        "runs record as championSha256)",
    )
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
    from iacsieve.release.bundled import default_model

    expected = None if args.expect_sha256 is None else expected_sha256(args.expect_sha256)
    archive, source = default_model(args.archive)
    summary = verify(archive)
    if expected is not None and summary["sha256"] != expected:
        raise IacsieveError(
            f"{archive}: SHA-256 {summary['sha256']}, expected {expected} (--expect-sha256): not the "
            f"published archive"
        )
    print(format_summary(summary, "verified" if source != "bundled" else "verified the bundled"))
    if expected is not None:
        print("  SHA-256 matches --expect-sha256")
    return 0


def expected_sha256(text: str) -> str:
    """A SHA-256 as people paste it (any case, `sha256:` prefix allowed): 64 hex digits, lower case."""
    value = text.strip().lower().removeprefix("sha256:")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise IacsieveError(f"--expect-sha256: not a SHA-256 (64 hex digits): {text!r}")
    return value


def _unpack(args: argparse.Namespace) -> int:
    from iacsieve.release.archive import format_summary, unpack

    print(format_summary(unpack(args.archive, args.out), "verified"))
    return 0
