"""Text from users' files, made safe for the two places people read it: a spreadsheet and a terminal.

- A CSV cell that starts with `=`, `+`, `-`, `@`, TAB or CR is a formula to Excel, LibreOffice and
  Google Sheets (OWASP "CSV injection"): `neutralise_cell` prefixes such a cell with a single quote,
  which spreadsheets show as text, and `restore_cell` takes exactly that quote off again when the
  sheet comes back, so a script line such as `- name: x` survives the round trip unchanged.
- A smell name or file name may carry ANSI/OSC escape sequences (colour, cursor moves, a terminal
  title, a hyperlink): `terminal_safe` shows every control character as a visible escape instead.
"""

from __future__ import annotations

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise_cell(text: str) -> str:
    """`text` as a spreadsheet shows it verbatim: a leading quote when it would start a formula.

    A cell that already starts with a quote gets one more, so `restore_cell` is an exact inverse.
    """
    if text.startswith(FORMULA_STARTS) or text.startswith(QUOTE):
        return QUOTE + text
    return text


def restore_cell(text: str) -> str:
    """The cell as `neutralise_cell` received it (one added quote taken off, nothing else)."""
    if text.startswith(QUOTE) and (text[1:].startswith(FORMULA_STARTS) or text[1:].startswith(QUOTE)):
        return text[1:]
    return text


def terminal_safe(text: str) -> str:
    """`text` with every control character (C0, DEL, C1, bidi overrides) and every lone surrogate (a
    file name that is not UTF-8) shown as `\\xNN`/`\\uNNNN`; newlines included, so one value stays on
    one line, no escape sequence reaches the terminal, and printing never fails on encoding."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if (
            code < 0x20
            or 0x7F <= code < 0xA0
            or 0xD800 <= code < 0xE000
            or ch in "\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
        ):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
