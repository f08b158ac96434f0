"""`reports/summary.md`: every run of every stage, the champion, and the published figures beside ours.

Reads only what the pipeline wrote (results/stageN/<run>/summary.json, results/selection/stageN/,
models/champion/champion.json); `collect_report` gathers it and `render_report` is a pure function
of that data (so it is unit-tested without a pipeline). The ablation table of `iacsieve ablate`
(reports/ablation/ablation.md) is included when it exists.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from iacsieve.core import layout
from iacsieve.core.artifacts import STAGE_METRICS, write_artifact
from iacsieve.core.errors import ConfigError
from iacsieve.core.layout import TEST_SETS
from iacsieve.core.run_config import TrainConfig
from iacsieve.io.atomic import atomic_write_text
from iacsieve.method.params import Params
from iacsieve.method.plan import FINAL_STAGE, STAGES, stage_plan
from iacsieve.steps.metrics import headline

ABLATION_FILE = Path(layout.ABLATION_DIR) / layout.ABLATION_MD
LEARNING_CURVE_FILE = Path(layout.LEARNING_CURVE_DIR) / layout.LEARNING_CURVE_JSON

# Published figures on this data (shared/data/README.md; IntelliSA, arXiv 2601.14595), test split.
PUBLISHED_BEST = "CodeT5+ 220M, best single run (argmax)"
PUBLISHED_SEEDS = "CodeT5+ 220M, five seeds (mean)"
PUBLISHED: dict = {
    "source": "Mei & Fu, IntelliSA (arXiv 2601.14595, 2026), test split (human oracle labels)",
    "model_f1": {
        PUBLISHED_BEST: 0.794,
        PUBLISHED_SEEDS: 0.727,
        "CodeT5+ 770M": 0.785,
        "CodeT5-base": 0.769,
        "CodeBERT": 0.766,
    },
    "model_f1_std": {PUBLISHED_SEEDS: 0.056},
    # GLITCH alone, end to end on the oracle scripts: (precision, recall, F1)
    "glitch": {
        "ansible": (0.741, 0.977, 0.843),
        "chef": (0.603, 0.731, 0.661),
        "puppet": (0.418, 0.938, 0.578),
    },
    # GLITCH + the published filter, end to end: F1
    "glitch_filtered_f1": {"ansible": 0.878, "chef": 0.768, "puppet": 0.846, "macro": 0.831},
}


@dataclass
class RunRow:
    """One run's headline numbers (from its summary.json)."""

    stage: int
    name: str  # the run directory name (DVC's)
    resolved: str  # the run name with the resolved family/values (DESIGN.md naming)
    family: str
    val_f1: float
    test_f1: dict[str, float]
    fp_reduction: float  # test combined
    tp_retention: float  # test combined
    threshold: float
    training_cost: int | None  # rows x epochs (deterministic; wall times live in reports/timings)
    selected: bool = False


@dataclass
class ReportData:
    stages: dict[int, list[RunRow]] = field(default_factory=dict)
    champion: dict | None = None  # champion.json
    champion_summary: dict | None = None  # the champion run's summary.json
    ablation: str | None = None
    tradeoff: list[dict] | None = None  # operating points of the champion (iacsieve.operating_point)
    learning_curve: dict | None = None  # the report-only experiment (iacsieve.learning_curve)
    prefix: str = ""
    profile: str | None = None
    champion_dir: str = layout.CHAMPION_DIR
    origin: dict | None = None  # origin.json of a champion pulled from a cluster run


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def resolved_name(summary: dict, stage: int) -> str:
    """`<family>_lr.._bs.._ep.._wd..[_seed..]` of the config a run actually trained."""
    try:
        return TrainConfig.from_dict(summary["config"]).run_name(with_seed=stage_plan(stage).seed_in_run_name)
    except (ConfigError, KeyError, TypeError):
        return str(summary.get("run", "?"))


