"""`iacsieve review`: pick the warnings whose labels would teach the model most, as a sheet to fill.

From a detector's output (`review_detections`): the champion scores every warning exactly as
`iacsieve filter` does (same detection reading, script resolution and model input), then

1. duplicates collapse: one row per (script, line, smell) — the filter's dedup — and then one row per
   (smell, code line), the others counted in `similar` (labelling one teaches the same);
2. warnings already in data/human are left out;
3. priority = uncertainty: |score - threshold| (the champion's frozen threshold), smallest first;
4. spread over tech x smell: round-robin over the (tech, smell) strata — round r takes each stratum's
   r-th most uncertain warning, most uncertain first within the round — until the budget is spent.

From labelled training rows (`review_train`, a label audit): the same steps with priority = how far
the model's score is from the LLM's label (|score - label|, largest first), so the rows where model
and LLM disagree most come first; `llm_label` is filled. The champion was trained on these rows, so
this finds the labels it could not fit — the likeliest LLM mistakes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from iacsieve.core.errors import IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.human import HUMAN_DIR, load_human_labels
from iacsieve.data.records import WarningRecord, load_prepared, render_context
from iacsieve.data.sheet import SheetRow, write_sheet
from iacsieve.filtering.apply import dedup_key, judged_rows, load_model, model_record
from iacsieve.filtering.champion import Champion, read_champion
from iacsieve.filtering.context import FilterOptions
from iacsieve.filtering.detections import open_detections
from iacsieve.filtering.scripts import ScriptFolder
from iacsieve.filtering.verdicts import FilteredRow, Status, score_comparison
from iacsieve.io.output_policy import check_file_output
from iacsieve.models import FAMILIES, Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A warning that could go on the sheet; lower `priority` = more worth a person's time."""

    row: SheetRow
    priority: float


def _code_key(row: SheetRow) -> tuple[str, str]:
    return row.smell, re.sub(r"\s+", " ", row.code.strip())


