"""SARIF 2.1.0 for the warnings the filter keeps, in the shape code-scanning UIs accept.

Rule ids are canonical smell names (the detector's own code for smells outside the taxonomy); each
rule carries the taxonomy's name, help text, CWE tags and a `security-severity` (GitHub ranks alerts
by it). Each result points at the script (URI relative to the base `iacsieve.filtering.uri_base`
chooses) and the flagged line, carries a line-shift tolerant `partialFingerprints` entry, and is the
only result for its (file, line, smell): GLITCH's secret, password and user codes on one line become
one result listing the codes. Every result has a location, also when the script was not found (its
best-guess place under --scripts). The run records the model, its SHA-256, the threshold and where
that threshold came from. No script text is written: messages name the smell and the score only.

The log is written as a stream (`sarif_chunks`): results first, rules once all are known.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from iacsieve import __version__
from iacsieve.core.smells import canonical_smell, smell_info
from iacsieve.filtering.fingerprint import FINGERPRINT_KEY

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "iacsieve"
TOOL_URI = "https://github.com/iacsieve/iacsieve"
CWE_URI = "https://cwe.mitre.org/data/definitions/{}.html"
DEFAULT_CATEGORY = "iacsieve"
# GitHub's scale (0-10: >= 9 critical, >= 7 high, >= 4 medium, else low), from the CWE's usual impact.
SECURITY_SEVERITY: dict[str, str] = {
    "hard_coded_secret": "7.5",
    "empty_password": "7.5",
    "admin_by_default": "6.5",
    "weak_crypto": "5.9",
    "no_integrity_check": "5.9",
    "use_of_http": "5.3",
    "unrestricted_ip": "5.3",
    "suspicious_comment": "3.1",
    "missing_default_case": "3.1",
}
UNKNOWN_SEVERITY = "5.0"  # a security code outside the taxonomy: medium until someone says otherwise
DEDUP_WINDOW = 4096  # results held back to merge duplicates (GLITCH writes a line's codes together)


@dataclass(frozen=True)
class SarifRow:
    """One kept warning, as SARIF needs it."""

    rule_id: str  # canonical smell (or the detector's code when outside the taxonomy)
    uri: str  # script path relative to the URI base, POSIX separators
    line: int  # 1-based, or -1 for a whole-file smell
    score: float | None  # None: passed through unscored
    detector_code: str
    security: bool = True
    fingerprint: str = ""
    found: bool = True  # False: the script was not found; `uri` is where it would be
    new: bool | None = None  # with --baseline: True (not in it); None: no baseline given
    evidence: dict | None = None  # why it was kept or dropped (iacsieve.filtering.evidence), in properties
    suppression: str | None = None  # dropped by the filter: the reason, as an external suppression


@dataclass(frozen=True)
class RunInfo:
    """What the run records about how its verdicts were made."""

    threshold: float | None = None
    threshold_source: str = ""
    model: str = ""
    family: str = ""
    champion_sha256: str = ""
    category: str = DEFAULT_CATEGORY
    extra: dict = field(default_factory=dict)


def sarif_chunks(
    rows: Iterable[SarifRow], info: RunInfo = RunInfo(), counts: dict | None = None
) -> Iterator[str]:
    """The SARIF log as text chunks, one result per (uri, line, rule), rows consumed one at a time;
    `counts["results"]` says how many results it held once the last chunk is out (`counts["suppressed"]`:
    how many of them are suppressed).
    Long because it is one generator streaming one JSON document: its state lives across the yields."""
    rule_index: dict[str, int] = {}
    security: dict[str, bool] = {}
    held: OrderedDict[tuple[str, int, str], dict] = OrderedDict()
    emitted: set[int] = set()
    first = True
    yield (
        f'{{\n  "$schema": {json.dumps(SARIF_SCHEMA)},\n  "version": "{SARIF_VERSION}",\n'
        f'  "runs": [\n    {{\n      "results": ['
    )

    def emit(result: dict) -> str:
        nonlocal first
        text = ("\n" if first else ",\n") + "        " + json.dumps(result, ensure_ascii=False)
        first = False
        return text

    for row in rows:
        key = (row.uri, row.line, row.rule_id)
        if key in held:
            codes = held[key]["properties"]["detectorCodes"]
            if row.detector_code not in codes:
                codes.append(row.detector_code)
            continue
        if hash(key) in emitted and key not in held:
            continue  # a duplicate further away than the window: already reported
        if row.rule_id not in rule_index:
            rule_index[row.rule_id] = len(rule_index)
            security[row.rule_id] = row.security
        held[key] = _result(row, rule_index[row.rule_id], info.threshold)
        if row.suppression is not None and counts is not None:  # --sarif-suppressed: a dropped warning
            counts["suppressed"] = counts.get("suppressed", 0) + 1
        if len(held) > DEDUP_WINDOW:
            old_key, result = held.popitem(last=False)
            emitted.add(hash(old_key))
            yield emit(result)
    for result in held.values():
        yield emit(result)
    if counts is not None:
        counts["results"] = len(emitted) + len(held)
    rules = [_rule(rule_id, security[rule_id]) for rule_id in rule_index]
    run_tail = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": TOOL_URI,
                "rules": rules,
            }
        },
        "automationDetails": {"id": f"{info.category.strip('/')}/"},
        "columnKind": "unicodeCodePoints",
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root."}}},
        "properties": _run_properties(info),
    }
    tail = json.dumps(run_tail, indent=2, ensure_ascii=False)
    indented = "\n".join("      " + ln for ln in tail[1:-1].strip("\n").splitlines())
    yield ("\n      " if not first else "") + "],\n" + indented + "\n    }\n  ]\n}\n"


def to_sarif(rows: Iterable[SarifRow], info: RunInfo = RunInfo()) -> dict:
    """The whole log as a dict (small inputs, tests)."""
    return json.loads("".join(sarif_chunks(rows, info)))


def _run_properties(info: RunInfo) -> dict:
    props = {
        "model": info.model,
        "family": info.family,
        "championSha256": info.champion_sha256,
        "threshold": info.threshold,
        "operatingPoint": info.threshold_source,
    }
    return {**props, **info.extra}


def security_severity(rule_id: str) -> str:
    """GitHub's `security-severity` for a rule (a number 0-10 as a string)."""
    return SECURITY_SEVERITY.get(canonical_smell(rule_id) or "", UNKNOWN_SEVERITY)


