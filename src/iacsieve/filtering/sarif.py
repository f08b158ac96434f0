"""SARIF 2.1.0 for the warnings the filter keeps, so they load into code-scanning UIs.

Rule ids are canonical smell names (the detector's own code for smells outside the taxonomy); each
rule carries the taxonomy's name, help text and CWE tags (`iacsieve.smells.smell_info`). Each result
points at the script (URI relative to the base `iacsieve.filtering.uri_base` chooses) and the flagged
line. Security smells are warnings; code-quality smells, when included at all, are notes. No script
text is written: the message names the smell and the model's score only, and the evidence in a
result's properties (and a suppression's justification) cites neighbours by file:line, without their
code or the n-grams of the line. Dropped warnings appear only with `--sarif-suppressed`, each with an
external suppression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from iacsieve import __version__
from iacsieve.smells import smell_info

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "iacsieve"
CWE_URI = "https://cwe.mitre.org/data/definitions/{}.html"


@dataclass(frozen=True)
class SarifRow:
    """One kept warning, as SARIF needs it."""

    rule_id: str  # canonical smell (or the detector's code when outside the taxonomy)
    uri: str | None  # script path relative to the URI base, POSIX separators; None: no location
    line: int
    score: float | None  # None: passed through unscored
    detector_code: str
    security: bool = True
    evidence: dict | None = None  # why it was kept or dropped (iacsieve.filtering.evidence), in properties
    suppression: str | None = None  # dropped by the filter: the reason, as an external suppression


def to_sarif(rows: Sequence[SarifRow], *, threshold: float | None = None) -> dict:
    """A SARIF 2.1.0 log with one run: the rules used and one result per kept warning, in order."""
    rule_ids = list(dict.fromkeys(r.rule_id for r in rows))
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    security = {r.rule_id: r.security for r in rows}
    rules = [_rule(rule_id, security[rule_id]) for rule_id in rule_ids]
    results = [_result(row, index[row.rule_id], threshold) for row in rows]
    run = {
        "tool": {"driver": {"name": TOOL_NAME, "version": __version__, "rules": rules}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _rule(rule_id: str, security: bool) -> dict:
    info = smell_info(rule_id)
    cwe = [f"CWE-{n}" for n in info.cwe]
    help_text = info.help + (f" ({', '.join(cwe)})" if cwe else "")
    links = "".join(f" [{c}]({CWE_URI.format(n)})" for c, n in zip(cwe, info.cwe))
    rule = {
        "id": rule_id,
        "name": _camel(rule_id),
        "shortDescription": {"text": info.name},
        "fullDescription": {"text": info.help},
        "help": {"text": help_text, "markdown": f"**{info.name}**. {info.help}{links}"},
        "defaultConfiguration": {"level": _level(security)},
        "properties": {
            "tags": (["security"] + [f"external/cwe/cwe-{n}" for n in info.cwe])
            if security
            else ["maintainability"]
        },
    }
    if info.cwe:
        rule["helpUri"] = CWE_URI.format(info.cwe[0])
    return rule


def _result(row: SarifRow, rule_index: int, threshold: float | None) -> dict:
    name = smell_info(row.rule_id).name
    if row.score is None:
        reported = "" if row.detector_code == name else f"reported by the detector as {row.detector_code}; "
        text = f"{name} ({reported}not scored by the filter)."
    else:
        kept = row.suppression is None
        cut = "" if threshold is None else f" {'>=' if kept else '<'} threshold {threshold:.2f}"
        verdict = "likely a real smell" if kept else "likely a false alarm, suppressed by the filter"
        text = f"{name}: {verdict} (filter score {row.score:.3f}{cut})."
    properties: dict = {"detectorCode": row.detector_code}
    if row.score is not None:
        properties["score"] = round(float(row.score), 6)
    if row.evidence is not None:
        properties["evidence"] = row.evidence
    locations = (
        []
        if row.uri is None
        else [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri_reference(row.uri), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": int(row.line)},
                }
            }
        ]
    )
    result = {
        "ruleId": row.rule_id,
        "ruleIndex": rule_index,
        "level": _level(row.security),
        "message": {"text": text},
        "locations": locations,
        "properties": properties,
    }
    if row.suppression is not None:
        result["suppressions"] = [{"kind": "external", "justification": row.suppression}]
    return result


def uri_reference(relative_path: str) -> str:
    """A relative path as a URI reference (percent-encoding spaces and other unsafe characters)."""
    return quote(relative_path, safe="/@!$&'()*+,;=:-._~")


def _level(security: bool) -> str:
    return "warning" if security else "note"


def _camel(rule_id: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in rule_id.replace("-", "_").split("_") if part)
