"""SARIF 2.1.0 for the warnings the filter keeps, so they load into code-scanning UIs.

Rule ids are canonical smell names (the detector's own code for smells outside the taxonomy); each
result points at the script (URI relative to `--scripts`) and the flagged line. No script text is
written: the message names the smell and the model's score only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from iacsieve import __version__

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "iacsieve"

# Human names of the canonical smells, for the rules' descriptions.
RULE_NAMES: dict[str, str] = {
    "hard_coded_secret": "Hard-coded secret",
    "suspicious_comment": "Suspicious comment",
    "use_of_http": "Use of HTTP without SSL/TLS",
    "weak_crypto": "Use of weak cryptography algorithms",
    "admin_by_default": "Admin by default",
    "empty_password": "Empty password",
    "unrestricted_ip": "Unrestricted IP address binding",
    "no_integrity_check": "No integrity check",
    "missing_default_case": "Missing default in case statement",
}


@dataclass(frozen=True)
class SarifRow:
    """One kept warning, as SARIF needs it."""

    rule_id: str  # canonical smell (or the detector's code when outside the taxonomy)
    uri: str  # script path relative to the scripts folder, POSIX separators
    line: int
    score: float | None  # None: passed through unscored
    detector_code: str
    security: bool = True


def to_sarif(rows: Sequence[SarifRow], *, threshold: float | None = None) -> dict:
    """A SARIF 2.1.0 log with one run: the rules used and one result per kept warning, in order."""
    rule_ids = list(dict.fromkeys(r.rule_id for r in rows))
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    security = {r.rule_id: r.security for r in rows}
    rules = [
        {
            "id": rule_id,
            "name": _camel(rule_id),
            "shortDescription": {"text": RULE_NAMES.get(rule_id, rule_id)},
            "defaultConfiguration": {"level": _level(security[rule_id])},
            "properties": {"tags": ["security"] if security[rule_id] else ["maintainability"]},
        }
        for rule_id in rule_ids
    ]
    results = [_result(row, index[row.rule_id], threshold) for row in rows]
    run = {
        "tool": {"driver": {"name": TOOL_NAME, "version": __version__, "rules": rules}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _result(row: SarifRow, rule_index: int, threshold: float | None) -> dict:
    name = RULE_NAMES.get(row.rule_id, row.rule_id)
    if row.score is None:
        reported = "" if row.detector_code == name else f"reported by the detector as {row.detector_code}; "
        text = f"{name} ({reported}not scored by the filter)."
    else:
        cut = "" if threshold is None else f" >= threshold {threshold:.2f}"
        text = f"{name}: likely a real smell (filter score {row.score:.3f}{cut})."
    properties: dict = {"detectorCode": row.detector_code}
    if row.score is not None:
        properties["score"] = round(float(row.score), 6)
    return {
        "ruleId": row.rule_id,
        "ruleIndex": rule_index,
        "level": _level(row.security),
        "message": {"text": text},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": uri_reference(row.uri), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": int(row.line)},
            }
        }],
        "properties": properties,
    }


def uri_reference(relative_path: str) -> str:
    """A relative path as a URI reference (percent-encoding spaces and other unsafe characters)."""
    return quote(relative_path, safe="/@!$&'()*+,;=:-._~")


def _level(security: bool) -> str:
    return "warning" if security else "note"


def _camel(rule_id: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in rule_id.replace("-", "_").split("_") if part)
