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

from iacsieve.errors import IacsieveError
from iacsieve.filtering import filter_detections
from iacsieve.models import load_scorer

DEFAULT_FIXTURE = (
    Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "glitch-puppet"
)  # the repo root
DETECTIONS_FILE = "glitch-puppet.csv"
SCRIPTS_DIR = "scripts"
SCALE_ROWS = 400_000  # rows of the large-input run: peak memory must stay under MEMORY_BUDGET_MB
MEMORY_BUDGET_MB = 1024


def run_filter_benchmark(
    model_dir: str | Path,
    fixture_dir: str | Path = DEFAULT_FIXTURE,
    repeats: int = 5,
    batch_size: int = 64,
    threshold: float | None = None,
) -> dict:
    """Median warnings/s of `filter_detections` over `repeats` runs on the fixture (model loaded once).

    `threshold` is needed for a plain run's model dir (no champion.json); a champion uses its own.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    fixture_dir = Path(fixture_dir)
    detections, scripts = fixture_dir / DETECTIONS_FILE, fixture_dir / SCRIPTS_DIR
    if not detections.is_file() or not scripts.is_dir():
        raise IacsieveError(
            f"{fixture_dir}: no {DETECTIONS_FILE} + {SCRIPTS_DIR}/ fixture here (run from a checkout)"
        )
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


def run_scale_benchmark(
    model_dir: str | Path,
    rows: int = SCALE_ROWS,
    fixture_dir: str | Path = DEFAULT_FIXTURE,
    threshold: float | None = None,
) -> dict:
    """`iacsieve filter` as a user runs it (a fresh process) on `rows` valid rows: wall time and peak memory.

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
        command = [
            sys.executable,
            "-m",
            "iacsieve",
            "filter",
            "--model",
            str(model_dir),
            "--detections",
            str(detections),
            "--scripts",
            str(fixture_dir / SCRIPTS_DIR),
            "--out",
            str(out),
        ]
        if threshold is not None:
            command += ["--threshold", str(threshold)]
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS (ru_maxrss, KiB on Linux)
        wall = time.perf_counter() - start
        assert process.stderr is not None  # stderr=PIPE above
        stderr = process.stderr.read().decode("utf-8", errors="replace")
        process.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise IacsieveError(f"the scale run failed (exit {code}): {stderr.strip().splitlines()[-1:]}")
        with out.open(encoding="utf-8", newline="") as handle:
            written = sum(1 for _ in csv.DictReader(handle))
    peak_mb = usage.ru_maxrss / 1024
    return {
        "model": str(model_dir),
        "rows": rows,
        "rows_out": written,
        "wall_s": round(wall, 2),
        "rows_per_s": round(rows / wall, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "memory_budget_mb": MEMORY_BUDGET_MB,
        "within_budget": peak_mb < MEMORY_BUDGET_MB,
    }


def format_scale(result: dict) -> str:
    """One line for the scale run."""
    verdict = "under" if result["within_budget"] else "OVER"
    return (
        f"filter at scale: {result['rows']} rows in {result['wall_s']:.1f}s = {result['rows_per_s']:.0f} rows/s "
        f"(fresh process incl. model load), peak RSS {result['peak_rss_mb']:.0f} MB ({verdict} the "
        f"{result['memory_budget_mb']} MB budget)"
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
        default=0,
        metavar="N",
        help=f"also run `iacsieve filter` on N valid rows in a fresh process, for throughput and peak "
        f"memory (make bench uses {SCALE_ROWS}; default: off)",
    )
    args = parser.parse_args(argv)
    try:
        results = [
            run_filter_benchmark(m, args.fixture, args.repeats, args.batch_size, args.threshold)
            for m in args.model
        ]
        if args.scale_rows:
            for r, m in zip(results, args.model):
                r["scale"] = run_scale_benchmark(m, args.scale_rows, args.fixture, args.threshold)
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
        if "scale" in r:
            print("  " + format_scale(r["scale"]), file=sys.stderr)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
