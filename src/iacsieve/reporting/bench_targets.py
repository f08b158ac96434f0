"""The filter's weight beside its targets (issue 28), as `make bench` prints them.

Why: the filter runs on every push; what a user pays is the install's size and a fresh process's CPU
time and memory, not warnings/s of a warm model. Measured here, each in a fresh `iacsieve filter`:

- the base install's footprint: the files of the installed distributions a base install holds (the
  package's `dependencies` and what they need), as pip put them in this environment's site-packages;
- 1,000 realistic rows: the three real GLITCH fixtures (tests/fixtures/glitch-real) cycled, mostly
  code-quality rows passed through plus the security rows scored: CPU seconds and peak RSS;
- 1,000 distinct security warnings with evidence: 1,000 different flagged lines, each scored, explained
  and searched in the evidence index once;
- 400k rows (throughput, rows/s) and 2M rows (peak RSS must not grow with the input).

    python -m iacsieve.reporting.bench_targets --model models/champion [--quick]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import json
import re
import sys
import tempfile
from pathlib import Path

from iacsieve.core.errors import IacsieveError
from iacsieve.reporting.bench_filter import run_command

REAL = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "glitch-real"  # the repo root
TECHS = ("ansible", "chef", "puppet")

# (name, what, limit, "max" | "min"): the targets of issue 28, on this project's 2-core machine when quiet.
TARGETS: tuple[tuple[str, str, float, str], ...] = (
    ("install_mb", "site-packages of a fresh base install (MB)", 100.0, "max"),
    ("realistic_cpu_s", "1,000 realistic rows, fresh process: CPU s", 0.4, "max"),
    ("realistic_rss_mb", "1,000 realistic rows, fresh process: peak RSS MB", 80.0, "max"),
    ("distinct_cpu_s", "1,000 distinct security warnings with evidence: CPU s", 1.0, "max"),
    ("rows_per_s_400k", "400k rows: rows/s", 50_000.0, "min"),
    ("rss_mb_2m", "2M rows: peak RSS MB", 500.0, "max"),
)

# Templates of distinct security warnings (GLITCH code, Puppet line): {i} makes each line different.
SECURITY_LINES: tuple[tuple[str, str], ...] = (
    ("sec_hard_pass", "  $db_password_{i} = 'Winter{i}Pass!'"),
    ("sec_susp_comm", "  # TODO: the ssl check is disabled for host {i}, fix before release"),
    ("sec_https", "  source => 'http://mirror{i}.example.org/pkg/app.tar.gz',"),
    ("sec_hard_secr", "  $api_token_{i} = lookup('app::token_{i}')"),
    ("sec_weak_crypt", '  $digest_{i} = md5("${{salt}}{i}")'),
    ("sec_hard_user", "  user => 'deploy{i}',"),
)


def realistic_inputs(rows: int, folder: Path) -> tuple[Path, Path]:
    """(detections, scripts): `rows` rows cycling the three real GLITCH fixtures, paths under one folder."""
    lines = []
    for tech in TECHS:
        for line in (REAL / f"{tech}-glitch.csv").read_text(encoding="utf-8").splitlines():
            if line.strip():
                lines.append(re.sub(r"^\./", f"{tech}/", line))
    detections = folder / "realistic.csv"
    detections.write_text(
        "".join(line + "\n" for line in itertools.islice(itertools.cycle(lines), rows)), encoding="utf-8"
    )
    return detections, REAL


def distinct_inputs(rows: int, folder: Path) -> tuple[Path, Path]:
    """(detections, scripts): `rows` distinct security warnings, one per line of a generated Puppet file."""
    scripts = folder / "scripts"
    scripts.mkdir()
    body, detections = [], []
    for i in range(rows):
        code, template = SECURITY_LINES[i % len(SECURITY_LINES)]
        text = template.format(i=i)
        body.append(text)
        detections.append(f"./manifests.pp,{i + 1},{code},{text.strip().replace(',', ' ')},-")
    (scripts / "manifests.pp").write_text("\n".join(body) + "\n", encoding="utf-8")
    path = folder / "distinct.csv"
    path.write_text("".join(d + "\n" for d in detections), encoding="utf-8")
    return path, scripts


def base_install_mb(requirements: list[str] | None = None) -> float:
    """MB of the files of iacsieve and its base dependencies (recursively) as installed here;
    `requirements`: another base (a before/after comparison) instead of the installed package's."""
    seen: set[str] = set()
    todo = ["iacsieve", *(requirements or [])]
    if requirements is not None:
        seen.add("iacsieve")
    total = 0
    while todo:
        name = re.split(r"[ ;<>=!~\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file() and "__pycache__" not in path.parts:
                total += path.stat().st_size
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            todo.append(requirement)
    return round(total / 2**20, 1)


def measure(
    model: str | Path,
    quick: bool = False,
    python: str = sys.executable,
    env: dict | None = None,
    requirements: list[str] | None = None,
    scale: bool = True,
) -> dict:
    """Every figure of `TARGETS` for `model` (quick: 40k / 200k rows instead of 400k / 2M); `python`,
    `env`, `requirements`: another source tree and base (a before/after comparison); `scale=False`
    leaves the two large runs to the caller (`make bench` has them from its scale runs)."""
    big, huge = (40_000, 200_000) if quick else (400_000, 2_000_000)
    out: dict = {"install_mb": base_install_mb(requirements)}
    with tempfile.TemporaryDirectory(prefix="iacsieve-targets-") as tmp:
        folder = Path(tmp)
        realistic = run_command(
            model, *realistic_inputs(1000, folder), folder / "r.csv", python=python, env=env
        )
        out.update(realistic_cpu_s=realistic["cpu_s"], realistic_rss_mb=realistic["peak_rss_mb"])
        distinct = run_command(
            model, *distinct_inputs(1000, folder), folder / "d.csv", python=python, env=env
        )
        out.update(distinct_cpu_s=distinct["cpu_s"], distinct_rss_mb=distinct["peak_rss_mb"])
        if not scale:
            return out
        detections, scripts = realistic_inputs(big, folder)
        large = run_command(model, detections, scripts, folder / "b.csv", python=python, env=env)
        out.update(rows_per_s_400k=round(big / large["wall_s"], 1), rows_400k=big)
        detections, scripts = realistic_inputs(huge, folder)
        large = run_command(model, detections, scripts, folder / "h.csv", python=python, env=env)
        out.update(rss_mb_2m=large["peak_rss_mb"], rows_2m=huge)
    return out


def format_targets(result: dict, before: dict | None = None) -> list[str]:
    """One line per target: measured (and before, with the ratio, when given) beside the limit."""
    lines = []
    for key, what, limit, sense in TARGETS:
        value = result.get(key)
        if value is None:
            continue
        ok = value <= limit if sense == "max" else value >= limit
        line = f"{what:<58} {value:>10.2f}  target {'<=' if sense == 'max' else '>='} {limit:g}  {'ok' if ok else 'MISSED'}"
        if before is not None and before.get(key):
            line += f"   (before {before[key]:.2f}, x{value / before[key]:.2f})"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iacsieve.reporting.bench_targets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, metavar="DIR", help="champion folder")
    parser.add_argument("--quick", action="store_true", help="40k and 200k rows instead of 400k and 2M")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    try:
        result = measure(args.model, args.quick)
    except IacsieveError as exc:
        print(f"iacsieve: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(result, indent=2) if args.json else "\n".join(format_targets(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
