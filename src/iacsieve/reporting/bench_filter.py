"""Benchmark `iacsieve filter`: warnings per second on the GLITCH Puppet fixture (used by `make bench`).

The model is loaded once (timed on its own, as a CI job pays it once); then the whole filter — read
the detections, resolve and read the scripts, build inputs, score in batches, write the output — runs
`repeats` times and the median wall time gives warnings/s. Also reports what the champion does to the
fixture: the share of the covered (scored) warnings it drops, overall and per smell.

    python -m iacsieve.reporting.bench_filter --model models/champion [--fixture tests/fixtures/glitch-puppet]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iacsieve.core.errors import IacsieveError
from iacsieve.filtering import filter_detections
from iacsieve.models import load_scorer

DEFAULT_FIXTURE = (
    Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "glitch-puppet"
)  # the repo root
DETECTIONS_FILE = "glitch-puppet.csv"
SCRIPTS_DIR = "scripts"
SCALE_ROWS = 400_000  # rows of the default large-input run
# `make bench`'s runs: a CI-sized input (startup dominates), then 400k and 2M rows: the filter streams,
# so peak memory must not grow with the rows and stays under MEMORY_BUDGET_MB (issue 22).
SCALE_RUNS: tuple[int, ...] = (1_000, 400_000, 2_000_000)
MEMORY_BUDGET_MB = 500
# A CI job's run: a fresh process on a typical GLITCH output (docs/champion.md, the light install's targets).
STARTUP_ROWS = 1000
STARTUP_TARGET_S = 0.4  # CPU seconds (issue 28; bench_targets holds the full table)
STARTUP_TARGET_MB = 80


def fixture_files(fixture_dir: str | Path) -> tuple[Path, Path]:
    """(detections file, scripts folder) of a benchmark fixture; a checkout without it is one line."""
    fixture_dir = Path(fixture_dir)
    detections, scripts = fixture_dir / DETECTIONS_FILE, fixture_dir / SCRIPTS_DIR
    if not detections.is_file() or not scripts.is_dir():
        raise IacsieveError(
            f"{fixture_dir}: no {DETECTIONS_FILE} + {SCRIPTS_DIR}/ fixture here (run from a checkout)"
        )
    return detections, scripts


def run_filter_benchmark(
    model_dir: str | Path,
    fixture_dir: str | Path = DEFAULT_FIXTURE,
    repeats: int = 5,
    batch_size: int = 64,
    threshold: float | None = None,
    evidence: bool = True,
) -> dict:
    """Median warnings/s of `filter_detections` over `repeats` runs on the fixture (model loaded once).
    `evidence`: with the reasons (the default filter) or without (`--no-evidence`).

    `threshold` is needed for a plain run's model dir (no champion.json); a champion uses its own.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    detections, scripts = fixture_files(fixture_dir)
    start = time.perf_counter()
    scorer = load_scorer(model_dir)
    load_s = time.perf_counter() - start
    walls: list[float] = []
    summary: dict = {}
    with tempfile.TemporaryDirectory(prefix="iacsieve-bench-") as tmp:
        for i in range(repeats):
            start = time.perf_counter()
            summary = filter_detections(
                model_dir,
                detections,
                scripts,
                Path(tmp) / f"out{i}.csv",
                batch_size=batch_size,
                scorer=scorer,
                evidence=evidence,
                threshold=threshold,
            )
            walls.append(time.perf_counter() - start)
    median = statistics.median(walls)
    covered = {s: c for s, c in summary["by_smell"].items() if c["scored"]}
    return {
        "model": str(model_dir),
        "family": summary["family"],
        "threshold": summary["threshold"],
        "repeats": repeats,
        "batch_size": batch_size,
        "warnings": summary["warnings_in"],
        "model_inputs": summary["model_inputs"],
        "load_s": round(load_s, 4),
        "wall_s": [round(w, 4) for w in walls],
        "median_wall_s": round(median, 4),
        "warnings_per_s": round(summary["warnings_in"] / median, 1),
        "scored_per_s": round(summary["scored"] / median, 1),
        "scored": summary["scored"],
        "dropped_scored": summary["dropped_scored"],
        "dropped_share_of_covered": round(summary["dropped_scored"] / summary["scored"], 4)
        if summary["scored"]
        else None,
        "dropped_share_by_smell": {
            s: round(c["dropped"] / c["scored"], 4) for s, c in sorted(covered.items())
        },
    }


def filter_command(
    model_dir: str | Path, detections: Path, scripts: Path, out: Path, threshold: float | None
) -> list[str]:
    """`iacsieve filter` as a user types it, run by this interpreter."""
    command = [sys.executable, "-m", "iacsieve", "filter", "--model", str(model_dir)]
    command += ["--detections", str(detections), "--scripts", str(scripts), "--out", str(out)]
    return command + (["--threshold", str(threshold)] if threshold is not None else [])


