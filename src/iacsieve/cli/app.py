"""`iacsieve <command>`: the one entry point that dvc.yaml, KFP components' users and people call.

Each command group lives in `iacsieve.cli.<group>` and registers its own subparsers, so a
command is a thin layer over one library function. User mistakes (IacsieveError) print one line
and exit non-zero; there is no traceback for them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from iacsieve import __version__
from iacsieve.errors import IacsieveError, Terminated
from iacsieve.extras import extra_for, missing_extra_message
from iacsieve.safe_text import terminal_safe

COMMAND_GROUPS: tuple[str, ...] = (
    "data",
    "steps",
    "pipeline",
    "filter",
    "champion",
    "kfp",
    "quality",
    "human",
)


def build_parser() -> argparse.ArgumentParser:
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
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        with sigterm_as_interrupt(), model_from_archive(args):
            return int(args.func(args) or 0)
    except IacsieveError as exc:
        # one line, always, and no escape sequence from a file name or a smell reaches the terminal
        print(f"iacsieve: error: {terminal_safe(' '.join(str(exc).splitlines()))}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:  # a light install reaching a command that needs an extra
        extra = extra_for(exc.name)
        if extra is None:
            raise
        print(f"iacsieve: error: {missing_extra_message(str(exc.name), extra)}", file=sys.stderr)
        return IacsieveError.exit_code
    except KeyboardInterrupt as exc:
        print(
            "iacsieve: interrupted; finished artifacts are kept, partial ones were discarded", file=sys.stderr
        )
        return 128 + signal.SIGTERM if isinstance(exc, Terminated) else 130


@contextlib.contextmanager
def model_from_archive(args: argparse.Namespace) -> Iterator[None]:
    """Commands that set `model_archive=True` (filter, review) take `--model` as a folder or a champion
    archive: an archive is verified against its manifest and unpacked to a temp folder for the run."""
    if not getattr(args, "model_archive", False) or Path(args.model).is_dir():
        yield
        return
    from iacsieve.release.archive import opened

    out = getattr(args, "out", None)
    if out not in (None, "-") and Path(out).resolve() == Path(args.model).resolve():
        raise IacsieveError(f"--out {out} is the champion archive --model; pick another name")

    with opened(args.model) as champion_dir:
        logging.getLogger("iacsieve").info("%s: verified against its SHA256SUMS", args.model)
        args.model = str(champion_dir)
        yield


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
