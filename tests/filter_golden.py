"""The filter's outputs on the real GLITCH fixtures, recorded once (tests/fixtures/filter-golden) so a
change to how the champion is stored or scored can prove it changes no byte of what users get.

The champion: classical, trained on the trimmed prepared data (conftest's `prepared_small`) and frozen
by the real `freeze` step (so it carries the evidence index). Outputs per technology: CSV, JSONL, SARIF
(every kept smell plus the dropped ones as suppressed results), the `--explain` JSONL, and the
`iacsieve explain` page of the first three scored rows. The one value that may change is SARIF's
`championSha256` (a hash over the champion's files, which a new champion format adds to): it is
replaced by a placeholder before comparing. The provenance properties the gate work added after the
recording (`championSource`, `championSha256Of`, `packageVersion`: issue 27) are taken out before
comparing too; every other byte must be as recorded.

To record again (only when an output is meant to change): `IACSIEVE_GOLDEN_OUT=/tmp/golden python -m
pytest tests/test_filter_golden.py`, then copy /tmp/golden over tests/fixtures/filter-golden.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from iacsieve.core.run_config import TrainConfig
from iacsieve.filtering import filter_detections
from iacsieve.filtering.explain_page import explain_warning, render_page
from iacsieve.steps.freeze import freeze
from iacsieve.steps.train import train

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = FIXTURES / "glitch-real"
GOLDEN = FIXTURES / "filter-golden"
TECHS = ("ansible", "chef", "puppet")
PAGES = 3  # explain pages recorded per technology
WIDTH = 120
_SHA = re.compile(r'("championSha256": ")[0-9a-f]{64}(")')
_PROVENANCE = re.compile(r',\n\s*"(?:championSource|championSha256Of|packageVersion)": "[^"\n]*"')


def golden_champion(root: Path, prepared: Path) -> Path:
    """Train the classical family on `prepared` and freeze it into `root/champion`."""
    run = train(TrainConfig(family="classical"), prepared, root / "classical_golden")
    selection = root / "selection.json"
    selected = {
        "run": run.name,
        "family": "classical",
        "run_dir": str(run),
        "config": {"family": "classical"},
        "threshold": 0.5,
        "threshold_source": "argmax",
        "val_f1": 0.0,
        "test": {},
    }
    selection.write_text(json.dumps({"selected": selected, "mode": "best"}), encoding="utf-8")
    return freeze(selection, root / "champion", data_dir=prepared)


def normalise(name: str, data: bytes) -> bytes:
    """SARIF's champion hash replaced by a placeholder (it hashes the champion's files)."""
    if name.endswith(".sarif"):
        text = _SHA.sub(lambda m: m.group(1) + "0" * 64 + m.group(2), data.decode("utf-8"))
        return _PROVENANCE.sub("", text).encode("utf-8")
    return data


def record(champion: Path, work: Path) -> dict[str, bytes]:
    """Every golden output (file name -> bytes) of `champion` on the real fixtures."""
    out: dict[str, bytes] = {}
    for tech in TECHS:
        detections, scripts = REAL / f"{tech}-glitch.csv", REAL / tech
        common = {"model_label": "champion"}
        filter_detections(champion, detections, scripts, work / f"{tech}.csv", **common)
        filter_detections(
            champion,
            detections,
            scripts,
            work / f"{tech}.jsonl",
            explain=work / f"{tech}.explain.jsonl",
            **common,
        )
        filter_detections(
            champion,
            detections,
            scripts,
            work / f"{tech}.sarif",
            sarif_all=True,
            sarif_suppressed=True,
            uri_base=scripts,
            **common,
        )
        for suffix in (".csv", ".jsonl", ".explain.jsonl", ".sarif"):
            name = f"{tech}{suffix}"
            out[name] = normalise(name, (work / name).read_bytes())
        scored = [
            json.loads(line)
            for line in out[f"{tech}.explain.jsonl"].decode("utf-8").splitlines()
            if json.loads(line)["status"] == "scored"
        ]
        for entry in scored[:PAGES]:
            page = render_page(
                explain_warning(champion, scripts, detections=detections, row=entry["row"]), WIDTH
            )
            out[f"{tech}.explain-row{entry['row']}.txt"] = page.encode("utf-8")
    return out
