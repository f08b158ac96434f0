"""Run a frozen champion over a detector's real output and drop the warnings it judges false alarms.

Works from a model directory alone (no repo, no DVC, no params.yaml), so a champion can ship to CI.
For each warning: find its script under `--scripts` (never outside it), read the flagged line (and the
context window when the champion uses it), build the model input the way training did
(`iacsieve.data.record_text`, called by the scorer), score it, and apply the champion's frozen
threshold. Smells the champion was not trained on and non-security smells pass through with an empty
score and keep=true. The output holds every input row, in order, plus `smell`, `score`, `keep`
(CSV / JSONL), or only the kept warnings (SARIF: security smells only unless `sarif_all`, URIs
relative to the repository root holding `--scripts` unless `uri_base` says otherwise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iacsieve.data.records import TECHS, WarningRecord, render_context
from iacsieve.errors import IacsieveError
from iacsieve.filtering.champion import CHAMPION_FILE, Champion, read_champion
from iacsieve.filtering.detections import DetectionSet, read_detections
from iacsieve.filtering.output import SarifOptions, in_sarif, output_format, write_output
from iacsieve.filtering.scripts import ScriptFolder, ScriptProblem, infer_tech
from iacsieve.filtering.summary import summarise
from iacsieve.filtering.uri_base import resolve_uri_base
from iacsieve.filtering.verdicts import FilteredRow
from iacsieve.limits import DEFAULT, Limits
from iacsieve.models import Scorer, load_scorer
from iacsieve.output_policy import check_file_output
from iacsieve.steps.metrics import predict

ON_MISSING: tuple[str, ...] = ("error", "keep", "drop")


def filter_detections(
    model_dir: str | Path,
    detections: str | Path,
    scripts_dir: str | Path,
    out: str | Path,
    fmt: str | None = None,
    tech: str | None = None,
    threshold: float | None = None,
    on_missing: str = "error",
    batch_size: int = 64,
    detections_format: str | None = None,
    scorer: Scorer | None = None,
    limits: Limits = DEFAULT,
    sarif_all: bool = False,
    uri_base: str | Path | None = None,
) -> dict:
    """Filter a detector's warnings with a champion; write `out` atomically and return the summary.

    `on_missing` says what to do with a warning whose script is missing, outside `scripts_dir`, or
    shorter than the flagged line: `error` (IacsieveError naming the row), `keep` or `drop` (counted).
    `scorer`: the model already loaded from `model_dir` (benchmarks reuse one across runs).
    `limits`: caps on the detections file (size, rows, path length) and on script lines given to the model.
    `sarif_all`: SARIF also holds the kept code-quality (design/implementation) smells, as notes.
    `uri_base`: the folder SARIF URIs are relative to (default: the git repository root holding `scripts_dir`,
    else `scripts_dir`).

    Every argument is checked before anything is read, and the model loads last: a mistake costs no wait.
    """
    out_format = output_format(out, fmt)
    if on_missing not in ON_MISSING:
        raise IacsieveError(f"--on-missing must be one of {', '.join(ON_MISSING)}, got {on_missing!r}")
    if tech is not None and tech not in TECHS:
        raise IacsieveError(f"--tech must be one of {', '.join(TECHS)}, got {tech!r}")
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise IacsieveError(f"--threshold must be in [0, 1], got {threshold}")
    if batch_size < 1:
        raise IacsieveError(f"--batch-size must be >= 1, got {batch_size}")
    if out_format != "sarif" and (sarif_all or uri_base is not None):
        raise IacsieveError(
            f"--sarif-all and --uri-base apply to SARIF output only; --out {out} is {out_format}"
        )
    check_file_output(out, inputs={"--detections": detections, "--model": model_dir}, scripts=scripts_dir)
    folder = ScriptFolder(scripts_dir, limits)
    sarif = (
        SarifOptions(resolve_uri_base(scripts_dir, uri_base), sarif_all) if out_format == "sarif" else None
    )
    champion = read_champion(model_dir)
    cut = float(threshold) if threshold is not None else champion.threshold
    if cut is None:
        raise IacsieveError(f"{model_dir}: no {CHAMPION_FILE} with a frozen threshold; pass --threshold")
    parsed = read_detections(detections, detections_format, limits)
    rows, problems = _resolve_rows(parsed, folder, champion, on_missing)
    scorer = scorer if scorer is not None else _load(champion.model_dir)
    use_context = bool(getattr(scorer, "use_context", champion.use_context))

    inputs, slots, cut_lines = _model_inputs(rows, folder, tech, use_context, parsed)
    if inputs:
        try:
            scores = np.asarray(scorer.predict_proba(inputs, batch_size=batch_size), dtype=float).reshape(-1)
        except ValueError as exc:  # e.g. a model saved by an incompatible iacsieve version
            raise IacsieveError(
                f"{model_dir}: the model cannot score these warnings: {exc}".splitlines()[0]
            ) from None
        if scores.shape[0] != len(inputs):
            raise IacsieveError(
                f"{model_dir}: the model returned {scores.shape[0]} scores for {len(inputs)} inputs"
            )
        keeps = predict(scores, cut)
        for row in rows:
            if row.status == "scored":
                i = slots[_dedup_key(row)]
                row.score, row.keep = float(scores[i]), bool(keeps[i])

    write_output(out, out_format, parsed, rows, folder, cut, sarif)
    summary = summarise(
        parsed,
        rows,
        problems,
        champion,
        cut,
        "--threshold" if threshold is not None else "champion",
        len(inputs),
        out,
        out_format,
        on_missing,
        use_context,
    )
    summary.update(lines_cut=cut_lines, max_line_chars=limits.max_line_chars)
    if sarif is not None:
        in_log = sum(in_sarif(row, sarif.include_all) for row in rows)
        summary.update(
            sarif_results=in_log,
            sarif_left_out=summary["kept"] - in_log,
            sarif_all=sarif.include_all,
            uri_base=str(sarif.base),
        )
    return summary


def _load(model_dir: Path):
    try:
        return load_scorer(model_dir)
    except IacsieveError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise IacsieveError(f"{model_dir}: cannot load the model: {exc}".splitlines()[0]) from None


def _resolve_rows(
    parsed: DetectionSet, folder: ScriptFolder, champion: Champion, on_missing: str
) -> tuple[list[FilteredRow], list[str]]:
    """Classify each row (to score / pass through / missing); every row's script must resolve safely."""
    rows: list[FilteredRow] = []
    problems: list[str] = []
    for det in parsed.rows:
        smell = det.smell
        covered = smell is not None and smell in champion.covered and not det.non_security
        row = FilteredRow(
            detection=det, smell=det.display_smell, status="scored" if covered else "pass_through"
        )
        try:
            row.script = folder.resolve(det.file)
            folder.line(row.script, det.line)
        except ScriptProblem as problem:
            message = f"{parsed.path}:{det.row_no}: {problem.message}"
            if on_missing == "error":
                raise IacsieveError(f"{message} (--on-missing keep|drop goes on and counts it)") from None
            row.status, row.keep, row.score = f"missing:{problem.reason}", on_missing == "keep", None
            problems.append(message)
        rows.append(row)
    return rows, problems


