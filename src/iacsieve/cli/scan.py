"""`iacsieve scan`: the pinned detector (GLITCH) and the filter in one step, knowing what was analysed."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from iacsieve.cli.filter import add_filter_flags, filter_command
from iacsieve.core.errors import IacsieveError
from iacsieve.filtering import output_format
from iacsieve.filtering.glitch import EXCLUDED_BY_DEFAULT, excluded, find_executable, not_analysed, run_glitch
from iacsieve.io.output_policy import STDOUT, check_file_output

EXAMPLE = """\
example: (docs/filter.md)
  iacsieve scan --tech puppet infra/ --out kept.sarif --fail-on kept   # GLITCH from PATH, bundled champion
  iacsieve scan --tech chef cookbooks/ --glitch ~/.venvs/glitch/bin/glitch --out kept.csv --allow-unanalysed 2

GLITCH (sr-lab/GLITCH at 19c5020) runs inside DIR as `glitch --tech T --csv --folder-strategy include-all
. OUT`; its rows under --exclude folders (default .github) are left out. Every file it says it could
not parse (its stderr), every traceback and, for Chef without Ruby on PATH, every Chef file is named in
the summary and as a SARIF tool execution notification.
Exit codes: 0 done, 1 real warnings remain (--fail-on kept), 2 bad input or GLITCH failed,
3 more files not analysed than --allow-unanalysed allows (docs/filter.md).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        help="run GLITCH and the filter in one step; fail when files were not analysed",
        description="Run the pinned detector (GLITCH) over DIR, then filter its warnings with a frozen "
        "champion (the bundled one unless --model). Files GLITCH could not analyse are named and gate "
        "the run (exit 3) unless --allow-unanalysed allows them. A summary goes to stderr.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "dir", metavar="DIR", help="the folder to scan (GLITCH reads it; the filter reads scripts in it)"
    )
    p.add_argument(
        "--glitch",
        default=None,
        metavar="PATH",
        help="GLITCH's executable (default: `glitch` on PATH)",
    )
    p.add_argument(
        "--allow-unanalysed",
        type=int,
        default=0,
        metavar="N",
        help="exit 3 when more than N files were not analysed by GLITCH (default: %(default)s)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=None,
        metavar="DIR",
        help=f"a folder under DIR whose warnings are left out (repeatable; default: {', '.join(EXCLUDED_BY_DEFAULT)})",
    )
    add_filter_flags(p, detections=False)
    p.set_defaults(func=_scan, model_archive=True)  # --model may be an archive, or the bundled one (cli.app)


def _scan(args: argparse.Namespace) -> int:
    """Check the outputs, run GLITCH into a temp CSV, keep its rows outside --exclude, filter them."""
    scripts = Path(args.dir)
    if not scripts.is_dir():
        raise IacsieveError(f"{scripts}: not a folder to scan")
    if args.allow_unanalysed < 0:
        raise IacsieveError(f"--allow-unanalysed must be >= 0, got {args.allow_unanalysed}")
    output_format(args.out, args.format)
    for flag, target in (
        ("--out", args.out),
        ("--json-summary", args.json_summary),
        ("--explain", args.explain),
    ):
        if target is not None and target != STDOUT:
            check_file_output(target, flag=flag, inputs={"--model": args.model}, scripts=scripts)
    executable = find_executable(args.glitch)
    folders = tuple(args.exclude) if args.exclude is not None else EXCLUDED_BY_DEFAULT
    with tempfile.TemporaryDirectory(prefix="iacsieve-scan-") as tmp:
        raw, kept = Path(tmp) / "glitch-raw.csv", Path(tmp) / "glitch.csv"
        run = run_glitch(executable, args.tech, scripts, raw)
        skipped = [i for i in not_analysed(run, args.tech, scripts) if not excluded(i.file, folders)]
        _without_excluded(raw, kept, folders)
        args.detections, args.scripts, args.input_format = str(kept), str(scripts), "glitch"
        args.summary_extra = {
            "command": "scan",
            "detections": f"GLITCH on {scripts}",
            "detector": {"command": list(run.command), "excluded": list(folders)},
        }
        return filter_command(args, not_analysed=skipped)


def _without_excluded(raw: Path, kept: Path, folders: tuple[str, ...]) -> None:
    """GLITCH's CSV without the rows under `folders` (a row's first field starts its path: a file cannot
    forge one under a folder it is not in)."""
    with raw.open("rb") as source, kept.open("wb") as sink:
        for line in source:
            first = line.split(b",", 1)[0].decode("utf-8", errors="replace")
            if not excluded(first, folders):
                sink.write(line)
