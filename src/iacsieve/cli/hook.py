"""`iacsieve hook`: the pre-commit hook. `scan` over the staged files only, one line per kept warning.

pre-commit passes the staged files' names (and stashes unstaged changes, so the working tree holds what
is staged); they are copied, at their relative paths, into a temporary folder that GLITCH scans, so a
file that is not staged is never read. Each kept security warning is one line, `path:line: smell (score)`:
never the flagged code (a hard-coded secret would land in a terminal or a CI log).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import SUMMARY_FILE, TECHS
from iacsieve.core.smells import is_non_security
from iacsieve.filtering.gate import EXIT_BAD_INPUT, REASONS
from iacsieve.io.safe_text import terminal_safe

EXAMPLE = """\
Exit codes: 0 no security warning kept; 1 security warnings kept; 2 bad input or GLITCH failed;
3 staged files GLITCH could not analyse (more than --allow-unanalysed). docs/filter.md shows the
.pre-commit-config.yaml.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hook",
        help="pre-commit: scan the staged files, print each kept warning on one line",
        description="Copy the given (staged) files into a temporary folder, run `iacsieve scan` on it "
        "with the bundled champion (or --model), and print one line per kept security warning, without "
        "the flagged code.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="the staged files (pre-commit passes them)")
    p.add_argument("--tech", choices=TECHS, required=True, help="technology of the scripts")
    p.add_argument("--glitch", default=None, metavar="PATH", help="GLITCH's executable (default: on PATH)")
    p.add_argument("--model", default=None, metavar="DIR|ARCHIVE", help="champion (default: the bundled one)")
    p.add_argument("--allow-unanalysed", default="0", metavar="N", help="as `scan` (default: %(default)s)")
    p.set_defaults(func=_hook)


def _hook(args: argparse.Namespace) -> int:
    files = [f for f in args.files if Path(f).suffix]
    if not files:
        return 0
    with tempfile.TemporaryDirectory(prefix="iacsieve-hook-") as tmp:
        staged = Path(tmp) / "staged"
        for name in files:
            _copy_staged(name, staged)
        out, summary = Path(tmp) / "kept.jsonl", Path(tmp) / SUMMARY_FILE
        argv = ["scan", "--tech", args.tech, "--out", str(out), "--json-summary", str(summary)]
        argv += ["--fail-on", "kept", "--on-missing", "keep", "--no-evidence", "--allow-unanalysed"]
        argv += [args.allow_unanalysed, *(["--glitch", args.glitch] if args.glitch else [])]
        argv += [*(["--model", args.model] if args.model else []), "--", str(staged)]
        code, said = _run_scan(argv)
        if code == EXIT_BAD_INPUT or not summary.is_file():
            sys.stderr.write(said)
            return code
        for line in kept_lines(out):
            print(line)
        counts = json.loads(summary.read_text(encoding="utf-8"))
        for item in counts.get("not_analysed_files", []):
            print(f"{terminal_safe(item['file'] or '?')}: not analysed by GLITCH ({item['reason']})")
    print(
        f"iacsieve hook: {counts['kept_security']} security warnings kept, {counts.get('not_analysed', 0)} files "
        f"not analysed, in {len(files)} staged files: exit {code} ({REASONS[code]})",
        file=sys.stderr,
    )
    return code


def _copy_staged(name: str, staged: Path) -> None:
    """A staged file at its relative path under `staged` (pre-commit's names are repository-relative)."""
    path = Path(name)
    if path.is_absolute() or ".." in path.parts:
        raise IacsieveError(f"{name}: not a path inside the repository")
    if path.is_symlink() or not path.is_file():
        return  # a deleted file or a link: nothing staged to read
    target = staged / path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)


def _run_scan(argv: list[str]) -> tuple[int, str]:
    """`iacsieve scan` in this process, its stderr (the long summary) held back: (exit code, stderr)."""
    from iacsieve.cli.app import main

    held = io.StringIO()
    with contextlib.redirect_stderr(held):
        code = main(argv)
    return code, held.getvalue()


def kept_lines(out: Path) -> list[str]:
    """`path:line: smell (score)` for each kept security warning of scan's JSONL (no code, no snippet)."""
    lines = []
    for raw in out.read_text(encoding="utf-8").splitlines():
        row = json.loads(raw)
        if not row["keep"] or is_non_security(str(row.get("code", ""))):
            continue
        score = "unscored" if row["score"] is None else f"score {row['score']:.2f}"
        where = str(row.get("path", "?")).removeprefix("./")
        lines.append(f"{terminal_safe(where)}:{row['line']}: {terminal_safe(row['smell'])} ({score})")
    return lines
