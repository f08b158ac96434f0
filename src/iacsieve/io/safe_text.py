"""Text from untrusted files made safe for where people read it: spreadsheets and terminals.

A detections file, a script or a sheet comes from anyone's repository: a cell starting with `=` runs
as a formula when a reviewer opens the CSV in a spreadsheet (OWASP "CSV injection"), and an escape
sequence in a file name rewrites the reviewer's terminal (colours, titles, hyperlinks, the clipboard
via OSC 52). Both helpers are pure and reversible where it matters (`unneutralise_cell`).
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

# OWASP: cells beginning with these are read as formulas (TAB and CR too, by some spreadsheets).
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"  # the prefix OWASP recommends; spreadsheets show the rest as text

# C0 controls (but TAB), DEL and the C1 controls (0x80-0x9f: a lone 0x9b is a CSI on many terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def neutralise_cell(value: str) -> str:
    """`value` with a leading `'` when a spreadsheet would read it as a formula.

    A plain negative number (`-1`, a line number GLITCH writes for whole-file smells) and a lone `-`
    (GLITCH's "no message") are left as they are: neither is a formula, and both read back unchanged.
    """
    if value.startswith(FORMULA_STARTS) and value != "-" and not _is_number(value):
        return NEUTRALISER + value
    return value


def unneutralise_cell(value: str) -> str:
    """The original text of a cell `neutralise_cell` wrote (for reading a sheet back)."""
    rest = value[1:]
    if (
        value.startswith(NEUTRALISER)
        and rest.startswith(FORMULA_STARTS)
        and rest != "-"
        and not _is_number(rest)
    ):
        return rest
    return value


def terminal_safe(text: object) -> str:
    """`text` with every control character (ESC, BEL, CR, newlines, C1) shown as a `\\xNN` escape, so
    a user-controlled string printed to a terminal cannot move the cursor, recolour, retitle or link."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip() == value and value.lower().lstrip("+-") not in ("inf", "infinity", "nan")


def print_safe(text: str, file: TextIO | None = None) -> None:
    """Print lines that hold names from users' files (scripts, sheets): escape sequences shown, not run."""
    print("\n".join(terminal_safe(line) for line in text.split("\n")), file=file or sys.stdout)