# Runs `python -m iacsieve ARGS` and writes the process's own peak RSS (VmHWM, KiB) to a file at exit.
# Why not ru_maxrss from wait4: Linux carries the parent's high-water RSS into a child across exec
# (subprocess forks the benchmark's own ~100 MB process), so a light filter would read as heavy.
_PEAK_PROBE = """
import atexit, runpy, sys
def _peak(path=sys.argv[1]):
    with open("/proc/self/status") as status:
        kib = next((ln.split()[1] for ln in status if ln.startswith("VmHWM:")), "")
    with open(path, "w") as out:
        out.write(kib)
atexit.register(_peak)
sys.argv = ["iacsieve", *sys.argv[2:]]
runpy.run_module("iacsieve", run_name="__main__", alter_sys=True)
"""


def run_command(
    model_dir: str | Path,
    detections: Path,
    scripts: Path,
    out: Path,
    threshold: float | None = None,
    extra: list[str] | None = None,
    *,
    python: str = sys.executable,
    env: dict | None = None,
) -> dict:
    """One fresh `iacsieve filter` process: wall and CPU seconds and its own peak RSS (MB).
    `python` / `env`: another interpreter or source tree (a before/after comparison)."""
    command = filter_command(model_dir, detections, scripts, out, threshold) + list(extra or [])
    hwm = out.with_name(out.name + ".vmhwm")
    command[:3] = [python, "-c", _PEAK_PROBE, str(hwm)]  # `python -m iacsieve` with its peak RSS noted
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    try:
        peak_kib = float(hwm.read_text(encoding="utf-8"))
        hwm.unlink()
    except (OSError, ValueError):  # no /proc: ru_maxrss (which may count the parent's pages)
        peak_kib = float(usage.ru_maxrss)
    assert process.stderr is not None  # stderr=PIPE above
    stderr = process.stderr.read().decode("utf-8", errors="replace")
    process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise IacsieveError(f"the filter run failed (exit {code}): {stderr.strip().splitlines()[-1:]}")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(peak_kib / 1024, 1),
    }