def run_row(stage: int, summary: dict, selected: bool = False) -> RunRow:
    test = summary["test"]
    return RunRow(
        stage=stage,
        name=str(summary.get("run")),
        resolved=resolved_name(summary, stage),
        family=str(summary.get("family")),
        val_f1=float(summary["val"]["f1"]),
        test_f1={s: float(test[s]["f1"]) for s in TEST_SETS if s in test},
        fp_reduction=float(test["combined"]["fp_reduction"]),
        tp_retention=float(test["combined"]["tp_retention"]),
        threshold=float(summary.get("threshold", 0.5)),
        training_cost=summary.get("samples_seen"),
        selected=selected,
    )


def rows_from_selection(stage: int, selection: dict) -> list[RunRow]:
    """A stage's runs as its selection.json ranks them: all a cluster run hands back (no local run dirs)."""
    chosen = (selection.get("selected") or {}).get("run")
    return [
        run_row(stage, {**row, "val": {"f1": row["val_f1"]}}, selected=row["run"] == chosen)
        for row in selection.get("runs", [])
    ]


def collect_report(
    results: str | Path = layout.RESULTS_DIR,
    champion: str | Path = layout.CHAMPION_DIR,
    *,
    prefix: str = "",
    params: Params | None = None,
    ablation: str | Path = ABLATION_FILE,
    selection: str | Path | None = None,
    learning_curve: str | Path = LEARNING_CURVE_FILE,
) -> ReportData:
    """Gather the runs of each stage (the current grid's when `params` is given, else every run dir).

    A champion pulled from a cluster (it holds origin.json) is reported alone, never beside this
    repo's local runs; its stage-4 runs come from `selection` (the pulled selection.json) if given.
    """
    results = Path(results)
    data = ReportData(prefix=prefix, profile=params.profile if params else None)
    if (Path(champion) / layout.ORIGIN_FILE).is_file():
        pulled = read_json(Path(selection)) if selection else None
        data.stages = {4: rows_from_selection(4, pulled)} if pulled else {}
        _read_champion(data, results, champion, ablation, learning_curve)
        return data
    for stage in STAGES:
        root = results / f"stage{stage}"
        ranked = read_json(layout.selection_dir_in(results, stage) / layout.SELECTION_FILE) or {}
        if ranked.get("runs"):  # the runs the stage's selection ranked: its current grid
            dirs = [root / Path(r["results_dir"]).name for r in ranked["runs"]]
        else:
            dirs = sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
        chosen = (ranked.get("selected") or {}).get("run")
        rows = []
        for d in dirs:
            summary = read_json(d / layout.SUMMARY_FILE)
            if summary is None:
                continue
            row = run_row(stage, summary, selected=summary.get("run") == chosen)
            if prefix and not (row.name.startswith(prefix) or row.resolved.startswith(prefix)):
                continue
            rows.append(row)
        data.stages[stage] = rows
    _read_champion(data, results, champion, ablation, learning_curve)
    return data


