"""Run a frozen champion over a detector's real output and drop the warnings it judges false alarms.

Works from a model directory alone (no repo, no DVC, no params.yaml), so a champion can ship to CI.
For each warning: find its script under `--scripts` (never outside it), read the flagged line (and the
context window when the champion uses it), build the model input the way training did
(`iacsieve.data.record_text`, called by the scorer), score it, and apply the champion's frozen
threshold. Smells the champion was not trained on, non-security smells and whole-file smells (line -1)
pass through with an empty score and keep=true; a warning on a binary or undecodable script is kept,
unscored, and reported. The output holds every input row, in order, plus `smell`, `score`, `keep`,
`fingerprint` (CSV / JSONL), or only the kept warnings (SARIF: security smells only unless `sarif_all`,
URIs relative to the repository root holding `--scripts` unless `uri_base` says otherwise).

Rows stream through in chunks of `CHUNK_ROWS` (read, resolve, score the chunk's distinct inputs in one
call, write), so memory does not grow with the input: 2M rows cost what 4,096 do.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from iacsieve.core.classification import predict
from iacsieve.core.errors import IacsieveError
from iacsieve.data.records import TECHS, WarningRecord, render_context
from iacsieve.filtering.analysed import NotAnalysed, notifications, summary_fields
from iacsieve.filtering.baseline import read_baseline
from iacsieve.filtering.champion import (
    Champion,
    read_champion,
    record_provenance,
)
from iacsieve.filtering.detections import Detection, open_detections
from iacsieve.filtering.evidence import Evidence, ExplainWriter, champion_index, explain_inputs
from iacsieve.filtering.fingerprint import fingerprint
from iacsieve.filtering.output import STDOUT, SarifOptions, output_chunks, output_format, write_chunks
from iacsieve.filtering.rowcheck import checked, settle
from iacsieve.filtering.sarif import DEFAULT_CATEGORY, RunInfo, provenance_properties
from iacsieve.filtering.scripts import (
    LINE_OUTSIDE,
    SCRIPT_CACHE_BYTES,
    ScriptFolder,
    ScriptProblem,
    infer_tech,
    normalise_line,
)
from iacsieve.filtering.summary import Tally
from iacsieve.filtering.uri_base import resolve_uri_base
from iacsieve.filtering.verdicts import BASELINE, PASS_THROUGH, SCORED, FilteredRow, Status
from iacsieve.io.limits import DEFAULT, Limits
from iacsieve.io.output_policy import check_file_output
from iacsieve.models import Scorer, load_scorer

ON_MISSING: tuple[str, ...] = ("error", "keep", "drop")
CHUNK_ROWS = 4096  # rows held at once; their distinct inputs go to the model in one call
SCORE_CACHE_ENTRIES = 1 << 17  # (script, line, smell) scores remembered across chunks


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
    *,
    path_prefix_strip: str | None = None,
    baseline: str | Path | None = None,
    sarif_category: str = DEFAULT_CATEGORY,
    threshold_source: str | None = None,
    script_cache_bytes: int = SCRIPT_CACHE_BYTES,
    evidence: bool = True,
    explain: str | Path | None = None,
    sarif_suppressed: bool = False,
    model_label: str | None = None,
    provenance: dict | None = None,
    not_analysed: Sequence[NotAnalysed] | None = None,
) -> dict:
    """Filter a detector's warnings with a champion; write `out` (atomically, or stdout for `-`) and return
    the summary.

    `on_missing` says what to do with a warning whose script is missing, outside `scripts_dir`, or
    shorter than the flagged line: `error` (IacsieveError naming the row), `keep` or `drop` (counted).
    `scorer`: the model already loaded from `model_dir` (benchmarks reuse one across runs).
    `limits`: caps on the detections file (size, rows, path length) and on script lines given to the model.
    `sarif_all`: SARIF also holds the kept code-quality (design/implementation) smells, as notes.
    `uri_base`: the folder SARIF URIs are relative to (default: the git repository root holding `scripts_dir`,
    else `scripts_dir`).
    `path_prefix_strip`: a prefix the detector's paths carry that `scripts_dir` does not (GLITCH run in a
    container on `/src`). `baseline`: an earlier run's output; warnings in it are kept=false (status
    `baseline`) and left out of SARIF, so only new ones are reported. `sarif_category`: SARIF's
    `automationDetails.id` (one per analysis uploaded for a commit). `threshold_source`: how `threshold`
    was chosen (an operating point), for the summary and the SARIF run.
    `evidence`: why each warning was kept or dropped (`iacsieve.filtering.evidence`, docs/explain.md) in
    the `reason` column and SARIF properties; `explain`: the full evidence per row, as JSONL;
    `sarif_suppressed`: SARIF also holds the dropped warnings, as suppressed results.
    `model_label`: the model's name in the summary, the SARIF run and errors (the champion archive that
    `model_dir`, a temp folder, was unpacked from); default `model_dir`. `provenance`: where the champion
    came from (`champion_source`, the archive's `champion_sha256`, `package_version`; cli.app), recorded
    in the summary and the SARIF run; without an archive hash the folder's own (`champion_sha256`).
    `not_analysed`: the files the detector said it skipped (`iacsieve scan`), in the summary and as SARIF
    tool execution notifications; None: not known (the summary then says nothing about them).

    Every argument is checked before anything is read, and the model loads last: a mistake costs no wait.
    Long because it is the filter's one sequence (check, read, resolve, score, write) end to end.
    """
    out_format = output_format(out, fmt)
    label = model_label or str(model_dir)
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
    if out_format != "sarif" and sarif_suppressed:
        raise IacsieveError(f"--sarif-suppressed applies to SARIF output only; --out {out} is {out_format}")
    if explain is not None and not evidence:
        raise IacsieveError("--explain needs the evidence; drop --no-evidence")
    if explain is not None:
        written = None if str(out) == STDOUT else out
        inputs = {"--out": written, "--detections": detections, "--model": model_dir, "--baseline": baseline}
        check_file_output(explain, flag="--explain", inputs=inputs, scripts=scripts_dir)
    if not sarif_category.strip("/") or any(c.isspace() for c in sarif_category):
        raise IacsieveError(
            f"--sarif-category must be a non-empty name without spaces, got {sarif_category!r}"
        )
    if str(out) != STDOUT:
        inputs = {"--detections": detections, "--model": model_dir, "--baseline": baseline}
        check_file_output(out, inputs=inputs, scripts=scripts_dir)
    folder = ScriptFolder(scripts_dir, limits, strip_prefix=path_prefix_strip, cache_bytes=script_cache_bytes)
    base = resolve_uri_base(scripts_dir, uri_base) if out_format == "sarif" else None
    champion = read_champion(model_dir)
    cut = champion.cut(threshold, label)
    source = threshold_source or ("--threshold" if threshold is not None else "champion")
    index = champion_index(champion) if evidence else None  # an altered index is refused here
    stream = open_detections(detections, detections_format, limits)
    known = read_baseline(baseline, limits) if baseline is not None else None
    load = (lambda: scorer) if scorer is not None else (lambda: load_model(champion.model_dir))
    run = _Run(folder, champion, load, cut, tech, on_missing, batch_size, known, label, stream.path)
    if evidence:
        frozen = "frozen" if source == "champion" else source
        run.explain = lambda records, scores: explain_inputs(index, run.scorer, records, scores, cut, frozen)
    recorded = record_provenance(provenance, champion.model_dir)
    tally = Tally()
    counted = tally.counted(run.verdicts(stream))
    sarif = None
    sarif_counts: dict = {}
    if base is not None:
        info = RunInfo(
            threshold=cut,
            threshold_source=source,
            model=label,
            family=champion.family,
            champion_sha256=recorded["champion_sha256"],
            category=sarif_category,
            extra=provenance_properties(recorded),
            notifications=None if not_analysed is None else notifications(not_analysed, folder, base),
        )
        sarif = SarifOptions(
            base,
            sarif_all,
            info,
            baseline=known is not None,
            counts=sarif_counts,
            suppressed=sarif_suppressed,
        )
    if explain is not None:
        with ExplainWriter(explain) as writer:
            rows = writer.tee(counted)
            write_chunks(out, output_chunks(out_format, rows, lambda: stream.columns, folder.root, sarif))
    else:
        write_chunks(out, output_chunks(out_format, counted, lambda: stream.columns, folder.root, sarif))
    summary = {
        "detections": str(stream.path),
        "format": stream.format,
        "out": str(out),
        "out_format": out_format,
        "model": label,
        "family": champion.family,
        "use_context": run.use_context,
        "threshold": cut,
        "threshold_source": source,
        "covered_smells": sorted(champion.covered),
        "covered_smells_recorded": champion.covered_recorded,
        **tally.summary(),
        "model_inputs": run.model_inputs,
        "on_missing": on_missing,
        "baseline": None if baseline is None else str(baseline),
        "lines_cut": run.cut_lines,
        "max_line_chars": limits.max_line_chars,
        "evidence": evidence,
        **recorded,
    }
    if not_analysed is not None:
        summary.update(summary_fields(not_analysed, folder))
    if explain is not None:
        summary["explain"] = str(explain)
    if sarif is not None:
        summary.update(
            sarif_results=sarif_counts.get("results", 0) - sarif_counts.get("suppressed", 0),
            sarif_suppressed=sarif_counts.get("suppressed", 0),
            sarif_left_out=tally.kept - tally.kept_security if not sarif_all else 0,
            sarif_all=sarif_all,
            sarif_category=sarif_category,
            uri_base=str(base),
        )
    return summary


class _Run:
    """One filter run's state as rows stream through: the scripts, the model, a bounded score cache.

    The model loads when the first chunk has something to score: a bad row in it (or an input with
    nothing to score) costs no wait for the model.
    """

    def __init__(
        self,
        folder: ScriptFolder,
        champion: Champion,
        load: Callable[[], Scorer],
        cut: float,
        tech: str | None,
        on_missing: str,
        batch_size: int,
        known: frozenset[str] | None,
        model_name: str,
        source: Path,
    ) -> None:
        self.folder, self.champion, self.load, self.cut = folder, champion, load, cut
        self.tech, self.on_missing, self.batch_size = tech, on_missing, batch_size
        self.scorer: Scorer | None = None
        self.use_context = champion.use_context
        self.known, self.model_name, self.source = known, model_name, source
        self.scores: OrderedDict[tuple, float] = OrderedDict()
        self.model_inputs = 0
        self.cut_lines = 0
        # with evidence: (records, scores) -> the Evidence of each (iacsieve.filtering.evidence)
        self.explain: Callable[[list[WarningRecord], np.ndarray], list[Evidence]] | None = None
        self.evidence: dict[tuple, Evidence] = {}

    def verdicts(self, detections: Iterable[Detection]) -> Iterator[FilteredRow]:
        """Each detection's verdict, in input order, a chunk of rows at a time."""
        iterator = iter(detections)
        while chunk := list(itertools.islice(iterator, CHUNK_ROWS)):
            rows = [classify(det, self.folder, self.champion, self.on_missing, self.source) for det in chunk]
            self._score(rows)
            for row in rows:
                self._identify(row)
                yield row

    def _score(self, rows: list[FilteredRow]) -> None:
        waiting: dict[tuple, list[FilteredRow]] = {}
        for row in rows:
            if row.status != SCORED:
                continue
            key = _dedup_key(row)
            if key in self.scores:
                self.scores.move_to_end(key)
                row.score = self.scores[key]
                row.evidence = self.evidence.get(key)
            else:
                waiting.setdefault(key, []).append(row)
        if waiting:
            firsts = [group[0] for group in waiting.values()]
            # every input's technology is checked before the model loads
            techs = [row_tech(row, self.tech, self.source) for row in firsts]
            scorer = self._scorer()
            records = [
                model_record(row, self.folder, t, self.use_context, self.source)
                for row, t in zip(firsts, techs)
            ]
            self.cut_lines += sum(
                self.folder.was_cut(row.script, row.detection.line)
                for row in firsts
                if row.script is not None
            )
            scores = _predict(scorer, records, self.batch_size, self.model_name)
            self.model_inputs += len(records)
            explained = self.explain(records, scores) if self.explain is not None else None
            for i, ((key, waiting_rows), score) in enumerate(zip(waiting.items(), scores)):
                self.scores[key] = float(score)
                if explained is not None:
                    self.evidence[key] = explained[i]
                for row in waiting_rows:
                    row.score = float(score)
                    row.evidence = explained[i] if explained is not None else None
            while len(self.scores) > SCORE_CACHE_ENTRIES:
                self.evidence.pop(self.scores.popitem(last=False)[0], None)
        scored = [row for row in rows if row.status == SCORED and row.score is not None]
        if scored:
            keeps = predict(np.asarray([row.score for row in scored]), self.cut)
            for row, keep in zip(scored, keeps):
                row.keep = bool(keep)

    def _scorer(self) -> Scorer:
        if self.scorer is None:
            self.scorer = self.load()
            self.use_context = bool(getattr(self.scorer, "use_context", self.champion.use_context))
        return self.scorer

    def _identify(self, row: FilteredRow) -> None:
        """The row's fingerprint, and whether the baseline already holds it."""
        det = row.detection
        occurrence = 0
        if det.file_level:
            content = "<whole file>"
        elif row.script is not None and row.status in (SCORED, PASS_THROUGH) and not det.outside_file:
            try:
                content = normalise_line(self.folder.line(row.script, det.line)[0])
                occurrence = self.folder.occurrence(row.script, det.line, content)
            except ScriptProblem:  # a code-quality row on a line past the end: as a gone script
                content = normalise_line(str(det.values.get("snippet") or "")) or f"line {det.line}"
        else:  # the script is gone or unreadable: the detector's snippet, else the line number
            content = normalise_line(str(det.values.get("snippet") or "")) or f"line {det.line}"
        row.fingerprint = fingerprint(row.location or det.file, row.smell, content, occurrence)
        if self.known is not None and row.keep and row.fingerprint in self.known:
            row.keep, row.status = False, BASELINE


def classify(
    det: Detection, folder: ScriptFolder, champion: Champion, on_missing: str, source: object
) -> FilteredRow:
    """A detection's row before scoring: to score, to pass through, missing or unreadable (its script
    must resolve safely under --scripts either way); `source` names the detections file in messages."""
    doubt: ScriptProblem | None = None
    try:
        det = settle(det, folder)  # the reading of an unquoted row that exists (its smell too)
    except ScriptProblem as problem:  # ambiguous: shown as its security reading, if any (the gate sees it)
        doubt = problem
        det = next((r for r in (det, *det.alternatives) if not r.non_security), det)
    covered = (
        det.smell is not None
        and det.smell in champion.covered
        and not det.non_security
        and not det.file_level
    )
    row = FilteredRow(detection=det, smell=det.display_smell, status=SCORED if covered else PASS_THROUGH)
    try:
        if doubt is not None:
            raise doubt
        row.script = folder.resolve(det.file)
        row.location = folder.relative(row.script)
        folder.line(row.script, det.line)
        row.detection = checked(det, folder, row.script)  # its snippet against its line
        if row.detection.line != det.line:  # the one line that holds the snippet: scored, and counted
            row.problem = f"{source}:{det.row_no}: snippet found on line {row.detection.line}, not {det.line}"
            det = row.detection
    except ScriptProblem as problem:
        message = f"{source}:{det.row_no}: {problem.message}"
        row.location = row.location or folder.mapped(det.file).as_posix()
        row.problem, row.score = message, None
        if problem.reason == LINE_OUTSIDE and det.non_security:  # a code-quality row: passes through
            row.status, row.keep, row.problem = PASS_THROUGH, True, None
        elif problem.unreadable:
            row.status, row.why, row.keep = Status.UNREADABLE, problem.reason, True
        elif on_missing == "error":
            raise IacsieveError(f"{message} (--on-missing keep|drop goes on and counts it)") from None
        else:
            row.status, row.why, row.keep = Status.MISSING, problem.reason, on_missing == "keep"
    return row


def row_tech(row: FilteredRow, tech: str | None, source: object) -> str:
    """`tech` when given, else the technology the script's extension names; IacsieveError when it names none."""
    found = tech or infer_tech(row.detection.file)
    if found is None:
        raise IacsieveError(
            f"{source}:{row.detection.row_no}: cannot infer the technology of {row.detection.file!r} from its "
            f"extension (.pp puppet, .rb chef, .yml/.yaml ansible); pass --tech"
        )
    return found


def model_record(
    row: FilteredRow, folder: ScriptFolder, tech: str | None, use_context: bool, source: object
) -> WarningRecord:
    """The model input for a row to score, built the way training built them."""
    det = row.detection
    if row.script is None:
        raise ValueError("model_record needs a row whose script resolved")
    text, lines = folder.line(row.script, det.line)
    name = row.script.name
    return WarningRecord(
        smell=row.smell,
        tech=row_tech(row, tech, source),
        file=name,
        line=det.line,
        content=text.strip(),
        with_context=render_context(lines, det.line, file=name) if use_context else "",
    )


def _predict(scorer: Scorer, records: list[WarningRecord], batch_size: int, model_name: str) -> np.ndarray:
    try:
        scores = np.asarray(scorer.predict_proba(records, batch_size=batch_size), dtype=float).reshape(-1)
    except ValueError as exc:  # e.g. a model saved by an incompatible iacsieve version
        raise IacsieveError(
            f"{model_name}: the model cannot score these warnings: {exc}".splitlines()[0]
        ) from None
    if scores.shape[0] != len(records):
        raise IacsieveError(
            f"{model_name}: the model returned {scores.shape[0]} scores for {len(records)} inputs"
        )
    return scores


def load_model(model_dir: Path) -> Scorer:
    """The champion's scorer; a broken model folder is one line naming it, not a traceback."""
    try:
        return load_scorer(model_dir)
    except IacsieveError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise IacsieveError(f"{model_dir}: cannot load the model: {exc}".splitlines()[0]) from None


def _dedup_key(row: FilteredRow) -> tuple[Path | None, int, str]:
    """Same script, line and canonical smell = one model input (GLITCH flags a line as secret, password, user)."""
    return (row.script, row.detection.line, row.smell)


# ----------------------------------------------------------------------------- the review queue's use


def judged_rows(
    champion: Champion,
    folder: ScriptFolder,
    detections: Iterable[Detection],
    source: Path,
    *,
    cut: float,
    threshold_source: str,
    tech: str | None,
    on_missing: str,
    batch_size: int,
    model_name: str,
    scorer: Scorer | None = None,
) -> Iterator[FilteredRow]:
    """Every detection's verdict with its evidence, as `filter` makes them (the one streaming scoring
    path: chunks, dedup by `dedup_key`, a bounded score cache), for another consumer (the review queue)."""
    load = (lambda: scorer) if scorer is not None else (lambda: load_model(champion.model_dir))
    run = _Run(folder, champion, load, cut, tech, on_missing, batch_size, None, model_name, source)
    index = champion_index(champion)
    run.explain = lambda records, scores: explain_inputs(
        index, run.scorer, records, scores, cut, threshold_source
    )
    return run.verdicts(detections)


def dedup_key(row: FilteredRow) -> tuple[Path | None, int, str]:
    """Rows with this key are one model input (`filter` scores each once)."""
    return _dedup_key(row)
