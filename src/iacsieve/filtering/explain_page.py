"""`iacsieve explain`: one warning's decision as a page a reviewer reads in the terminal.

The command a reviewer runs when a decision looks wrong: the flagged code with its context, the score
against the threshold in force, what moved the score (classical family), and the nearest labelled
training warnings with their code side by side with this one. It judges the warning exactly as
`filter` does (same script reading, same model input, same evidence), one warning at a time.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iacsieve.core.errors import IacsieveError
from iacsieve.core.smells import canonical_smell, is_non_security
from iacsieve.data.records import WarningRecord, context_body, render_context
from iacsieve.filtering.champion import read_champion
from iacsieve.filtering.detections import read_detections
from iacsieve.filtering.evidence import Evidence, Neighbour, champion_index, explain_inputs
from iacsieve.filtering.scripts import ScriptFolder, ScriptProblem, infer_tech
from iacsieve.filtering.verdicts import comparison_parts
from iacsieve.io.limits import DEFAULT, Limits
from iacsieve.models import load_scorer

RADIUS = 3  # lines of context either side, on the page


@dataclass(frozen=True)
class Explained:
    """One judged warning: where it is, its lines, and the evidence."""

    record: WarningRecord
    where: str  # the script relative to --scripts
    lines: list[str]
    evidence: Evidence
    family: str


def explain_warning(
    model_dir: str | Path,
    scripts_dir: str | Path,
    *,
    detections: str | Path | None = None,
    row: int | None = None,
    file: str | None = None,
    line: int | None = None,
    smell: str | None = None,
    tech: str | None = None,
    threshold: float | None = None,
    threshold_source: str | None = None,
    k: int = 3,
    detections_format: str | None = None,
    limits: Limits = DEFAULT,
    path_prefix_strip: str | None = None,
    model_label: str | None = None,
) -> Explained:
    """Judge one warning (`detections` + `row`, the row's line number in that file as `--explain` and
    error messages give it; or `file` + `line` + `smell`) with the champion and gather its evidence.

    Long because of its signature: the two ways to name a warning and the decision's settings are
    keywords the CLI passes straight through."""
    if detections is not None:
        if row is None:
            raise IacsieveError("--detections needs --row N (the row's line in that file)")
        parsed = read_detections(detections, detections_format, limits)
        found = [d for d in parsed.rows if d.row_no == row]
        if not found:
            raise IacsieveError(f"{detections}: no warning starts on line {row} ({len(parsed.rows)} rows)")
        file, line, raw_smell = found[0].file, found[0].line, found[0].raw_smell
    else:
        if file is None or line is None or smell is None:
            raise IacsieveError("give --detections FILE --row N, or --file F --line L --smell S")
        raw_smell = smell
    canonical = canonical_smell(raw_smell)
    champion = read_champion(model_dir)
    if canonical is None or is_non_security(raw_smell) or canonical not in champion.covered:
        raise IacsieveError(
            f"{raw_smell!r}: the champion does not judge this smell (it judges "
            f"{', '.join(sorted(champion.covered))}); `filter` passes it through unscored"
        )
    cut = champion.cut(threshold, model_label or model_dir)
    index = champion_index(champion)
    folder = ScriptFolder(scripts_dir, limits, strip_prefix=path_prefix_strip)
    try:
        script = folder.resolve(file)
        text, lines = folder.line(script, int(line))
    except ScriptProblem as problem:
        raise IacsieveError(problem.message) from None
    row_tech = tech or infer_tech(file)
    if row_tech is None:
        raise IacsieveError(f"cannot infer the technology of {file!r} from its extension; pass --tech")
    scorer = load_scorer(champion.model_dir)
    use_context = bool(getattr(scorer, "use_context", champion.use_context))
    record = WarningRecord(
        smell=canonical,
        tech=row_tech,
        file=script.name,
        line=int(line),
        content=text.strip(),
        with_context=render_context(lines, int(line), file=script.name) if use_context else "",
    )
    scores = np.asarray(scorer.predict_proba([record]), dtype=float).reshape(-1)
    source = threshold_source or ("--threshold" if threshold is not None else "frozen")
    evidence = explain_inputs(index, scorer, [record], scores, cut, source, k=k)[0]
    return Explained(record, folder.relative(script), lines, evidence, champion.family)


def _cut(text: str, width: int) -> str:
    text = text.replace("\t", "    ").rstrip()
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _window(lines: list[str], target: int) -> list[str]:
    """The flagged line and RADIUS lines either side, numbered, their common indentation removed."""
    lo, hi = max(1, target - RADIUS), min(len(lines), target + RADIUS)
    code = [lines[n - 1].replace("\t", "    ").rstrip() for n in range(lo, hi + 1)]
    indent = min((len(c) - len(c.lstrip()) for c in code if c.strip()), default=0)
    return [f"{'>>' if n == target else '  '}{n:>5}  {c[indent:]}" for n, c in zip(range(lo, hi + 1), code)]


def _neighbour_window(neighbour: Neighbour) -> list[str]:
    """The training row's context around its flagged line (`>>` marks it), or the line alone."""
    body = context_body(neighbour.context, target=neighbour.line).splitlines() if neighbour.context else []
    plain = [ln[4:] if ln.startswith(">>> ") else ln for ln in body]
    # the line holding the flagged code (context windows of the training data number lines unevenly)
    at = next((i for i, ln in enumerate(plain) if ln.strip() == neighbour.code.strip()), None)
    if at is None:
        at = next((i for i, ln in enumerate(body) if ln.startswith(">>> ")), None)
    if at is None:
        return [f">>  {neighbour.code}"]
    return [
        f"{'>>' if i == at else '  '}  {ln}" for i, ln in enumerate(plain) if at - RADIUS <= i <= at + RADIUS
    ]


