"""Each row proves its file and line: a GLITCH row is checked against the script before it is scored.

GLITCH prints paths unquoted, so a file named `init.pp,3,sec_hard_secr,x.pp` makes its row readable as
`init.pp` line 3; and a line number can be stale (the file changed since the scan) or a path can name a
deleted file whose tail matches another. Two checks, where the row gives what they need:

- **Which reading**: of a row's readings (`Detection.alternatives`), the ones whose script exists under
  --scripts; of several, the ones whose snippet agrees with their line. One left: that reading. None or
  several: the row is kept unscored (`ambiguous_row`), never settled by position alone.
- **Snippet against line**: GLITCH's snippet is its own rendering (`$password:'x'`, `key:"value"`, a
  comment's text), not the line: it agrees when its name (or, for other snippets, one of its words)
  is on the line, or on the lines of the block the line opens (GLITCH reports some attributes at
  their resource's line), or (a statement's head, all its words) just above it. A row that disagrees is re-pointed to the one line of its script that holds
  the snippet's name and value, or kept unscored (`snippet_mismatch`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from iacsieve.filtering.detections import Detection
from iacsieve.filtering.scripts import ScriptFolder, ScriptProblem

AMBIGUOUS, MISMATCH = "ambiguous_row", "snippet_mismatch"
BLOCK_LINES = 30  # lines after a block-opening line where GLITCH's attribute may sit
LINES_ABOVE = 2  # GLITCH reports a `case` at its first branch: its head is this close above
_ASSIGNMENT = re.compile(
    r"""^\$?(?P<key>[A-Za-z_][\w:.\-\[\]]*?)\s*:\s*(?P<q>['"])(?P<value>.*)(?P=q)$""", re.S
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_OPENS_BLOCK = re.compile(r"(\{|\bdo\b|:)\s*(#.*)?$|\{")


def settle(det: Detection, folder: ScriptFolder) -> Detection:
    """The reading of a GLITCH row that exists under --scripts; ScriptProblem(ambiguous_row) when the
    script cannot tell which (several exist and their snippets do not single one out)."""
    if not det.alternatives:
        return det
    readings = [det, *det.alternatives]
    found = [r for r in readings if _resolves(r, folder)]
    if len(found) == 1:
        return found[0]
    if not found:
        return det  # nothing exists: the usual missing-script handling names the first reading
    agreeing = [r for r in found if _agrees(r, folder)]
    if len(agreeing) == 1:
        return agreeing[0]
    names = ", ".join(repr(r.file) for r in found)
    raise ScriptProblem(
        AMBIGUOUS, f"the unquoted row reads as {len(found)} files that exist ({names}); kept unscored"
    )


def checked(det: Detection, folder: ScriptFolder, script: Path) -> Detection:
    """`det` when its snippet agrees with its line (or says nothing to check), else `det` re-pointed to the
    one line of the script that holds the snippet; ScriptProblem(snippet_mismatch) when there is none
    or several."""
    snippet = str(det.values.get("snippet") or "").strip()
    if not snippet or det.line < 1 or det.non_security:
        return det
    _, lines = folder.line(script, det.line)
    if _agrees_with(snippet, lines, det.line):
        return det
    candidates = [n for n in range(1, len(lines) + 1) if _holds(snippet, lines[n - 1])]
    if len(candidates) == 1:
        return replace(det, line=candidates[0])
    where = f"{len(candidates)} lines hold it" if candidates else "no line of the script holds it"
    raise ScriptProblem(
        MISMATCH,
        f"the detector's snippet does not match line {det.line} of {folder.relative(script)} ({where}); "
        "kept unscored",
    )


def _resolves(det: Detection, folder: ScriptFolder) -> bool:
    try:
        folder.resolve(det.file)
    except ScriptProblem:
        return False
    return True


def _agrees(det: Detection, folder: ScriptFolder) -> bool:
    snippet = str(det.values.get("snippet") or "").strip()
    try:
        _, lines = folder.line(folder.resolve(det.file), det.line)
    except ScriptProblem:
        return False
    return det.line == -1 or not snippet or _agrees_with(snippet, lines, det.line)


def _agrees_with(snippet: str, lines: list[str], line: int) -> bool:
    """The snippet's name (or a word of it) is on the line, or in the block the line opens."""
    words = _names(snippet)
    if not words:
        return True  # nothing to compare: a snippet of symbols only
    text = lines[line - 1].lower()
    if any(w in text for w in words):
        return True
    if not _ASSIGNMENT.match(snippet):  # a statement's head (`case $x`) sits just above its first branch
        above = " ".join(lines[max(0, line - 1 - LINES_ABOVE) : line - 1]).lower()
        if words and all(w in above for w in words):
            return True
    if _OPENS_BLOCK.search(text.rstrip()):
        block = " ".join(lines[line : line + BLOCK_LINES]).lower()
        return any(w in block for w in words)
    return False


def _holds(snippet: str, text: str) -> bool:
    """A line that holds the snippet: its name and its value (an assignment), or all its words."""
    low = text.lower()
    match = _ASSIGNMENT.match(snippet)
    if match:
        value = match["value"].strip().lower()
        return _key(match["key"]) in low and (not value or value in low)
    words = _WORD.findall(snippet.lower())
    return bool(words) and all(w in low for w in words)


def _names(snippet: str) -> list[str]:
    match = _ASSIGNMENT.match(snippet)
    if match:
        return [_key(match["key"])]
    return [w for w in _WORD.findall(snippet.lower()) if w not in {"true", "false", "nil", "undef", "none"}]


def _key(key: str) -> str:
    """`$a::b[c]` -> `b`: the name as the line spells it."""
    return re.split(r"::|\.", key.split("[")[0].lstrip("$"))[-1].lower()
