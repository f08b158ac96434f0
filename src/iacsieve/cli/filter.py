"""`iacsieve filter`: run a frozen champion over a detector's warnings and drop the false alarms."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from iacsieve.cli.filter_context import (
    SCRIPT_LIMITS,
    add_detections_flags,
    add_model_flag,
    add_on_missing_flag,
    add_scripts_flags,
    add_tech_flag,
    add_threshold_flags,
    filter_options,
)
from iacsieve.cli.filter_context import threshold_in_force as threshold_in_force  # its old home
from iacsieve.core.errors import IacsieveError
from iacsieve.filtering import OUTPUT_FORMATS, format_summary
from iacsieve.filtering.analysed import NotAnalysed
from iacsieve.filtering.context import OutputOptions, run_filter
from iacsieve.filtering.gate import REASONS, gate, gate_message
from iacsieve.filtering.output import say
from iacsieve.filtering.sarif import DEFAULT_CATEGORY
from iacsieve.io.atomic import atomic_write_text
from iacsieve.io.limits import add_limit_flags
from iacsieve.io.output_policy import STDOUT, check_file_output

FAIL_ON: tuple[str, ...] = ("never", "kept")
EXAMPLE = """\
example: (docs/filter.md)
  glitch --tech puppet --csv --folder-strategy include-all repo/ glitch.csv   # GLITCH 1.x (docs: install)
  iacsieve filter --model models/champion --detections glitch.csv --scripts repo/ --out kept.csv
  iacsieve filter --model models/champion --detections glitch.csv --scripts repo/ \\
      --out kept.sarif --on-missing keep --fail-on kept   # for code scanning; exit 1 if real warnings remain

Inputs: GLITCH's CSV (no header, unquoted: path,line,code,snippet[,message]), a CSV with header
PATH,LINE,ERROR, or JSONL with file,line,smell; the format is detected. Paths in it resolve inside
--scripts only (absolute inside it, relative to it, or a bare file name); a path leading outside is
refused. GLITCH's whole-file smells (line -1) and code-quality smells pass through unscored.
--out may not be --detections or lie inside --model; only regular files are read.
Output: every input row, in order, plus smell (canonical), score (empty where the model does not
cover the smell), keep (true/false) and fingerprint (for --baseline); `-` writes to stdout.
SARIF 2.1.0 holds only the kept security smells (--sarif-all adds the kept design/implementation
smells as notes), one result per (file, line, smell), each rule with the taxonomy's help text and
CWE tags, URIs relative to the git repository holding --scripts (or --uri-base).
Exit codes: 0 done, 1 real warnings remain (--fail-on kept), 2 bad input (docs/filter.md).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "filter",
        help="drop a detector's false alarms with a frozen champion",
        description="Score each warning of a detector's output with a frozen champion model and mark the ones "
        "it judges false alarms (score below the champion's threshold). Needs only the model "
        "directory: no repo, DVC or params.yaml. A summary goes to stderr.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_filter_flags(p)
    p.set_defaults(func=filter_command)


def add_filter_flags(p: argparse.ArgumentParser, *, detections: bool = True) -> None:
    """The filter's flags: `filter`'s, and `scan`'s (`detections=False`: it makes the detections and
    takes the scripts folder as its argument; --tech is then required). Groups: cli.filter_context."""
    add_model_flag(p)
    if detections:
        add_detections_flags(p)
        add_scripts_flags(p)
    else:
        add_tech_flag(p, required=True)
        add_on_missing_flag(p)
        add_limit_flags(p, *SCRIPT_LIMITS)
    add_threshold_flags(p)
    _io_args(p)
    _output_args(p)


def _io_args(p: argparse.ArgumentParser) -> None:
    """Where to write and in which format (the shared groups: `cli.filter_context`)."""
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="output file, written atomically; - for stdout (CSV unless --format)",
    )
    p.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default=None,
        help="output format (default: from --out's suffix: .csv, .jsonl, .sarif; another suffix is refused)",
    )