def collapse_duplicates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """One candidate per (smell, code line): the highest-priority one, its `similar` = the others' count."""
    groups: dict[tuple[str, str], list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(_code_key(c.row), []).append(c)
    out = []
    for group in groups.values():
        best = min(group, key=lambda c: (c.priority, c.row.file, c.row.line))
        out.append(Candidate(replace(best.row, similar=best.row.similar + len(group) - 1), best.priority))
    return out


def _check_budget(budget: int) -> None:
    if budget < 1:
        raise IacsieveError(f"--budget must be >= 1, got {budget}")


def pick_for_review(candidates: Sequence[Candidate], budget: int) -> list[Candidate]:
    """Round-robin over (tech, smell) strata, most informative first; at most `budget` rows.

    Round r takes the r-th best candidate of every stratum that has one; within a round, candidates
    go in priority order (ties: tech, smell, file, line). The result is in picking order.
    """
    _check_budget(budget)
    strata: dict[tuple[str, str], list[Candidate]] = {}
    for c in candidates:
        strata.setdefault((c.row.tech, c.row.smell), []).append(c)
    order = lambda c: (c.priority, c.row.tech, c.row.smell, c.row.file, c.row.line)  # noqa: E731
    for members in strata.values():
        members.sort(key=order)
    picked: list[Candidate] = []
    depth = 0
    while len(picked) < budget and any(depth < len(m) for m in strata.values()):
        picked += sorted((m[depth] for m in strata.values() if depth < len(m)), key=order)[
            : budget - len(picked)
        ]
        depth += 1
    return picked


def _without_labelled(
    candidates: list[Candidate], human_dir: str | Path | None
) -> tuple[list[Candidate], int]:
    if human_dir is None:
        return candidates, 0
    labelled = {h.key for h in load_human_labels(human_dir)}
    kept = [c for c in candidates if c.row.key not in labelled]
    return kept, len(candidates) - len(kept)


def _finish(
    candidates: list[Candidate], budget: int, out: str | Path, human_dir: str | Path | None, summary: dict
) -> dict:
    candidates, already = _without_labelled(candidates, human_dir)
    collapsed = collapse_duplicates(candidates)
    picked = pick_for_review(collapsed, budget)
    write_sheet(out, [c.row for c in picked])
    strata = sorted({(c.row.tech, c.row.smell) for c in picked})
    summary.update(
        already_labelled=already,
        candidates=len(collapsed),
        picked=len(picked),
        out=str(out),
        strata={f"{t}/{s}": sum(c.row.tech == t and c.row.smell == s for c in picked) for t, s in strata},
        priority_range=[
            min((c.priority for c in picked), default=None),
            max((c.priority for c in picked), default=None),
        ],
    )
    return summary


def review_detections(
    options: FilterOptions,
    budget: int,
    out: str | Path,
    *,
    human_dir: str | Path | None = HUMAN_DIR,
    batch_size: int = 64,
    scorer: Scorer | None = None,
) -> dict:
    """Score a detector's warnings with the champion and write the `budget` most uncertain as a sheet.
    `options`: what judges the warnings, as `filter` takes them (`iacsieve.filtering.context`)."""
    detections, label = options.detections, options.label
    if detections is None or options.scripts is None:
        raise ValueError("review_detections needs FilterOptions with detections and scripts")
    _check_budget(budget)
    inputs = {"--detections": detections, "--model": options.model}
    check_file_output(out, inputs=inputs, scripts=options.scripts, human=human_dir)
    stream = open_detections(detections, options.detections_format, options.limits)
    champion = read_champion(options.model)
    cut = champion.cut(options.threshold, label)
    folder = ScriptFolder(options.scripts, options.limits, strip_prefix=options.path_prefix_strip)
    source = options.threshold_source or ("--threshold" if options.threshold is not None else "frozen")
    firsts: dict[tuple, FilteredRow] = {}  # model input -> the first scored row that produced it
    warnings_in = missing = 0
    for row in judged_rows(
        champion, folder, stream, stream.path, cut=cut, threshold_source=source, tech=options.tech,
        on_missing=options.on_missing, batch_size=batch_size, model_name=label, scorer=scorer,
    ):  # fmt: skip
        warnings_in += 1
        missing += row.status == Status.MISSING and bool(row.problem)
        if row.status == Status.SCORED:
            firsts.setdefault(dedup_key(row), row)
    candidates = []
    for row in firsts.values():
        assert row.script is not None and row.score is not None and row.evidence is not None
        record = model_record(row, folder, options.tech, False, stream.path)
        _, lines = folder.line(row.script, record.line)
        sheet_row = SheetRow(
            tech=record.tech,
            smell=record.smell,
            file=folder.relative(row.script),
            line=record.line,
            code=record.content,
            context=render_context(lines, record.line, file=record.file),
            score=row.score,
            reason=row.evidence.reason,
        )
        candidates.append(Candidate(sheet_row, abs(row.score - cut)))
    summary = {
        "source": "detections",
        "detections": str(detections),
        "model": label,
        "threshold": cut,
        "warnings_in": warnings_in,
        "scored_inputs": len(firsts),
        "missing": missing,
    }
    return _finish(candidates, budget, out, human_dir, summary)


def review_train(
    model_dir: str | Path,
    prepared_dir: str | Path,
    budget: int,
    out: str | Path,
    *,
    human_dir: str | Path | None = HUMAN_DIR,
    batch_size: int = 64,
    scorer: Scorer | None = None,
    model_label: str | None = None,
) -> dict:
    """A label audit: training rows where the model's score and the LLM's label disagree most.
    `model_label`: the model's name in the summary and errors (as `filter_detections`'s).

    A classical champion's rows are scored out-of-fold (k-fold CV of its own config, the family's
    `label_agreement`), since the champion itself has fit its training rows; other families fall back
    to the champion's in-sample scores (said in the summary).
    """
    label = model_label or str(model_dir)
    _check_budget(budget)
    check_file_output(out, inputs={"--data": prepared_dir, "--model": model_dir}, human=human_dir)
    champion = read_champion(model_dir)
    records = load_prepared(prepared_dir, "train")
    labels = np.array([r.label for r in records], dtype=int)
    scores, how = _audit_scores(champion, records, labels, batch_size, label, scorer)
    cut = champion.threshold if champion.threshold is not None else 0.5
    candidates = [
        Candidate(
            SheetRow(
                tech=r.tech,
                smell=r.smell,
                file=r.file,
                line=r.line,
                code=r.content.strip(),
                context=r.with_context,
                score=float(s),
                llm_label="TP" if r.label else "FP",
                origin="train",
                reason=audit_reason(bool(r.label), float(s), cut, how),
            ),
            -abs(float(s) - (r.label or 0)),  # training rows are labelled
        )
        for r, s in zip(records, scores)
    ]
    summary = {
        "source": "train",
        "data": str(prepared_dir),
        "model": label,
        "rows": len(records),
        "scoring": how,
        "llm_disagreements": int(sum((s >= cut) != bool(ln) for ln, s in zip(labels, scores))),
    }
    return _finish(candidates, budget, out, human_dir, summary)


def audit_reason(llm_tp: bool, score: float, threshold: float, how: str) -> str:
    """Why a training row is on the audit sheet, in one line: the LLM's label against the model's score."""
    model_tp = score >= threshold
    verdict = "disagrees with" if model_tp != llm_tp else "agrees with, unsure of"
    return (
        f"LLM label {'TP' if llm_tp else 'FP'}; model {verdict} it: score "
        f"{score_comparison(score, threshold)} ({how.split(' (')[0]})"
    )


def _audit_scores(
    champion: Champion,
    records: Sequence[WarningRecord],
    labels: np.ndarray,
    batch_size: int,
    model_name: str,
    scorer: Any,
) -> tuple[np.ndarray, str]:
    """(scores, how they were made) of the training rows: out-of-fold where the family can (classical)."""
    config = champion.info.get("config")
    family = FAMILIES[champion.family].family if champion.family in FAMILIES else None
    if family is not None and family.scores_out_of_fold and isinstance(config, dict):
        return family.out_of_fold(TrainConfig.from_dict(config), records, labels)
    scorer = scorer if scorer is not None else load_model(champion.model_dir)
    return _scores(scorer, records, batch_size, model_name), "in-sample (the champion's own scores)"


def _scores(scorer: Scorer, records: Sequence[WarningRecord], batch_size: int, model_name: str) -> np.ndarray:
    if not records:
        return np.zeros(0)
    scores = np.asarray(scorer.predict_proba(list(records), batch_size=batch_size), dtype=float).reshape(-1)
    if scores.shape[0] != len(records):
        raise IacsieveError(
            f"{model_name}: the model returned {scores.shape[0]} scores for {len(records)} inputs"
        )
    return scores


def format_review(summary: dict) -> str:
    head = (
        f"{summary['out']}: {summary['picked']} warning(s) to review from {summary['candidates']} candidates "
        f"({summary['source']}; {summary['already_labelled']} already labelled left out)"
    )
    lines = [head]
    if summary["source"] == "detections":
        lines.append(
            f"  model {summary['model']}, threshold {summary['threshold']:.4g}: picked the warnings scored "
            f"nearest it, spread over tech x smell"
        )
    else:
        lines.append(
            f"  model {summary['model']}, scores {summary['scoring']}: picked the train rows whose score is "
            f"farthest from the LLM label ({summary['llm_disagreements']} of {summary['rows']} disagree at "
            f"the threshold)"
        )
    lines += [f"  {k}: {n}" for k, n in summary["strata"].items()]
    lines.append(
        "next: fill `label` (TP = real smell, FP = false alarm) and `note`, then "
        "`iacsieve labels add SHEET --reviewer NAME`"
    )
    return "\n".join(lines)


def candidate_for_record(record: WarningRecord, score: float, threshold: float) -> Candidate:
    """A dataset row as a review candidate (uncertainty priority): the learning-curve experiment's picker."""
    return Candidate(
        SheetRow(
            tech=record.tech,
            smell=record.smell,
            file=record.file,
            line=record.line,
            code=record.content.strip(),
            context=record.with_context,
            score=score,
        ),
        abs(score - threshold),
    )
