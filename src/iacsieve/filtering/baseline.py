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
    problem = f"{path}: not a SARIF log written by `iacsieve filter`"
    try:
        log = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise IacsieveError(f"{problem}: not JSON ({exc})") from None
    runs = log.get("runs") if isinstance(log, dict) else None
    if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
        raise IacsieveError(f"{problem}: 'runs' must be a list of objects")
    found: set[str] = set()
    for i, run in enumerate(runs):
        results = run.get("results", [])
        if not isinstance(results, list):
            raise IacsieveError(f"{problem}: runs[{i}].results must be a list")
        for j, result in enumerate(results):
            prints = result.get("partialFingerprints") if isinstance(result, dict) else None
            value = prints.get(FINGERPRINT_KEY) if isinstance(prints, dict) else None
            if not isinstance(value, str) or not value:
                raise IacsieveError(
                    f"{problem}: runs[{i}].results[{j}] has no partialFingerprints.{FINGERPRINT_KEY} "
                    f"string; rerun the baseline with this version"
                )
            found.add(value)
    return frozenset(found)


def _from_jsonl(path: Path, text: str) -> frozenset[str]:
    found: set[str] = set()
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            row = None
        keep = row.get("keep") if isinstance(row, dict) else None
        fingerprint = row.get("fingerprint") if isinstance(row, dict) else None
        if not isinstance(keep, bool) or not isinstance(fingerprint, str):
            raise IacsieveError(
                f"{path}:{line_no}: not a row of `iacsieve filter` JSONL output (needs keep: true/false "
                f"and a fingerprint string; got keep {json.dumps(keep)[:20]})"
            )
        if keep and fingerprint:
            found.add(fingerprint)
    return frozenset(found)


def _from_csv(path: Path, text: str) -> frozenset[str]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or not {"keep", "fingerprint"} <= set(reader.fieldnames):
        raise IacsieveError(
            f"{path}: not `iacsieve filter` output: a baseline is an earlier run's SARIF, CSV or JSONL "
            f"(CSV/JSONL need the keep and fingerprint columns)"
        )
    found: set[str] = set()
    try:
        for row in reader:
            if row["keep"] not in ("true", "false"):
                raise IacsieveError(
                    f"{path}:{reader.line_num}: column keep must be true or false (as `iacsieve filter` "
                    f"writes it), got {json.dumps(row['keep'])[:20]}"
                )
            if row["keep"] == "true" and row["fingerprint"]:
                found.add(row["fingerprint"])
    except csv.Error as exc:
        raise IacsieveError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None
    return frozenset(found)
