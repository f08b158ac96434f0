"""Bounds on what one input may cost, so a hostile or careless file fails fast instead of hanging.

Each limit has a default that real inputs stay far below and a flag to raise it (README, "Limits").
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from iacsieve.core.errors import IacsieveError
from iacsieve.core.json_values import is_int

MiB = 1 << 20
_SIZE = re.compile(r"^\s*([0-9]{1,15})\s*([kKmMgG]?)i?[bB]?\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


@dataclass(frozen=True)
class Limits:
    """The defaults hold GLITCH's output for large monorepos with room to spare."""

    max_file_bytes: int = 512 * MiB  # --max-file-size: a detections, data or script file
    max_rows: int = 2_000_000  # --max-rows: rows of a detections or data file
    max_path_chars: int = 4096  # --max-path-length: a script path in a detections row (Linux PATH_MAX)
    max_line_chars: int = 4096  # --max-line-length: a script line given to a model (longer ones are cut)

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_rows", "max_path_chars", "max_line_chars"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise IacsieveError(f"{FLAGS[name]} must be a positive integer, got {value!r}")

    def check_rows(self, path: object, line_no: int, rows: int) -> None:
        """IacsieveError when a file's `rows`-th row (at `line_no`) is past `max_rows`."""
        if rows > self.max_rows:
            raise IacsieveError(
                f"{path}:{line_no}: more than {self.max_rows} rows; raise the limit with {FLAGS['max_rows']}"
            )


FLAGS: dict[str, str] = {
    "max_file_bytes": "--max-file-size",
    "max_rows": "--max-rows",
    "max_path_chars": "--max-path-length",
    "max_line_chars": "--max-line-length",
}
DEFAULT = Limits()
# A JSON/metadata file (model_meta.json, champion.json, a step's summary) is small; this is generous.
MAX_JSON_FILE_BYTES = 64 * MiB


def parse_size(text: str) -> int:
    """`512M`, `2G`, `4096` (bytes) -> bytes; for `--max-file-size`."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size such as 4096, 64K, 512M or 2G, got {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def positive_int(text: str) -> int:
    """An argparse type: a positive integer (ASCII digits)."""
    if not re.fullmatch(r"[0-9]{1,15}", text.strip()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def add_limit_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    """Add the flags of the limits `names` (field names of Limits) with their documented defaults."""
    helps = {
        "max_file_bytes": ("SIZE", parse_size, "largest file read (detections, data, a script), e.g. 2G"),
        "max_rows": ("N", positive_int, "most rows read from a detections or data file"),
        "max_path_chars": ("N", positive_int, "longest script path in a detections row, in characters"),
        "max_line_chars": (
            "N",
            positive_int,
            "script lines longer than this are cut before scoring (and counted in the summary)",
        ),
    }
    for name in names:
        metavar, kind, text = helps[name]
        parser.add_argument(
            FLAGS[name],
            dest=name,
            type=kind,
            default=getattr(DEFAULT, name),
            metavar=metavar,
            help=f"{text} (default: {_human(name, getattr(DEFAULT, name))})",
        )


def limits_from_args(args: argparse.Namespace) -> Limits:
    """Limits from the flags `add_limit_flags` added (absent ones keep their default)."""
    return Limits(**{name: getattr(args, name) for name in FLAGS if hasattr(args, name)})


def _human(name: str, value: int) -> str:
    if name == "max_file_bytes" and value % MiB == 0:
        return f"{value // MiB}M"
    return str(value)


def shorten(value: object, width: int = 60) -> str:
    """`repr(value)` cut to `width` characters, so an error about a huge value stays one short line."""
    text = repr(value)
    return text if len(text) <= width else f"{text[:width]}... ({len(text)} characters)"
