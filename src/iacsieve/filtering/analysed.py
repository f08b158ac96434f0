"""Files the detector did not analyse, and what a run says about them.

A detector that cannot parse a file says so on stderr and goes on; its CSV then has no row for that file,
which reads like "nothing found". `iacsieve scan` turns every such file into a `NotAnalysed` entry: named
in the summary, a SARIF `invocations[0].toolExecutionNotifications` entry (code scanning lists them as
tool errors), and a gate of its own (`iacsieve.filtering.gate`), so a green gate never covers a file
nobody read.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from iacsieve.filtering.sarif import uri_reference
from iacsieve.filtering.scripts import ScriptFolder, ScriptProblem

UNNAMED = ""  # a traceback that names no script: counted, listed by its message
MAX_LISTED = 200  # entries the JSON summary lists one by one (all are counted)


@dataclass(frozen=True)
class NotAnalysed:
    """One file the detector did not analyse."""

    file: str  # as the detector named it (UNNAMED when it named none)
    reason: str  # could_not_parse, not_a_playbook, ..., traceback, no_ruby
    message: str  # the detector's own line, for people (one line)


def location(item: NotAnalysed, folder: ScriptFolder) -> str | None:
    """The file's path relative to --scripts (POSIX), or None when the detector named none."""
    if item.file == UNNAMED:
        return None
    try:
        return folder.relative(folder.resolve(item.file))
    except ScriptProblem:
        return folder.mapped(item.file).as_posix()


def notifications(items: Sequence[NotAnalysed], folder: ScriptFolder, base: Path) -> list[dict]:
    """SARIF `toolExecutionNotifications`, one per file, URIs relative to `base` like the results'."""
    prefix = folder.root.relative_to(base).as_posix()
    found = []
    for item in items:
        note: dict = {
            "level": "error",
            "message": {"text": f"Not analysed by the detector ({item.reason}): {item.message}"},
            "descriptor": {"id": f"not-analysed/{item.reason}"},
        }
        where = location(item, folder)
        if where is not None:
            uri = where if prefix == "." else posixpath.join(prefix, where)
            note["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri_reference(uri), "uriBaseId": "%SRCROOT%"}
                    }
                }
            ]
        found.append(note)
    return found


def summary_fields(items: Sequence[NotAnalysed], folder: ScriptFolder) -> dict:
    """The summary's not-analysed counts and the first MAX_LISTED files."""
    return {
        "not_analysed": len(items),
        "not_analysed_by_reason": dict(sorted(Counter(i.reason for i in items).items())),
        "not_analysed_files": [
            {"file": location(i, folder), "reason": i.reason, "message": i.message}
            for i in items[:MAX_LISTED]
        ],
    }