def _rule(rule_id: str, security: bool) -> dict:
    info = smell_info(rule_id)
    cwe = [f"CWE-{n}" for n in info.cwe]
    help_text = info.help + (f" ({', '.join(cwe)})" if cwe else "")
    links = "".join(f" [{c}]({CWE_URI.format(n)})" for c, n in zip(cwe, info.cwe))
    properties: dict = {
        "tags": (["security"] + [f"external/cwe/cwe-{n}" for n in info.cwe])
        if security
        else ["maintainability"],
        "precision": "medium",
    }
    if security:
        properties["security-severity"] = security_severity(rule_id)
    rule = {
        "id": rule_id,
        "name": _camel(rule_id),
        "shortDescription": {"text": _sentence(info.name)},
        "fullDescription": {"text": _sentence(info.help)},
        "help": {"text": help_text, "markdown": f"**{info.name}**. {info.help}{links}"},
        "defaultConfiguration": {"level": _level(security)},
        "properties": properties,
    }
    if info.cwe:
        rule["helpUri"] = CWE_URI.format(info.cwe[0])
    return rule


def _result(row: SarifRow, rule_index: int, threshold: float | None) -> dict:
    name = smell_info(row.rule_id).name
    where = " (the whole file)" if row.line < 1 else ""
    if row.score is None:
        reported = "" if row.detector_code == name else f"reported by the detector as {row.detector_code}; "
        missing = "" if row.found else "script not found under --scripts; "
        text = f"{name}{where} ({reported}{missing}not scored by the filter)."
    else:
        kept = row.suppression is None
        cut = "" if threshold is None else f" {'>=' if kept else '<'} threshold {threshold:.2f}"
        verdict = "likely a real smell" if kept else "likely a false alarm, suppressed by the filter"
        text = f"{name}{where}: {verdict} (filter score {row.score:.3f}{cut})."
    properties: dict = {"detectorCodes": [row.detector_code]}
    if row.score is not None:
        properties["score"] = round(float(row.score), 6)
    if not row.found:
        properties["scriptFound"] = False
    if row.evidence is not None:
        properties["evidence"] = row.evidence
    physical: dict = {"artifactLocation": {"uri": uri_reference(row.uri), "uriBaseId": "%SRCROOT%"}}
    physical["region"] = {"startLine": max(int(row.line), 1)}
    result = {
        "ruleId": row.rule_id,
        "ruleIndex": rule_index,
        "level": _level(row.security),
        "message": {"text": text},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT_KEY: row.fingerprint},
        "properties": properties,
    }
    if row.new is not None:
        result["baselineState"] = "new" if row.new else "unchanged"
    if row.suppression is not None:
        result["suppressions"] = [{"kind": "external", "justification": row.suppression}]
    return result


def uri_reference(relative_path: str) -> str:
    """A relative path as a URI reference (percent-encoding spaces and other unsafe characters)."""
    return quote(relative_path, safe="/@!$&'()*+,;=-._~")


def _sentence(text: str) -> str:
    """SARIF's style rules want descriptions that end like sentences."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _level(security: bool) -> str:
    return "warning" if security else "note"


def _camel(rule_id: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in rule_id.replace("-", "_").split("_") if part)