def _output_args(p: argparse.ArgumentParser) -> None:
    """SARIF details and scoring batch size.

    Long because it is a flat list of argparse declarations, one per flag; splitting it would scatter one group."""
    p.add_argument(
        "--sarif-all",
        action="store_true",
        help="SARIF: also hold the kept design/implementation (code-quality) smells, as notes "
        "(default: security smells only)",
    )
    p.add_argument(
        "--uri-base",
        default=None,
        metavar="DIR",
        help="SARIF: make script URIs relative to DIR, which must contain --scripts (default: the "
        "nearest folder at or above --scripts with a .git entry, i.e. the repository a "
        "code-scanning UI shows; else --scripts)",
    )
    p.add_argument(
        "--sarif-category",
        default=DEFAULT_CATEGORY,
        metavar="NAME",
        help="SARIF: automationDetails.id, one per analysis a commit uploads (e.g. iacsieve-puppet; "
        "default: %(default)s)",
    )
    p.add_argument(
        "--baseline",
        default=None,
        metavar="FILE",
        help="an earlier run's output (SARIF, CSV or JSONL): warnings already in it are marked keep=false "
        "and left out of SARIF, so only new ones are reported (matched by a fingerprint that survives "
        "lines moving)",
    )
    p.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="never",
        help="kept: exit 1 when kept security warnings remain (after --baseline), for a CI gate "
        "(default: never; bad input is always exit 2)",
    )
    p.add_argument(
        "--json-summary",
        default=None,
        metavar="FILE",
        help="also write the summary as JSON (counts per smell, model, threshold, exit reason)",
    )
    p.add_argument(
        "--sarif-suppressed",
        action="store_true",
        help="SARIF: also hold the dropped warnings, each with a `suppressions` entry (kind external, "
        "the reason as justification)",
    )
    p.add_argument(
        "--explain",
        default=None,
        metavar="FILE.jsonl",
        help="also write the full evidence per row (score, threshold and its source, margin, nearest "
        "labelled training warnings, top features) as JSONL (docs/explain.md)",
    )
    p.add_argument(
        "--no-evidence",
        action="store_true",
        help="skip the evidence: the reason says the score only, nothing read from the index (fastest)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=64,
        metavar="N",
        help="warnings scored per model batch (default: %(default)s)",
    )


def filter_command(args: argparse.Namespace, not_analysed: Sequence[NotAnalysed] | None = None) -> int:
    """`iacsieve filter` (and `scan`'s filtering, with the files GLITCH did not analyse); the exit code is
    the gate's (iacsieve.filtering.gate)."""
    if args.json_summary is not None:
        written = None if args.out == STDOUT else args.out
        inputs = {"--out": written, "--detections": args.detections, "--model": args.model}
        inputs["--explain"] = args.explain  # two outputs naming one file: refused, one line
        check_file_output(args.json_summary, flag="--json-summary", inputs=inputs, scripts=args.scripts)
    output = OutputOptions(
        out=args.out,
        fmt=args.format,
        batch_size=args.batch_size,
        sarif_all=args.sarif_all,
        uri_base=args.uri_base,
        baseline=args.baseline,
        sarif_category=args.sarif_category,
        evidence=not args.no_evidence,
        explain=args.explain,
        sarif_suppressed=args.sarif_suppressed,
    )
    summary = run_filter(filter_options(args), output, not_analysed=not_analysed)
    summary.update(getattr(args, "summary_extra", {}))  # scan: the detector's run, not its temp CSV
    allowed = getattr(args, "allow_unanalysed", None)
    code = gate(summary, args.fail_on, allowed)
    summary.update(fail_on=args.fail_on, exit_code=code, exit_reason=REASONS[code])
    say(format_summary(summary))
    message = gate_message(args.command, summary, code, allowed)
    if message:
        say(message)
    if args.json_summary is not None:
        try:
            atomic_write_text(args.json_summary, json.dumps(summary, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise IacsieveError(
                f"{args.json_summary}: cannot write the summary: {exc.strerror or exc}"
            ) from None
    return code