def _dedup_key(row: FilteredRow) -> tuple[Path, int, str]:
    """Same script, line and canonical smell = one model input (GLITCH flags a line as secret, password, user)."""
    return (row.script, row.detection.line, row.smell)


def _model_inputs(
    rows: list[FilteredRow], folder: ScriptFolder, tech: str | None, use_context: bool, parsed: DetectionSet
) -> tuple[list[WarningRecord], dict, int]:
    """One WarningRecord per distinct (script, line, smell) to score, where each row's score sits, and
    how many of those inputs had their flagged line cut to `--max-line-length`."""
    inputs: list[WarningRecord] = []
    slots: dict[tuple, int] = {}
    cut_lines = 0
    for row in rows:
        if row.status != "scored":
            continue
        key = _dedup_key(row)
        if key in slots:
            continue
        det = row.detection
        row_tech = tech or infer_tech(det.file)
        if row_tech is None:
            raise IacsieveError(
                f"{parsed.path}:{det.row_no}: cannot infer the technology of {det.file!r} from its "
                f"extension (.pp puppet, .rb chef, .yml/.yaml ansible); pass --tech"
            )
        text, lines = folder.line(row.script, det.line)
        name = row.script.name
        slots[key] = len(inputs)
        cut_lines += folder.was_cut(row.script, det.line)
        inputs.append(
            WarningRecord(
                smell=row.smell,
                tech=row_tech,
                file=name,
                line=det.line,
                content=text.strip(),
                with_context=render_context(lines, det.line, file=name) if use_context else "",
            )
        )
    return inputs, slots, cut_lines
