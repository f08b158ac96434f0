"""Evidence for every filter decision: why a warning was kept or dropped, in words and in full.

An auditor (or the engineer whose secret leaked) will ask "why did the tool drop this one?". Per
scored warning the champion gives: its score, the threshold in force and where it came from, the
margin; the k most alike labelled training warnings of the same smell (file:line in the training
data, label, who labelled it, similarity; `iacsieve.models.evidence_index`, saved with the champion);
and, for the classical family, the features that moved the score most. Evidence is computed once per
distinct model input (the filter's dedup), so a 400k-row input costs the index only its distinct lines.

Outputs: `reason` (one short line: the CSV/JSONL column, the SARIF suppression's justification, the
review sheet's column) and `to_dict()` (the full evidence: `--explain FILE.jsonl`, SARIF properties).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from iacsieve.core.layout import CHAMPION_FILE
from iacsieve.data.records import WarningRecord
from iacsieve.filtering.champion import Champion
from iacsieve.filtering.scripts import LINE_OUTSIDE
from iacsieve.filtering.verdicts import FilteredRow, Status, score_comparison
from iacsieve.io.atomic import output_mode
from iacsieve.models.evidence_index import (
    CARD_KEY,
    ROWS_FILE,
    VECTORS_FILE,
    EvidenceIndex,
    index_text,
    load_index,
)

NEIGHBOURS = 3  # nearest labelled training warnings per decision
FEATURES = 5  # classical family: the features that moved the score most
REASON_FEATURES = 3  # ...of which the short reason names this many


@dataclass(frozen=True)
class Neighbour:
    """A labelled training warning alike to the one judged."""

    file: str
    line: int
    tech: str
    label: str  # TP (real smell) | FP (false alarm)
    label_source: str  # "LLM (claude-...)" or "reviewer alice"
    reviewed: bool
    similarity: float
    code: str
    context: str = ""  # the training row's context window (shown by `iacsieve explain`, not serialised)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "tech": self.tech,
            "label": self.label,
            "label_source": self.label_source,
            "similarity": self.similarity,
            "code": self.code,
        }


@dataclass(frozen=True)
class Evidence:
    """Why one distinct model input was kept or dropped."""

    score: float
    threshold: float
    threshold_source: str
    neighbours: tuple[Neighbour, ...]
    features: tuple[tuple[str, float], ...]  # (name, signed contribution to the logit); classical only
    index: bool = True  # False: the champion was frozen without an evidence index

    @property
    def keep(self) -> bool:
        return self.score >= self.threshold

    @property
    def margin(self) -> float:
        return round(self.score - self.threshold, 6)

    @cached_property
    def reason(self) -> str:
        """One short line: the decision, then what the model leaned on (made once: rows of one
        model input share this object)."""
        return self.reason_text()

    def reason_text(self, text: bool = True) -> str:
        """`reason`; `text=False` leaves out the n-gram features (fragments of the script's line)."""
        verdict = "kept" if self.keep else "dropped"
        parts = [f"{verdict}: score {score_comparison(self.score, self.threshold)} ({self.threshold_source})"]
        if self.neighbours:
            parts.append(neighbours_phrase(self.neighbours))
        elif not self.index:
            parts.append("no neighbours (champion frozen without an evidence index)")
        features = self.features if text else tuple(f for f in self.features if not _quotes_code(f[0]))
        if features:
            parts.append(
                "features: "
                + ", ".join(f"{'+' if c > 0 else '-'}{name}" for name, c in features[:REASON_FEATURES])
            )
        return "; ".join(parts)

    def to_dict(self, text: bool = True) -> dict:
        """The full evidence; `text=False` (SARIF, which carries no script text) leaves out the
        neighbours' code and the n-gram features."""
        return {
            "score": round(self.score, 6),
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "margin": self.margin,
            "keep": self.keep,
            "neighbours": [n.to_dict() if text else _without_code(n.to_dict()) for n in self.neighbours],
            "top_features": [
                {"feature": name, "contribution": c}
                for name, c in self.features
                if text or not _quotes_code(name)
            ],
            "reason": self.reason_text(text),
        }


def _quotes_code(feature: str) -> bool:
    """An n-gram feature (`chars "pass"`) quotes the script's own text; a reviewer column does not."""
    return '"' in feature


def _without_code(neighbour: dict) -> dict:
    return {k: v for k, v in neighbour.items() if k != "code"}


def neighbours_phrase(neighbours: Sequence[Neighbour]) -> str:
    """`like 3 reviewed false alarms: a.pp:12 (0.93), ...`, or each neighbour's label when they differ."""
    cites = ", ".join(f"{n.file}:{n.line} ({n.similarity:.2f})" for n in neighbours)
    labels = {n.label for n in neighbours}
    if len(labels) == 1:
        kind = "real smell" if labels == {"TP"} else "false alarm"
        kind += "s" if len(neighbours) > 1 else ""
        reviewed = sum(n.reviewed for n in neighbours)
        if reviewed == len(neighbours):
            by = "reviewed "
        elif reviewed == 0:
            by = "LLM-labelled "
        else:
            by = f"({reviewed} reviewed) "
        return f"like {len(neighbours)} {by}{kind}: {cites}"
    return "nearest: " + ", ".join(
        f"{n.label} {n.file}:{n.line} ({n.similarity:.2f}, {n.label_source.split(' (')[0]})"
        for n in neighbours
    )


_LOADED: dict[tuple, EvidenceIndex] = {}  # one process filtering again (a benchmark, a service) loads once


def champion_index(champion: Champion) -> EvidenceIndex | None:
    """The champion's evidence index, its files checked against champion.json (None: frozen without one).

    Kept for the process, keyed by the card and the files' identity (inode, size, mtime): a file
    changed since is read and checked again.
    """
    card = champion.info.get(CARD_KEY)
    if card is None:
        return None
    try:
        files = tuple(
            (st.st_ino, st.st_size, st.st_mtime_ns)
            for st in (os.stat(champion.model_dir / name) for name in (VECTORS_FILE, ROWS_FILE))
        )
    except OSError:
        files = None  # load_index names the missing file
    key = (str(champion.model_dir.resolve()), json.dumps(card, sort_keys=True), files)
    if files is None or key not in _LOADED:
        index = load_index(champion.model_dir, card, where=str(champion.model_dir / CHAMPION_FILE))
        if files is None:
            return index
        _LOADED.clear()
        _LOADED[key] = index
    return _LOADED[key]


def explain_inputs(
    index: EvidenceIndex | None,
    scorer: object,
    inputs: Sequence[WarningRecord],
    scores: np.ndarray,
    threshold: float,
    threshold_source: str,
    *,
    k: int = NEIGHBOURS,
) -> list[Evidence]:
    """Evidence for each distinct model input (vectorised: one index search, one feature pass)."""
    found: list[list[tuple[int, float]]] = [[] for _ in inputs]
    if index is not None and inputs:
        found = index.nearest([r.smell for r in inputs], [index_text(r.smell, r.content) for r in inputs], k)
    explain_features = getattr(scorer, "top_features", None)
    features = explain_features(inputs, FEATURES) if callable(explain_features) and inputs else None
    out = []
    for i, _record in enumerate(inputs):
        neighbours = tuple(_neighbour(index, j, sim) for j, sim in found[i]) if index is not None else ()
        out.append(
            Evidence(
                score=float(scores[i]),
                threshold=float(threshold),
                threshold_source=threshold_source,
                neighbours=neighbours,
                features=tuple(features[i]) if features is not None else (),
                index=index is not None,
            )
        )
    return out


def _neighbour(index: EvidenceIndex, row: int, similarity: float) -> Neighbour:
    w = index.rows[row]
    return Neighbour(
        file=w.file,
        line=w.line,
        tech=w.tech,
        label="TP" if w.label == 1 else "FP",
        label_source=w.label_source,
        reviewed=w.reviewed,
        similarity=similarity,
        code=w.content,
        context=w.with_context,
    )


def row_reason(row: FilteredRow, text: bool = True) -> str:
    """The `reason` of any output row: the evidence's (`text=False`: without n-grams of the line), or
    why the row was not scored."""
    if row.status == Status.BASELINE:
        why = row.evidence.reason_text(text) if row.evidence is not None else f"score {row.score}"
        return f"not reported: in --baseline (an earlier run reported it); {why}"
    if row.evidence is not None:
        return row.evidence.reason_text(text)
    verdict = "kept" if row.keep else "dropped"
    if row.status == Status.UNREADABLE and row.why == LINE_OUTSIDE:
        return f"kept unscored: line {row.detection.line} is outside the script"
    if row.status in (Status.MISSING, Status.UNREADABLE):
        return f"{verdict} unscored: script {row.why}" + (
            " (--on-missing)" if row.status == Status.MISSING else ""
        )
    if row.detection.non_security:
        return "kept unscored: a code-quality smell (passed through)"
    if row.status == Status.SCORED and row.score is not None:
        return f"{verdict}: score {row.score:.2f}"
    return f"kept unscored: the champion does not judge {row.smell} (passed through)"


def explain_line(row: FilteredRow, cache: dict[int, str]) -> str:
    """One `--explain` JSONL line (the evidence JSON made once per distinct input, kept in `cache`)."""
    det = row.detection
    head = {
        "row": det.row_no,
        "file": det.file,
        "line": det.line,
        "smell": row.smell,
        "status": row.status_text,
    }
    if row.evidence is None:
        plain = {**head, "score": row.score, "keep": row.keep, "reason": row_reason(row)}
        return json.dumps(plain, ensure_ascii=False) + "\n"
    key = id(row.evidence)
    if key not in cache:
        cache[key] = json.dumps(row.evidence.to_dict(), ensure_ascii=False)[1:]
    return json.dumps(head, ensure_ascii=False)[:-1] + ", " + cache[key] + "\n"


class ExplainWriter:
    """`--explain FILE.jsonl`, written as the rows stream to the main output (`tee`), made visible
    atomically (temp name, then rename) when the run succeeds."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.cache: dict[int, str] = {}

    def __enter__(self) -> ExplainWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.tmp-", dir=self.path.parent)
        self.tmp = Path(tmp)
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        return self

    def tee(self, rows: Iterable[FilteredRow]) -> Iterator[FilteredRow]:
        for row in rows:
            self.handle.write(explain_line(row, self.cache))
            yield row

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.handle.close()
        if kind is None:
            os.chmod(self.tmp, output_mode(self.path, 0o666))
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