def render_page(explained: Explained, width: int | None = None) -> str:
    """The terminal page for one judged warning."""
    width = width or max(80, min(shutil.get_terminal_size((110, 24)).columns, 160))
    record, ev = explained.record, explained.evidence
    shown = comparison_parts(ev.score, ev.threshold, 3, 2)
    verdict = "KEPT (likely a real smell)" if ev.keep else "DROPPED (likely a false alarm)"
    out = [
        f"{record.smell} at {explained.where}:{record.line} ({record.tech})",
        "",
        *(_cut(ln, width) for ln in _window(explained.lines, record.line)),
        "",
        f"{verdict}: score {shown[0]} {shown[1]} threshold {shown[2]} "
        f"({ev.threshold_source}), margin {ev.margin:+.3f}   [{explained.family} champion]",
    ]
    if ev.features:
        out += ["", "What moved the score most (contribution to the logit; + leans towards a real smell):"]
        out += [_cut(f"  {c:+8.3f}  {name}", width) for name, c in ev.features]
    out.append("")
    if not ev.index:
        out.append("No neighbours: this champion was frozen without an evidence index (freeze it again).")
        return "\n".join(out) + "\n"
    if not ev.neighbours:
        out.append(f"No labelled training warning of {record.smell} shares anything with this line.")
        return "\n".join(out) + "\n"
    out.append(f"Nearest labelled training warnings ({record.smell}):")
    for i, n in enumerate(ev.neighbours, start=1):
        kind = "real smell " if n.label == "TP" else "false alarm"
        out.append(
            _cut(
                f"  {i}. {n.label} {kind}  similarity {n.similarity:.2f}  labelled by {n.label_source}", width
            )
        )
        out.append(_cut(f"     {n.file}:{n.line} ({n.tech})", width))
    column = (width - 3) // 2
    left = _window(explained.lines, record.line)
    for i, n in enumerate(ev.neighbours, start=1):
        right = _neighbour_window(n)
        out += [
            "",
            f"{_cut('this warning', column):<{column}} | {_cut(f'#{i} {n.label} ({n.similarity:.2f}) {n.file}:{n.line}', column)}",
            f"{'-' * column}-+-{'-' * column}",
        ]
        for a, b in zip(left + [""] * (len(right) - len(left)), right + [""] * (len(left) - len(right))):
            out.append(f"{_cut(a, column):<{column}} | {_cut(b, column)}".rstrip())
    return "\n".join(out) + "\n"