def run_scale_benchmark(
    model_dir: str | Path,
    rows: int = SCALE_ROWS,
    fixture_dir: str | Path = DEFAULT_FIXTURE,
    threshold: float | None = None,
    evidence: bool = True,
) -> dict:
    """`iacsieve filter` as a user runs it (a fresh process) on `rows` valid rows: wall time and peak memory
    (`evidence`: the default filter, or `--no-evidence`).

    The rows cycle through the fixture's GLITCH rows, so every row is valid and resolves; the model
    scores each distinct (script, line, smell) once, so the run measures what grows with the input:
    parsing, path resolution, script reading, output writing and the memory they hold.
    """
    fixture_dir = Path(fixture_dir)
    source = fixture_dir / DETECTIONS_FILE
    if not source.is_file():
        raise IacsieveError(f"{fixture_dir}: no {DETECTIONS_FILE} fixture here (run from a checkout)")
    lines = [ln for ln in source.read_text(encoding="utf-8").splitlines() if ln.strip()]
    with tempfile.TemporaryDirectory(prefix="iacsieve-scale-") as tmp:
        detections, out = Path(tmp) / "detections.csv", Path(tmp) / "kept.csv"
        with detections.open("w", encoding="utf-8") as handle:
            for line in itertools.islice(itertools.cycle(lines), rows):
                handle.write(line + "\n")
        extra = [] if evidence else ["--no-evidence"]
        run = run_command(model_dir, detections, fixture_dir / SCRIPTS_DIR, out, threshold, extra)
        with out.open(encoding="utf-8", newline="") as handle:
            written = sum(1 for _ in csv.DictReader(handle))
    wall, peak_mb = run["wall_s"], run["peak_rss_mb"]
    return {
        "model": str(model_dir),
        "rows": rows,
        "rows_out": written,
        "evidence": evidence,
        "wall_s": round(wall, 2),
        "cpu_s": run["cpu_s"],  # what wall time nears on an idle machine
        "rows_per_s": round(rows / wall, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "memory_budget_mb": MEMORY_BUDGET_MB,
        "within_budget": peak_mb < MEMORY_BUDGET_MB,
    }


def run_scale_benchmarks(
    model_dir: str | Path,
    rows: tuple[int, ...] = SCALE_RUNS,
    fixture_dir: str | Path = DEFAULT_FIXTURE,
    threshold: float | None = None,
) -> list[dict]:
    """`run_scale_benchmark` for each row count: peak RSS must stay flat as the input grows."""
    return [run_scale_benchmark(model_dir, n, fixture_dir, threshold) for n in rows]


MAX_EVIDENCE_TIME_RATIO = 2.0  # the evidence may at most double the filter's time


def evidence_cost(with_evidence: dict, without: dict) -> dict:
    """What the evidence costs on a scale run: CPU time (the budget's measure: on a shared machine
    wall time swings with the neighbours' load), wall time and peak memory, with over without."""
    ratio = with_evidence["cpu_s"] / without["cpu_s"] if without["cpu_s"] else None
    return {
        "time_ratio": None if ratio is None else round(ratio, 2),
        "wall_ratio": round(with_evidence["wall_s"] / without["wall_s"], 2) if without["wall_s"] else None,
        "peak_rss_mb_extra": round(with_evidence["peak_rss_mb"] - without["peak_rss_mb"], 1),
        "max_time_ratio": MAX_EVIDENCE_TIME_RATIO,
        "within": ratio is not None and ratio <= MAX_EVIDENCE_TIME_RATIO,
    }


def format_evidence_cost(with_evidence: dict, without: dict) -> str:
    """The with/without-evidence comparison `make bench` prints."""
    cost = evidence_cost(with_evidence, without)
    verdict = "within" if cost["within"] else "OVER"
    return (
        f"evidence at scale ({with_evidence['rows']} rows): with {with_evidence['rows_per_s']:.0f} rows/s, "
        f"peak {with_evidence['peak_rss_mb']:.0f} MB; without (--no-evidence) {without['rows_per_s']:.0f} rows/s, "
        f"peak {without['peak_rss_mb']:.0f} MB; CPU time {with_evidence['cpu_s']:.1f}s vs {without['cpu_s']:.1f}s "
        f"= x{cost['time_ratio']} ({verdict} the x{MAX_EVIDENCE_TIME_RATIO:g} budget; wall x{cost['wall_ratio']})"
    )


def format_scale(result: dict) -> str:
    """One line for the scale run."""
    verdict = "under" if result["within_budget"] else "OVER"
    return (
        f"filter at scale: {result['rows']} rows in {result['wall_s']:.1f}s = {result['rows_per_s']:.0f} rows/s "
        f"(fresh process incl. model load), peak RSS {result['peak_rss_mb']:.0f} MB ({verdict} the "
        f"{result['memory_budget_mb']} MB budget)"
    )


def run_startup_benchmark(
    model_dir: str | Path, fixture_dir: str | Path = DEFAULT_FIXTURE, threshold: float | None = None
) -> dict:
    """What a CI job pays: `iacsieve filter` on 1,000 rows in a fresh process (imports, model load,
    scoring, writing), wall time and peak RSS, beside the targets of the light install."""
    result = run_scale_benchmark(model_dir, STARTUP_ROWS, fixture_dir, threshold)
    result.update(target_s=STARTUP_TARGET_S, target_mb=STARTUP_TARGET_MB)
    return result


def format_startup(result: dict) -> str:
    """One line for the 1,000-row run."""
    return (
        f"filter, {result['rows']} rows in a fresh process: {result['wall_s']:.2f}s wall, "
        f"{result.get('cpu_s', float('nan')):.2f}s CPU (target {result['target_s']:g}s), peak RSS {result['peak_rss_mb']:.0f} MB (target {result['target_mb']} MB); "
        f"startup, imports and model load included"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iacsieve.reporting.bench_filter",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", action="append", required=True, metavar="DIR", help="model dir (repeatable)"
    )
    parser.add_argument(
        "--fixture", default=str(DEFAULT_FIXTURE), help="fixture folder (default: %(default)s)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs per model; the median counts (default: %(default)s)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="scoring batch size (default: %(default)s)"
    )
    parser.add_argument("--threshold", type=float, help="decision threshold for models without champion.json")
    parser.add_argument(
        "--scale-rows",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help=f"also run `iacsieve filter` on N valid rows in a fresh process, for throughput and peak "
        f"memory; repeatable (make bench runs {', '.join(map(str, SCALE_RUNS))}; default: off)",
    )
    args = parser.parse_args(argv)
    try:
        results = [
            run_filter_benchmark(m, args.fixture, args.repeats, args.batch_size, args.threshold)
            for m in args.model
        ]
        if args.scale_rows:
            for r, m in zip(results, args.model):
                r["scale"] = run_scale_benchmarks(m, tuple(args.scale_rows), args.fixture, args.threshold)
    except IacsieveError as exc:
        print(f"iacsieve: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for r in results:
        print(
            f"{r['family']:<14} {r['warnings_per_s']:>9.1f} warnings/s (median of {r['repeats']}, "
            f"model load {r['load_s']:.2f}s once), drops {r['dropped_scored']}/{r['scored']} "
            f"({100 * (r['dropped_share_of_covered'] or 0):.1f}%) of the covered warnings",
            file=sys.stderr,
        )
        for scale in r.get("scale", []):
            print("  " + format_scale(scale), file=sys.stderr)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
