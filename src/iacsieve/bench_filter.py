"""Benchmark `iacsieve filter`: warnings per second on the GLITCH Puppet fixture (used by `make bench`).

The model is loaded once (timed on its own, as a CI job pays it once); then the whole filter — read
the detections, resolve and read the scripts, build inputs, score in batches, write the output — runs
`repeats` times and the median wall time gives warnings/s. Also reports what the champion does to the
fixture: the share of the covered (scored) warnings it drops, overall and per smell.

    python -m iacsieve.bench_filter --model models/champion [--fixture tests/fixtures/glitch-puppet]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .errors import IacsieveError
from .filtering import filter_detections
from .models import load_scorer

DEFAULT_FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "glitch-puppet"
DETECTIONS_FILE = "glitch-puppet.csv"
SCRIPTS_DIR = "scripts"


def run_filter_benchmark(model_dir: str | Path, fixture_dir: str | Path = DEFAULT_FIXTURE, repeats: int = 5,
                         batch_size: int = 64, threshold: float | None = None) -> dict:
    """Median warnings/s of `filter_detections` over `repeats` runs on the fixture (model loaded once).

    `threshold` is needed for a plain run's model dir (no champion.json); a champion uses its own.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    fixture_dir = Path(fixture_dir)
    detections, scripts = fixture_dir / DETECTIONS_FILE, fixture_dir / SCRIPTS_DIR
    if not detections.is_file() or not scripts.is_dir():
        raise IacsieveError(f"{fixture_dir}: no {DETECTIONS_FILE} + {SCRIPTS_DIR}/ fixture here (run from a checkout)")
    start = time.perf_counter()
    scorer = load_scorer(model_dir)
    load_s = time.perf_counter() - start
    walls: list[float] = []
    summary: dict = {}
    with tempfile.TemporaryDirectory(prefix="iacsieve-bench-") as tmp:
        for i in range(repeats):
            start = time.perf_counter()
            summary = filter_detections(model_dir, detections, scripts, Path(tmp) / f"out{i}.csv",
                                        batch_size=batch_size, scorer=scorer, threshold=threshold)
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
        "dropped_share_of_covered": round(summary["dropped_scored"] / summary["scored"], 4) if summary["scored"] else None,
        "dropped_share_by_smell": {s: round(c["dropped"] / c["scored"], 4) for s, c in sorted(covered.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iacsieve.bench_filter", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="DIR", help="model dir (repeatable)")
    parser.add_argument("--fixture", default=str(DEFAULT_FIXTURE), help="fixture folder (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per model; the median counts (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="scoring batch size (default: %(default)s)")
    parser.add_argument("--threshold", type=float, help="decision threshold for models without champion.json")
    args = parser.parse_args(argv)
    try:
        results = [run_filter_benchmark(m, args.fixture, args.repeats, args.batch_size, args.threshold)
                   for m in args.model]
    except IacsieveError as exc:
        print(f"iacsieve: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for r in results:
        print(f"{r['family']:<14} {r['warnings_per_s']:>9.1f} warnings/s (median of {r['repeats']}, "
              f"model load {r['load_s']:.2f}s once), drops {r['dropped_scored']}/{r['scored']} "
              f"({100 * (r['dropped_share_of_covered'] or 0):.1f}%) of the covered warnings", file=sys.stderr)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
