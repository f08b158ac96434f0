"""Run a frozen champion over a detector's real output and drop the warnings it judges false alarms.

Works from a model directory alone (no repo, no DVC, no params.yaml), so a champion can ship to CI.
For each warning: find its script under `--scripts` (never outside it), read the flagged line (and the
context window when the champion uses it), build the model input the way training did
(`iacsieve.data.record_text`, called by the scorer), score it, and apply the champion's frozen
threshold. Smells the champion was not trained on and non-security smells pass through with an empty
score and keep=true. The output holds every input row, in order, plus `smell`, `score`, `keep`
(CSV / JSONL), or only the kept warnings (SARIF).
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iacsieve.atomic import atomic_write_text
from iacsieve.data import TECHS, WarningRecord, render_context
from iacsieve.detections import Detection, DetectionSet, read_detections
from iacsieve.errors import IacsieveError
from iacsieve.steps.metrics import predict
from iacsieve.models import Scorer, load_scorer, read_meta
from iacsieve.sarif import SarifRow, to_sarif
from iacsieve.smells import canonical_smell

OUTPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "sarif")
ON_MISSING: tuple[str, ...] = ("error", "keep", "drop")
ADDED_COLUMNS: tuple[str, ...] = ("smell", "score", "keep")
CHAMPION_FILE = "champion.json"
# What a champion covers when neither champion.json nor model_meta.json lists `smells`:
# the four smells of the training data (data/README.md).
DATASET_SMELLS: tuple[str, ...] = ("hard_coded_secret", "suspicious_comment", "use_of_http", "weak_crypto")
TECH_BY_SUFFIX: dict[str, str] = {".pp": "puppet", ".rb": "chef", ".yml": "ansible", ".yaml": "ansible"}
MAX_LISTED_PROBLEMS = 20  # missing rows listed one by one in the summary, then counted


# ----------------------------------------------------------------------------- the champion

@dataclass(frozen=True)
class Champion:
    """What the filter needs to know about a model directory."""

    model_dir: Path
    threshold: float | None  # frozen threshold (None: a bare model dir without champion.json)
    covered: frozenset[str]  # canonical smells the model was trained on
    covered_recorded: bool  # False: `covered` is the dataset default, not read from the champion
    use_context: bool
    family: str
    info: dict  # champion.json (empty for a bare model dir)


def read_champion(model_dir: str | Path) -> Champion:
    """Read champion.json (when present) and model_meta.json; loads no weights."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise IacsieveError(f"{model_dir}: model directory not found")
    meta = read_meta(model_dir)
    info: dict = {}
    if (model_dir / CHAMPION_FILE).is_file():
        info = _load_champion_json(model_dir)
    threshold = info.get("threshold")
    smells = info.get("smells", meta.get("smells"))
    if smells is None:
        covered, recorded = frozenset(DATASET_SMELLS), False
    else:
        if not isinstance(smells, list) or not all(isinstance(s, str) and canonical_smell(s) for s in smells):
            raise IacsieveError(f"{model_dir}: 'smells' must be a list of known smell names, got {smells!r}")
        covered, recorded = frozenset(canonical_smell(s) for s in smells), True
    return Champion(
        model_dir=model_dir,
        threshold=None if threshold is None else float(threshold),
        covered=covered,
        covered_recorded=recorded,
        use_context=bool(meta.get("use_context", info.get("use_context", False))),
        family=str(info.get("family", meta.get("family", "?"))),
        info=info,
    )


def _load_champion_json(model_dir: Path) -> dict:
    try:
        from iacsieve.steps.freeze import load_champion
    except ImportError:  # a trimmed install without the training steps
        load_champion = None
    if load_champion is not None:
        return load_champion(model_dir)
    path = model_dir / CHAMPION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IacsieveError(f"{path}: unreadable champion file: {exc}") from None
    if not isinstance(data, dict):
        raise IacsieveError(f"{path}: expected a JSON object")
    return data


# ----------------------------------------------------------------------------- scripts

