"""`iacsieve <command>`: the one entry point that dvc.yaml, KFP components' users and people call.

Each command group lives in `iacsieve.cli.<group>` and registers its own subparsers, so a
command is a thin layer over one library function. User mistakes (IacsieveError) print one line
and exit non-zero; there is no traceback for them.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from iacsieve import __version__
from iacsieve.cli.env_options import apply_env_defaults
from iacsieve.core.errors import IacsieveError, Terminated
from iacsieve.core.extras import extra_for, missing_extra_message
from iacsieve.io.safe_text import terminal_safe

COMMAND_GROUPS: tuple[str, ...] = (
    "data",
    "stage",
    "step",
    "project",
    "filter",
    "scan",
    "hook",
    "explain",
    "champion",
    "kfp",
    "quality",
    "review",
    "labels",
    "experiment",
)


@functools.cache
def build_parser() -> argparse.ArgumentParser:
    """The whole command line, built once per process (~17 ms of argparse work: in-process callers,
    the tests above all, call `main` hundreds of times). Nothing in it may depend on when it was
    built: an option defaulting to an environment variable is a `cli.env_options.env_option`."""
    parser = argparse.ArgumentParser(
        prog="iacsieve",
        description="Train and apply models that tell real IaC security smells from false alarms.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for group in COMMAND_GROUPS:
        importlib.import_module(f"iacsieve.cli.{group}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    with printable_streams():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        os.getcwd()
    except OSError:  # every relative path would fail later, naming a file nobody gave
        print("iacsieve: error: the current folder no longer exists (deleted?); cd into one", file=sys.stderr)
        return IacsieveError.exit_code
    args = build_parser().parse_args(argv)
    apply_env_defaults(args)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        with sigterm_as_interrupt(), model_from_archive(args):
            return int(args.func(args) or 0)
    except IacsieveError as exc:
        print(f"iacsieve: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:  # a light install reaching a command that needs an extra
        extra = extra_for(exc.name)
        if extra is None:
            raise
        print(f"iacsieve: error: {missing_extra_message(str(exc.name), extra)}", file=sys.stderr)
        return IacsieveError.exit_code
    except OSError as exc:  # full disk, read-only folder, a path that is a folder: the user's to fix
        text = too_long(exc, sys.argv[1:] if argv is None else argv) or describe_os_error(exc)
        print(f"iacsieve: error: {one_line(text)}", file=sys.stderr)
        return IacsieveError.exit_code
    except KeyboardInterrupt as exc:
        print(
            "iacsieve: interrupted; finished artifacts are kept, partial ones were discarded", file=sys.stderr
        )
        return 128 + signal.SIGTERM if isinstance(exc, Terminated) else 130


@contextlib.contextmanager
def model_from_archive(args: argparse.Namespace) -> Iterator[None]:
    """Commands that set `model_archive=True` (filter, review, explain, scan) take `--model` as a folder or
    a champion archive, or none: the bundled champion (`iacsieve.release.bundled` decides). An archive is
    verified against its manifest and unpacked to a temp folder for the run; `args.provenance` records
    where the champion came from and the archive's SHA-256 (what `champion verify` prints)."""
    if not getattr(args, "model_archive", False):
        yield
        return
    from iacsieve.release.bundled import default_model

    args.model, source = default_model(args.model)
    args.provenance = {"champion_source": source, "package_version": __version__}
    if source == "folder":
        yield
        return
    from iacsieve.release.archive import opened

    out = getattr(args, "out", None)
    if out not in (None, "-") and Path(out).resolve() == Path(args.model).resolve():
        raise IacsieveError(f"--out {out} is the champion archive --model; pick another name")

    verified: dict = {}
    with opened(args.model, verified) as champion_dir:
        logging.getLogger("iacsieve").info("%s: verified against its SHA256SUMS", args.model)
        # what the summary and SARIF name: the archive (and that it is the bundled one), not the temp folder
        args.model_label = f"{args.model} (bundled)" if source == "bundled" else args.model
        args.provenance.update(champion_archive=args.model, champion_sha256=verified["sha256"])
        args.model = str(champion_dir)
        yield


@contextlib.contextmanager
def printable_streams() -> Iterator[None]:
    """Print a file name that is not UTF-8 as `\\xNN` instead of failing with UnicodeEncodeError
    (under a UTF-8 locale Python's stdout is strict; argv and file names carry such bytes as
    surrogates), and on a terminal show escape sequences instead of running them: a smell or file
    name from a user's file could recolour, retitle or rewrite the screen. A pipe or file gets the
    bytes as they are (data stays data)."""
    saved = sys.stdout, sys.stderr
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
        isatty = getattr(stream, "isatty", None)
        if isatty is not None and isatty() and not isinstance(stream, TerminalSafe):
            setattr(sys, name, TerminalSafe(stream))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class TerminalSafe:
    """A text stream that escapes control characters (but newlines and tabs) before a terminal sees them."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        lines = ("\t".join(terminal_safe(part) for part in line.split("\t")) for line in text.split("\n"))
        self._stream.write("\n".join(lines))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def one_line(text: str) -> str:
    """An error as one terminal-safe line: newlines joined, escape sequences made visible."""
    return terminal_safe(" ".join(text.splitlines()))


def describe_os_error(exc: OSError) -> str:
    """`<path>: <reason>` for an OSError that reached the command's boundary (the path it names)."""
    where = exc.filename if exc.filename is not None else "<output>"
    if isinstance(where, bytes):
        where = os.fsdecode(where)
    reason = exc.strerror or str(exc)
    if exc.filename2 is not None:
        reason += f" (-> {os.fsdecode(exc.filename2) if isinstance(exc.filename2, bytes) else exc.filename2})"
    return f"{where}: {reason}"


def too_long(exc: OSError, argv: list[str]) -> str | None:
    """For a name the file system cannot hold: the argument the user gave that it grew from, cut
    short (not a file inside it that nobody gave, thousands of characters long)."""
    if exc.errno != errno.ENAMETOOLONG or exc.filename is None:
        return None
    from iacsieve.io.output_policy import too_long_message

    name = os.fsdecode(exc.filename)
    return too_long_message(max((a for a in argv if a and name.startswith(a)), key=len, default=name))


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (`kill`, a CI timeout, `docker stop`) into an exception, so the same cleanup as
    for Ctrl-C runs: temp files and folders of unfinished artifacts are removed, not left behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