def _read_champion(
    data: ReportData, results: Path, champion: str | Path, ablation: str | Path, learning_curve: str | Path
) -> None:
    card = read_json(Path(champion) / layout.CHAMPION_FILE)
    data.champion_dir = str(champion)
    data.origin = read_json(Path(champion) / layout.ORIGIN_FILE)
    if card is not None:
        data.champion = card
        final = layout.selection_dir_in(results, FINAL_STAGE) / layout.SELECTION_FILE
        selection = {} if data.origin else read_json(final) or {}
        results_dir = (selection.get("selected") or {}).get("results_dir")
        if results_dir:
            data.champion_summary = read_json(Path(results_dir) / layout.SUMMARY_FILE)
    if Path(ablation).is_file():
        data.ablation = Path(ablation).read_text(encoding="utf-8")
    data.tradeoff = _tradeoff(data.champion)
    data.learning_curve = read_json(Path(learning_curve))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (0 for a single value)."""
    if not values:
        raise ValueError("no values")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def seed_spread(rows: list[RunRow]) -> dict:
    """Stage-4 mean +- std of val F1 and of test F1 per set."""
    out = {"n": len(rows), "val_f1": mean_std([r.val_f1 for r in rows])}
    for s in TEST_SETS:
        values = [r.test_f1[s] for r in rows if s in r.test_f1]
        if values:
            out[f"test_f1_{s}"] = mean_std(values)
    return out


def _f(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _stage_table(rows: list[RunRow]) -> list[str]:
    lines = [
        "| run | trained as | val F1 | test F1 | ansible | chef | puppet | FP reduction | TP retention "
        "| threshold | training cost (rows x epochs) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(rows, key=lambda r: (-r.val_f1, r.name)):
        mark = " ★" if r.selected else ""
        lines.append(
            f"| {r.name}{mark} | {r.resolved} | {_f(r.val_f1)} | {_f(r.test_f1.get('combined'))} "
            f"| {_f(r.test_f1.get('ansible'))} | {_f(r.test_f1.get('chef'))} | {_f(r.test_f1.get('puppet'))} "
            f"| {_f(r.fp_reduction)} | {_f(r.tp_retention)} | {_f(r.threshold, 2)} | {_f(r.training_cost, 0)} |"
        )
    return lines


STAGE_TITLES = {
    1: "Stage 1 — model family",
    2: "Stage 2 — tuning the stage-1 winner",
    3: "Stage 3 — best configuration + threshold sweep",
    4: "Stage 4 — seeds (frozen threshold)",
}


def render_report(data: ReportData) -> str:
    """The Markdown report (pure: same data, same text)."""
    lines = ["# iacsieve — pipeline report", ""]
    if data.profile:
        lines.append(f"Profile: `{data.profile}`. ")
    if data.prefix:
        lines.append(f"Runs filtered by name prefix `{data.prefix}`. ")
    lines += [
        "Selection uses validation F1 only; test sets are the human-labelled oracle. "
        "★ = the stage's selected run. FP reduction / TP retention on the combined test set.",
        "",
    ]
    lines += _headline_section(data)
    lines += _champion_section(data)
    lines += _tradeoff_section(data)
    for stage in STAGES:
        rows = data.stages.get(stage, [])
        lines += [f"## {STAGE_TITLES[stage]}", ""]
        if not rows:
            lines += ["No runs.", ""]
            continue
        lines += _stage_table(rows) + [""]
        if stage_plan(stage).seed_in_run_name and len(rows) > 1:
            spread = seed_spread(rows)
            cells = [f"val F1 {spread['val_f1'][0]:.3f} ± {spread['val_f1'][1]:.3f}"]
            cells += [
                f"test F1 {s} {spread[f'test_f1_{s}'][0]:.3f} ± {spread[f'test_f1_{s}'][1]:.3f}"
                for s in TEST_SETS
                if f"test_f1_{s}" in spread
            ]
            lines += [f"Mean ± std over {spread['n']} seeds: " + "; ".join(cells) + ".", ""]
            if not seeds_vary(rows):
                lines += [_same_seeds_note(rows), ""]
    lines += _published_section(data)
    if data.ablation:
        lines += ["## Ablation", "", data.ablation.strip(), ""]
    if data.learning_curve:
        from iacsieve.reporting.learning_curve import markdown as learning_curve_markdown

        lines += [
            learning_curve_markdown(
                data.learning_curve,
                image=f"{Path(layout.LEARNING_CURVE_DIR).name}/{layout.LEARNING_CURVE_PNG}",
            ).strip(),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _same_seeds_note(rows: list[RunRow]) -> str:
    std = PUBLISHED["model_f1_std"][PUBLISHED_SEEDS]
    return (
        f"The {len(rows)} seeds gave identical results: the {rows[0].family} family does not vary with its seed "
        f"here, so its ± 0.000 says nothing about stability and is not comparable with the published ± {std:.3f} "
        "of a fine-tuned transformer."
    )


def seeds_vary(rows: list[RunRow]) -> bool:
    """Whether the stage-4 seeds gave different results (a stochastic family): only then is a spread meaningful."""
    keys = {(r.val_f1, tuple(sorted(r.test_f1.items())), r.fp_reduction, r.tp_retention) for r in rows}
    return len(keys) > 1


def proportion_ci(successes: int, total: int) -> tuple[float, float] | None:
    """95% Wilson interval of a proportion (FP reduction, TP retention: a share of a fixed set of warnings)."""
    if total <= 0:
        return None
    from scipy.stats import binomtest  # lazy: keeps the CLI start fast

    ci = binomtest(successes, total).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def _ci(ci: tuple[float, float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "—"


def _cost_rows(test: dict) -> list[str]:
    """FP reduction and TP retention rows (Wilson CIs where the counts are known) and what is dropped."""
    counts = test.get("confusion_matrix") or {}
    tp, fn, tn, fp = (counts.get(k) for k in ("tp", "fn", "tn", "fp"))
    if tp is None or fn is None or tn is None or fp is None:
        return [
            f"| FP reduction | {_f(test.get('fp_reduction'))} | — | not published |",
            f"| TP retention | {_f(test.get('tp_retention'))} | — | not published |",
            "",
        ]
    return [
        f"| FP reduction (false alarms removed) | {_f(test.get('fp_reduction'))} | "
        f"{_ci(proportion_ci(tn, tn + fp))} | not published |",
        f"| TP retention (real smells kept) | {_f(test.get('tp_retention'))} | "
        f"{_ci(proportion_ci(tp, tp + fn))} | not published |",
        "",
        f"**The filter drops {fn} of {tp + fn} real smells ({fn / (tp + fn):.0%}, TP retention "
        f"{_f(test.get('tp_retention'))})** while it removes {tn} of {tn + fp} false alarms. A dropped "
        "real smell is a security problem nobody is shown: where that costs more than reading false "
        "alarms, filter with a lower `--threshold` or review what it drops (rows with `keep` false).",
        "",
    ]


def _headline_section(data: ReportData) -> list[str]:
    """What a user of the filter needs first: on the human-labelled test set, how good, and what it costs."""
    card = data.champion
    summary = data.champion_summary or {}
    test = ((summary.get("test") or (card or {}).get("test") or {}).get("combined")) or {}
    if card is None or not test:
        return []
    f1_ci = test.get("f1_ci95") or {}
    seeds = data.stages.get(4, [])
    spread = seed_spread(seeds)["test_f1_combined"] if len(seeds) > 1 else None
    published_seeds = (
        f"{PUBLISHED['model_f1'][PUBLISHED_SEEDS]:.3f} ± {PUBLISHED['model_f1_std'][PUBLISHED_SEEDS]:.3f}"
    )
    lines = [
        "## What the filter does (champion, combined test set)",
        "",
        f"`models/champion` = {card.get('run')} ({card.get('family')}, threshold {card.get('threshold', 0.5):.2f}), "
        "on the human-labelled test warnings:",
        "",
        "| | ours | 95% CI | published (CodeT5+ 220M) |",
        "| --- | ---: | --- | --- |",
        f"| F1 | **{_f(test.get('f1'))}** | {_ci((f1_ci['lo'], f1_ci['hi']) if 'lo' in f1_ci else None)} "
        f"| {PUBLISHED['model_f1'][PUBLISHED_BEST]:.3f} best run; {published_seeds} "
        "over five seeds |",
    ]
    lines += _cost_rows(test)
    if spread is not None and seeds_vary(seeds):
        lines += [
            f"Over {len(seeds)} seeds: test F1 {spread[0]:.3f} ± {spread[1]:.3f} (published: {published_seeds}).",
            "",
        ]
    elif spread is not None:
        lines += [_same_seeds_note(seeds), ""]
    lines += [
        "CIs: F1 by bootstrap over the test warnings; FP reduction and TP retention by the Wilson "
        "interval of a proportion.",
        "",
    ]
    return lines


def _champion_section(data: ReportData) -> list[str]:
    card = data.champion
    if card is None:
        return ["## Champion", "", f"No champion yet in `{data.champion_dir}` (run `make repro`).", ""]
    lines = [
        "## Champion",
        "",
        f"`{data.champion_dir}` ({champion_origin(data)}): **{card.get('run')}** ({card.get('family')}), "
        f"threshold {card.get('threshold', 0.5):.2f} ({card.get('threshold_source', '?')}), data md5 "
        f"`{card.get('data_md5', '?')}`."
        + (f" Chosen on **{card['validation']}** validation labels." if card.get("validation") else ""),
        "",
        "| set | F1 | 95% CI | precision | recall | FP reduction | TP retention |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    sets = champion_sets(data)
    for name in ("val", *TEST_SETS):
        m = sets.get(name)
        if not m:
            continue
        ci = m.get("f1_ci95") or {}
        ci_text = f"[{ci['lo']:.3f}, {ci['hi']:.3f}]" if "lo" in ci else "—"
        lines.append(
            f"| {name} | {_f(m.get('f1'))} | {ci_text} | {_f(m.get('precision'))} | {_f(m.get('recall'))} "
            f"| {_f(m.get('fp_reduction'))} | {_f(m.get('tp_retention'))} |"
        )
    return lines + [""]


def _tradeoff(card: dict | None) -> list[dict] | None:
    """The champion's operating points, when its run's score files are there (thresholds from val only)."""
    from iacsieve.steps.operating_point import tradeoff_for_run

    run_dir = Path((card or {}).get("run_dir") or "")
    if (
        not card
        or not (run_dir / layout.VAL_SCORES).is_file()
        or not (run_dir / layout.TEST_SCORES).is_file()
    ):
        return None
    return tradeoff_for_run(run_dir, float(card["threshold"]))


def _tradeoff_section(data: ReportData) -> list[str]:
    from iacsieve.steps.operating_point import tradeoff_markdown

    if not data.tradeoff:
        return []
    return [
        "### Operating points",
        "",
        "Fewer lost real smells for more false alarms: each threshold is chosen on validation "
        "(`iacsieve filter --min-retention R`); test columns show what it did on the human labels.",
        "",
        tradeoff_markdown(data.tradeoff).strip(),
        "",
    ]


def champion_origin(data: ReportData) -> str:
    """Which champion this is: pulled from a cluster run (origin.json) or frozen by this repo's pipeline."""
    origin = data.origin or {}
    if not origin:
        return "frozen by this repo's `dvc repro`"
    run = f"KFP run {origin['run_id']}, " if origin.get("run_id") else ""
    return f"pulled from {run}{origin.get('source', '?')}"