class ScriptProblem(Exception):
    """A warning whose script cannot be used: not found, outside --scripts, or too short."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason, self.message = reason, message
        super().__init__(message)


class ScriptFolder:
    """Resolves detector paths inside one folder and reads scripts, each at most once.

    A detections file is untrusted: a path whose real location (symlinks followed) is outside the
    folder is refused before anything is opened. Paths may be absolute (inside the folder), relative
    to it, or carry a leading prefix the folder lacks (GLITCH writes `scripts/x.pp` when run on
    `scripts`): relative paths are tried with leading parts dropped, down to the bare file name.
    """

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise IacsieveError(f"{root}: scripts folder not found")
        self.given = root
        self.root = Path(os.path.realpath(root))
        self._resolved: dict[str, Path | ScriptProblem] = {}
        self._lines: dict[Path, list[str] | ScriptProblem] = {}

    def resolve(self, raw: str) -> Path:
        """The real path of the script `raw` names, inside the folder; raises ScriptProblem."""
        if raw not in self._resolved:
            try:
                self._resolved[raw] = self._resolve(raw)
            except ScriptProblem as problem:
                self._resolved[raw] = problem
        found = self._resolved[raw]
        if isinstance(found, ScriptProblem):
            raise found
        return found

    def relative(self, path: Path) -> str:
        """A resolved script's path relative to the folder (POSIX), for SARIF URIs."""
        return path.relative_to(self.root).as_posix()

    def line(self, path: Path, line: int) -> tuple[str, list[str]]:
        """The text of 1-based `line` and all the script's lines; raises ScriptProblem past the end."""
        if path not in self._lines:
            self._lines[path] = self._read(path)
        lines = self._lines[path]
        if isinstance(lines, ScriptProblem):
            raise lines
        if line > len(lines):
            raise ScriptProblem("line_past_end", f"line {line} is past the end of {self.relative(path)} "
                                                 f"({len(lines)} lines)")
        return lines[line - 1], lines

    def _resolve(self, raw: str) -> Path:
        given = Path(raw)
        if ".." in given.parts:
            raise ScriptProblem("outside_scripts", f"path {raw!r} climbs out of --scripts with '..'; refused")
        if given.is_absolute():
            candidates = [given]
        else:
            parts = given.parts
            candidates = [self.root.joinpath(*parts[i:]) for i in range(len(parts))]
        for candidate in candidates:
            if not os.path.lexists(candidate):
                continue
            real = Path(os.path.realpath(candidate))
            if not self._inside(real):
                raise ScriptProblem("outside_scripts", f"path {raw!r} resolves outside --scripts {self.given}; refused")
            try:
                mode = os.stat(real).st_mode
            except OSError:
                raise ScriptProblem("not_found", f"script {raw!r} not found under --scripts {self.given}") from None
            if not stat.S_ISREG(mode):
                raise ScriptProblem("not_found", f"script {raw!r} is not a regular file under --scripts {self.given}")
            return real
        if given.is_absolute() and not self._inside(Path(os.path.realpath(given))):
            raise ScriptProblem("outside_scripts", f"path {raw!r} is outside --scripts {self.given}; refused")
        raise ScriptProblem("not_found", f"script {raw!r} not found under --scripts {self.given}")

    def _inside(self, real: Path) -> bool:
        return real == self.root or self.root in real.parents

    @staticmethod
    def _read(path: Path) -> list[str] | ScriptProblem:
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            return ScriptProblem("not_found", f"cannot read script {path.name}: {exc.strerror or exc}")
        lines = text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines


def infer_tech(path: str) -> str | None:
    """The IaC technology a script's extension implies (.pp puppet, .rb chef, .yml/.yaml ansible)."""
    return TECH_BY_SUFFIX.get(Path(path).suffix.lower())


