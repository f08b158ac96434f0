"""`--baseline`: the warnings an earlier run already reported, so CI reports (and gates on) new ones only.

The baseline is an earlier `iacsieve filter` output: SARIF (each result's `partialFingerprints`), or
CSV / JSONL (the `fingerprint` of each kept row). Matching is by fingerprint
(`iacsieve.filtering.fingerprint`), so warnings whose lines moved still match.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from iacsieve.core.errors import IacsieveError
from iacsieve.filtering.fingerprint import FINGERPRINT_KEY
from iacsieve.io.limits import DEFAULT, Limits
from iacsieve.io.reading import read_regular_bytes


def read_baseline(path: str | Path, limits: Limits = DEFAULT) -> frozenset[str]:
    """The fingerprints of the warnings an earlier run kept; IacsieveError (exit 2) for anything else."""
    path = Path(path)
    data = read_regular_bytes(path, max_bytes=limits.max_file_bytes, what="baseline file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IacsieveError(f"{path}: baseline is not UTF-8 text (byte {exc.start})") from None
    stripped = text.lstrip()
    if path.suffix == ".sarif" or (stripped.startswith("{") and '"runs"' in stripped[:4096]):
        return _from_sarif(path, text)
    if stripped.startswith("{"):
        return _from_jsonl(path, text)
    return _from_csv(path, text)


def _from_sarif(path: Path, text: str) -> frozenset[str]:
    try:
        log = json.loads(text)
        results = [r for run in log["runs"] for r in run.get("results", [])]
        found = {r["partialFingerprints"][FINGERPRINT_KEY] for r in results}
    except (ValueError, KeyError, TypeError, RecursionError):
        raise IacsieveError(
            f"{path}: not a SARIF log written by `iacsieve filter` (every result needs "
            f"partialFingerprints.{FINGERPRINT_KEY}); rerun the baseline with this version"
        ) from None
    return frozenset(str(f) for f in found)


def _from_jsonl(path: Path, text: str) -> frozenset[str]:
    found: set[str] = set()
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row["keep"]:
                found.add(str(row["fingerprint"]))
        except (ValueError, KeyError, TypeError, RecursionError):
            raise IacsieveError(
                f"{path}:{line_no}: not a row of `iacsieve filter` JSONL output (needs keep and fingerprint)"
            ) from None
    return frozenset(found)


def _from_csv(path: Path, text: str) -> frozenset[str]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or not {"keep", "fingerprint"} <= set(reader.fieldnames):
        raise IacsieveError(
            f"{path}: not `iacsieve filter` output: a baseline is an earlier run's SARIF, CSV or JSONL "
            f"(CSV/JSONL need the keep and fingerprint columns)"
        )
    try:
        return frozenset(row["fingerprint"] for row in reader if row["keep"] == "true" and row["fingerprint"])
    except csv.Error as exc:
        raise IacsieveError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None