def champion_sets(data: ReportData) -> dict:
    """The champion's metrics per set: its run's summary when local, else champion.json (val: F1 only)."""
    card = data.champion or {}
    summary = data.champion_summary or {}
    val = summary.get("val") or ({"f1": card["val_f1"]} if card.get("val_f1") is not None else None)
    return {"val": val, **(summary.get("test") or card.get("test") or {})}


def _published_section(data: ReportData) -> list[str]:
    lines = [
        "## Published figures beside ours",
        "",
        f"Published: {PUBLISHED['source']}.",
        "",
        "| model | published test F1 | ours |",
        "| --- | ---: | --- |",
    ]
    ours_best = max(
        (r.test_f1.get("combined", 0.0) for rows in data.stages.values() for r in rows), default=None
    )
    stage4 = data.stages.get(4, [])
    ours_seeds = seed_spread(stage4)["test_f1_combined"] if len(stage4) > 1 else None
    champion_f1 = ((data.champion or {}).get("test") or {}).get("combined", {}).get("f1")
    for model, f1 in PUBLISHED["model_f1"].items():
        std = PUBLISHED["model_f1_std"].get(model)
        pub = f"{f1:.3f}" + (f" ± {std:.3f}" if std else "")
        if "five seeds" in model and ours_seeds and not seeds_vary(stage4):
            ours = f"{ours_seeds[0]:.3f} (our champion; its {len(stage4)} seeds gave the same results: no spread to compare)"
        elif "five seeds" in model and ours_seeds:
            ours = f"{ours_seeds[0]:.3f} ± {ours_seeds[1]:.3f} (our champion, {len(stage4)} seeds)"
        elif "best single" in model and ours_best is not None:
            ours = (
                f"{ours_best:.3f} (our best run by test F1, for comparison only; selection never uses test)"
            )
        else:
            ours = "—"
        lines.append(f"| {model} | {pub} | {ours} |")
    lines.append(f"| **our champion** (selected on val) | | {_f(champion_f1)} |")
    lines += [
        "",
        "Model-level F1 on each test set, with the end-to-end figures of the detector for context "
        "(end to end = on the oracle scripts, including warnings the detector missed):",
        "",
        "| tech | GLITCH alone P / R / F1 | GLITCH + published filter F1 | our champion F1 (model level) |",
        "| --- | --- | ---: | ---: |",
    ]
    champ_test = (data.champion or {}).get("test") or {}
    for tech, (p, r, f1) in PUBLISHED["glitch"].items():
        lines.append(
            f"| {tech} | {p:.3f} / {r:.3f} / {f1:.3f} | {PUBLISHED['glitch_filtered_f1'][tech]:.3f} "
            f"| {_f((champ_test.get(tech) or {}).get('f1'))} |"
        )
    return lines + [""]