def output_format(out: str | Path, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from the file suffix (.jsonl, .sarif), else csv."""
    if fmt is not None:
        if fmt not in OUTPUT_FORMATS:
            raise IacsieveError(f"unknown output format {fmt!r} (known: {', '.join(OUTPUT_FORMATS)})")
        return fmt
    name = Path(out).name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith((".sarif", ".sarif.json")):
        return "sarif"
    return "csv"


# ----------------------------------------------------------------------------- the filter

@dataclass
class FilteredRow:
    """One input warning and the filter's verdict."""

    detection: Detection
    smell: str
    score: float | None = None
    keep: bool = True
    status: str = "pass_through"  # scored | pass_through | missing
    script: Path | None = None  # resolved real path (None when it could not be resolved)


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
) -> dict:
    """Filter a detector's warnings with a champion; write `out` atomically and return the summary.

    `on_missing` says what to do with a warning whose script is missing, outside `scripts_dir`, or
    shorter than the flagged line: `error` (IacsieveError naming the row), `keep` or `drop` (counted).
    `scorer`: the model already loaded from `model_dir` (benchmarks reuse one across runs).
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
    if Path(out).is_dir():
        raise IacsieveError(f"{out}: is a directory; --out needs a file name")

    parsed = read_detections(detections, detections_format)
    champion = read_champion(model_dir)
    cut = float(threshold) if threshold is not None else champion.threshold
    if cut is None:
        raise IacsieveError(f"{model_dir}: no {CHAMPION_FILE} with a frozen threshold; pass --threshold")
    folder = ScriptFolder(scripts_dir)
    scorer = scorer if scorer is not None else _load(champion.model_dir)
    use_context = bool(getattr(scorer, "use_context", champion.use_context))

    rows, problems = _resolve_rows(parsed, folder, champion, on_missing)
    inputs, slots = _model_inputs(rows, folder, tech, use_context, parsed)
    if inputs:
        try:
            scores = np.asarray(scorer.predict_proba(inputs, batch_size=batch_size), dtype=float).reshape(-1)
        except ValueError as exc:  # e.g. a model saved by an incompatible iacsieve version
            raise IacsieveError(f"{model_dir}: the model cannot score these warnings: {exc}".splitlines()[0]) from None
        if scores.shape[0] != len(inputs):
            raise IacsieveError(f"{model_dir}: the model returned {scores.shape[0]} scores for {len(inputs)} inputs")
        keeps = predict(scores, cut)
        for row in rows:
            if row.status == "scored":
                i = slots[_dedup_key(row)]
                row.score, row.keep = float(scores[i]), bool(keeps[i])

    _write_output(out, out_format, parsed, rows, folder, cut)
    return _summary(parsed, rows, problems, champion, cut, "--threshold" if threshold is not None else "champion",
                    len(inputs), out, out_format, on_missing, use_context)


def _load(model_dir: Path):
    try:
        return load_scorer(model_dir)
    except IacsieveError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise IacsieveError(f"{model_dir}: cannot load the model: {exc}".splitlines()[0]) from None


def _resolve_rows(parsed: DetectionSet, folder: ScriptFolder, champion: Champion,
                  on_missing: str) -> tuple[list[FilteredRow], list[str]]:
    """Classify each row (to score / pass through / missing); every row's script must resolve safely."""
    rows: list[FilteredRow] = []
    problems: list[str] = []
    for det in parsed.rows:
        smell = det.smell
        covered = smell is not None and smell in champion.covered and not det.non_security
        row = FilteredRow(detection=det, smell=det.display_smell, status="scored" if covered else "pass_through")
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


def _model_inputs(rows: list[FilteredRow], folder: ScriptFolder, tech: str | None, use_context: bool,
                  parsed: DetectionSet) -> tuple[list[WarningRecord], dict]:
    """One WarningRecord per distinct (script, line, smell) to score, and where each row's score sits."""
    inputs: list[WarningRecord] = []
    slots: dict[tuple, int] = {}
    for row in rows:
        if row.status != "scored":
            continue
        key = _dedup_key(row)
        if key in slots:
            continue
        det = row.detection
        row_tech = tech or infer_tech(det.file)
        if row_tech is None:
            raise IacsieveError(f"{parsed.path}:{det.row_no}: cannot infer the technology of {det.file!r} from its "
                                f"extension (.pp puppet, .rb chef, .yml/.yaml ansible); pass --tech")
        text, lines = folder.line(row.script, det.line)
        name = row.script.name
        slots[key] = len(inputs)
        inputs.append(WarningRecord(
            smell=row.smell, tech=row_tech, file=name, line=det.line, content=text.strip(),
            with_context=render_context(lines, det.line, file=name) if use_context else "",
        ))
    return inputs, slots


# ----------------------------------------------------------------------------- output

def _output_columns(parsed: DetectionSet) -> tuple[list[str], dict[str, str]]:
    """Input columns (an input column named like an added one is kept as `input_<name>`) + smell, score, keep."""
    rename = {c: f"input_{c}" for c in parsed.columns if c in ADDED_COLUMNS}
    return [rename.get(c, c) for c in parsed.columns] + list(ADDED_COLUMNS), rename


def output_rows(parsed: DetectionSet, rows: list[FilteredRow]) -> list[dict]:
    """Every input row, in order, with its input values plus `smell`, `score` (None = unscored), `keep`."""
    _, rename = _output_columns(parsed)
    result = []
    for row in rows:
        values = {rename.get(k, k): v for k, v in row.detection.values.items()}
        values.update(smell=row.smell, score=None if row.score is None else round(row.score, 6), keep=row.keep)
        result.append(values)
    return result