def champion_metrics(data: ReportData) -> dict:
    """The champion's DVC metrics, in the stage metrics' shape (`steps.metrics.headline`), plus the
    stage-4 seed spread: one short row in `dvc metrics show`."""
    card = data.champion or {}
    sets = champion_sets(data)
    out = headline(card.get("threshold"), sets.get("val"), sets.get("combined"))
    stage4 = data.stages.get(4, [])
    if len(stage4) > 1:
        spread = seed_spread(stage4)
        out.update(val_f1_std=spread["val_f1"][1], test_f1_std=spread["test_f1_combined"][1])
    return out


def pulled_champion_metrics(champion: dict, selection: dict | None = None) -> dict:
    """reports/metrics.json's shape for a champion pulled from a cluster: its champion.json, and the
    stage-4 seed spread and val FP reduction / TP retention when its selection.json came along (the
    val F1 interval needs the run's scores, which stay on the cluster)."""
    stages = {4: rows_from_selection(4, selection)} if selection else {}
    row = next((r for r in (selection or {}).get("runs", []) if r.get("run") == champion.get("run")), None)
    summary = (
        {
            "val": {
                "f1": row["val_f1"],
                "fp_reduction": row.get("val_fp_reduction"),
                "tp_retention": row.get("val_tp_retention"),
            }
        }
        if row
        else None
    )
    return champion_metrics(ReportData(champion=champion, champion_summary=summary, stages=stages))


def write_report(
    results: str | Path = layout.RESULTS_DIR,
    champion: str | Path = layout.CHAMPION_DIR,
    out: str | Path = layout.REPORT_FILE,
    *,
    prefix: str = "",
    params: Params | None = None,
    metrics_file: str | Path | None = None,
    selection: str | Path | None = None,
) -> Path:
    """Collect, render and write the report (and the champion metrics JSON); returns the report path."""
    data = collect_report(results, champion, prefix=prefix, params=params, selection=selection)
    path = atomic_write_text(out, render_report(data))
    if metrics_file is not None:
        write_artifact(STAGE_METRICS, metrics_file, champion_metrics(data))
    return path