def _write_output(out: str | Path, out_format: str, parsed: DetectionSet, rows: list[FilteredRow],
                  folder: ScriptFolder, threshold: float) -> None:
    if out_format == "sarif":
        kept = [
            SarifRow(rule_id=row.smell, uri=folder.relative(row.script) if row.script else row.detection.file,
                     line=row.detection.line, score=row.score, detector_code=row.detection.raw_smell,
                     security=not row.detection.non_security)
            for row in rows if row.keep
        ]
        text = json.dumps(to_sarif(kept, threshold=threshold), indent=2, ensure_ascii=False) + "\n"
    elif out_format == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in output_rows(parsed, rows))
    else:
        columns, _ = _output_columns(parsed)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for values in output_rows(parsed, rows):
            writer.writerow({k: _csv_cell(values.get(k)) for k in columns})
        text = buffer.getvalue()
    try:
        atomic_write_text(out, text)
    except OSError as exc:
        raise IacsieveError(f"{out}: cannot write the output: {exc.strerror or exc}") from None


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# ----------------------------------------------------------------------------- summary

def _summary(parsed: DetectionSet, rows: list[FilteredRow], problems: list[str], champion: Champion,
             threshold: float, threshold_source: str, model_inputs: int, out: str | Path, out_format: str,
             on_missing: str, use_context: bool) -> dict:
    by_smell: dict[str, Counter] = {}
    for row in rows:
        counts = by_smell.setdefault(row.smell, Counter())
        counts["in"] += 1
        counts["scored"] += row.status == "scored"
        counts["kept" if row.keep else "dropped"] += 1
        counts["missing"] += row.status.startswith("missing")
    missing_reasons = Counter(row.status.split(":", 1)[1] for row in rows if row.status.startswith("missing"))
    return {
        "detections": str(parsed.path),
        "format": parsed.format,
        "out": str(out),
        "out_format": out_format,
        "model": str(champion.model_dir),
        "family": champion.family,
        "use_context": use_context,
        "threshold": threshold,
        "threshold_source": threshold_source,
        "covered_smells": sorted(champion.covered),
        "covered_smells_recorded": champion.covered_recorded,
        "warnings_in": len(rows),
        "scored": sum(r.status == "scored" for r in rows),
        "model_inputs": model_inputs,
        "passed_through": sum(r.status == "pass_through" for r in rows),
        "kept": sum(r.keep for r in rows),
        "dropped": sum(not r.keep for r in rows),
        "dropped_scored": sum(r.status == "scored" and not r.keep for r in rows),
        "missing": sum(missing_reasons.values()),
        "missing_by_reason": dict(sorted(missing_reasons.items())),
        "on_missing": on_missing,
        "missing_rows": problems[:MAX_LISTED_PROBLEMS],
        "by_smell": {smell: {k: c[k] for k in ("in", "scored", "kept", "dropped", "missing")}
                     for smell, c in sorted(by_smell.items())},
    }


def format_summary(summary: dict) -> str:
    """The human summary `iacsieve filter` prints on stderr."""
    lines = [
        f"iacsieve filter: {summary['warnings_in']} warnings in ({summary['format']}) -> "
        f"{summary['out']} ({summary['out_format']})",
        f"  model {summary['model']} ({summary['family']}), threshold {summary['threshold']:.4g} "
        f"({summary['threshold_source']}), covers {', '.join(summary['covered_smells'])}"
        + ("" if summary["covered_smells_recorded"] else " (default: not recorded in the champion)"),
        f"  scored {summary['scored']} ({summary['model_inputs']} model inputs after dedup), "
        f"kept {summary['kept']}, dropped {summary['dropped']}, passed through {summary['passed_through']}",
    ]
    width = max([len("smell")] + [len(s) for s in summary["by_smell"]])
    lines.append(f"  {'smell':<{width}} {'in':>6} {'scored':>6} {'kept':>6} {'dropped':>7} {'missing':>7}")
    for smell, c in summary["by_smell"].items():
        lines.append(f"  {smell:<{width}} {c['in']:>6} {c['scored']:>6} {c['kept']:>6} {c['dropped']:>7} {c['missing']:>7}")
    if summary["missing"]:
        reasons = ", ".join(f"{k} {v}" for k, v in summary["missing_by_reason"].items())
        action = "kept" if summary["on_missing"] == "keep" else "dropped"
        lines.append(f"  missing: {summary['missing']} rows {action} (--on-missing {summary['on_missing']}): {reasons}")
        lines += [f"    {p}" for p in summary["missing_rows"]]
        if summary["missing"] > len(summary["missing_rows"]):
            lines.append(f"    ... and {summary['missing'] - len(summary['missing_rows'])} more")
    return "\n".join(lines)
