"""`iacsieve report | plots | params | where | repair-dvc-lock`: the researcher's commands around the DVC project."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.io.output_policy import check_file_output, check_folder_output
from iacsieve.io.overlap import refuse_overlap
from iacsieve.method.plan import PLAN, STAGES

FREEZING_STAGES: tuple[int, ...] = tuple(n for n, plan in PLAN.items() if plan.freezes)

_RAW = argparse.RawDescriptionHelpFormatter

CHAMPION_DIR = Path(layout.CHAMPION_DIR)
REPORT_FILE = Path(layout.REPORT_FILE)
PLOTS_DIR = Path(layout.PLOTS_DIR)


def register(sub: argparse._SubParsersAction) -> None:
    _register_report(sub)
    _register_plots(sub)
    _register_params(sub)
    _register_where(sub)
    _register_repair_lock(sub)


def params_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=layout.PARAMS_FILE, help="params file (default: %(default)s)")


# ----------------------------------------------------------------------------- report / plots


def _register_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write reports/summary.md: every stage's runs, the champion, published figures",
        description="Write a Markdown report: one table per stage of every run (val F1, test F1 per set, "
        "FP reduction, wall time), the champion with 95%% bootstrap intervals, the stage-4 "
        "mean +- std over seeds, the published figures beside ours, and the ablation table "
        "if reports/ablation/ablation.md exists. Also writes the champion's DVC metrics file.",
    )
    p.add_argument("--results", default="results", help="results root (default: %(default)s)")
    p.add_argument(
        "--champion", default=str(CHAMPION_DIR), help="final champion folder (default: %(default)s)"
    )
    p.add_argument("--out", default=str(REPORT_FILE), help="report file (default: %(default)s)")
    p.add_argument(
        "--metrics",
        default=layout.REPORT_METRICS,
        help="champion metrics JSON for DVC (default: %(default)s; '' to skip)",
    )
    p.add_argument("--prefix", default="", help="only runs whose name starts with this prefix")
    p.add_argument(
        "--selection", help="a pulled stage-4 selection.json: the seed table of a cluster champion"
    )
    _cluster_arg(p)
    params_arg(p)
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from iacsieve.method.params import load_params
    from iacsieve.reporting.report import write_report

    params = load_params(args.params) if Path(args.params).is_file() else None
    if args.cluster:
        _use_cluster_champion(args, out="summary.md")
        args.metrics = ""  # pull-champion wrote it; the report only reads
    read = {"--results": args.results, "--champion": args.champion, "--params": args.params}
    check_file_output(args.out, inputs={"--params": args.params, "--champion": args.champion})
    refuse_overlap(args.out, read, inside_ok=True)  # a report file beside the results is fine
    if args.metrics:
        check_file_output(args.metrics, flag="--metrics", inputs={"--params": args.params, "--out": args.out})
        refuse_overlap(args.metrics, read, out_flag="--metrics", inside_ok=True)
    path = write_report(
        args.results,
        args.champion,
        args.out,
        prefix=args.prefix,
        params=params,
        metrics_file=args.metrics or None,
        selection=args.selection,
    )
    print(f"report: {path}")
    return 0


def _register_plots(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plots",
        help="render the champion's plots to PNG (offline, matplotlib)",
        description="Render PNGs: the stage-3 threshold sweep (F1 vs threshold, chosen one marked), the "
        "champion's precision-recall curves on val and test, its confusion matrix, and the "
        "stage-4 spread over seeds. Also writes the plot data (CSV/JSON) for `dvc plots`.",
    )
    p.add_argument("--results", default="results", help="results root (default: %(default)s)")
    p.add_argument(
        "--champion", default=str(CHAMPION_DIR), help="final champion folder (default: %(default)s)"
    )
    p.add_argument("--out", default=str(PLOTS_DIR), help="output folder (default: %(default)s)")
    p.add_argument(
        "--data",
        default=layout.PREPARED_DIR,
        help="prepared data, scored with the champion when its run dir is not here (default: %(default)s)",
    )
    p.add_argument(
        "--selection", help="stage-4 selection.json for the seed plot (default: the results root's)"
    )
    _cluster_arg(p)
    p.set_defaults(func=_plots)


def _cluster_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster",
        action="store_true",
        help=f"describe the champion pulled from a cluster ({Path(layout.CLUSTER_CHAMPION_DIR)}; output and inputs "
        f"under {Path(layout.CLUSTER_REPORTS_DIR)}/) instead of this repo's",
    )


def _use_cluster_champion(args: argparse.Namespace, out: str) -> None:
    """`--cluster`: the champion `kfp pull-champion` wrote, its selection, and output beside them.
    This repo's own runs (`--results`) are never read for it; without a pulled champion, a refusal
    before anything is written."""
    champion, reports = Path(layout.CLUSTER_CHAMPION_DIR), Path(layout.CLUSTER_REPORTS_DIR)
    if not (champion / layout.CHAMPION_FILE).is_file():
        raise IacsieveError(
            f"--cluster: no champion pulled into {champion} yet; pull one first: "
            "iacsieve kfp pull-champion --host … --from-run <run id> (docs/cluster.md)"
        )
    args.champion, args.out = str(champion), str(reports / out)
    args.results = str(reports / "results")  # the cluster's runs stay on the cluster: none here
    args.selection = args.selection or str(reports / layout.SELECTION_FILE)


def _plots(args: argparse.Namespace) -> int:
    from iacsieve.reporting.plots import render_plots

    if args.cluster:
        _use_cluster_champion(args, out="plots")
    check_folder_output(
        args.out,
        inputs={"--champion": args.champion, "--data": args.data, "--selection": args.selection},
        replaces=False,
    )
    refuse_overlap(args.out, {"--results": args.results}, inside_ok=True)
    written = render_plots(args.results, args.champion, args.out, data=args.data, selection=args.selection)
    print(f"plots: {len(written)} files in {args.out}")
    return 0


# ----------------------------------------------------------------------------- params / where


SETTINGS_HEADER = """# Settings

Generated by `iacsieve params --table` from the declarations (`iacsieve.core.settings`; a test keeps this
page current). Each setting has one name: its params.yaml key, its command-line flag (`train`, `stage run`,
`sweep-threshold`, `evaluate`, `labels apply`) and its `config_used.yaml` key. `defaults.*` keys are also
valid under `families.<name>` and `profiles.<name>.defaults`; a grid list (`stage1.learning_rates`)
holds values of the setting it names, checked the same way. `iacsieve params` refuses any value out of
these bounds, naming its key path.

"""
CLUSTER_HEADER = """
## Cluster settings (`cluster:`)

Read by `kfp compile`, `kfp submit` and `kfp check --cluster` only (DVC ignores the block); no command-line
flags. `cluster.resources.train` applies to train tasks, `cluster.resources.light` to every other task;
`node_selector` and `tolerations` to train tasks only. CPU and memory are Kubernetes quantities (`500m`,
`4`, `16Gi`); a duration is `30s`, `5m` or `1h` (docs/cluster.md).

"""


def _register_params(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "params",
        help="check params.yaml and show each stage's runs",
        description="Validate params.yaml (a typo names its key path) and print each stage's "
        "run count for a profile: `local` (the top-level grids dvc repro runs) or "
        "a name under `profiles:` (KFP's, e.g. cluster). `make repro` runs it first.",
    )
    params_arg(p)
    p.add_argument("--profile", help="profile to show (default: local, the grids dvc repro runs)")
    p.add_argument(
        "--table",
        action="store_true",
        help="print every declared setting (default, bounds, flag) as Markdown: docs/settings.md",
    )
    p.set_defaults(func=_params_check)


def _params_check(args: argparse.Namespace) -> int:
    from iacsieve.method.params import CLUSTER_SETTINGS_BLOCKS, SETTINGS_BLOCKS, load_params

    if args.table:
        from iacsieve.core.settings import table

        print(SETTINGS_HEADER + table(SETTINGS_BLOCKS), end="")
        print(CLUSTER_HEADER + table(CLUSTER_SETTINGS_BLOCKS, flags=False), end="")
        return 0

    params = load_params(args.params, profile=args.profile)
    sizes = ", ".join(f"stage{n} {len(params.stage(n).grid_points())} runs" for n in STAGES)
    print(f"{args.params}: ok; profile {params.profile}: {sizes}")
    return 0


def _register_where(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "where",
        help="print where the champion, report, metrics and plots are",
        description="Print the paths `make repro` produced (and whether each exists).",
    )
    p.add_argument(
        "--champion", default=str(CHAMPION_DIR), help="final champion folder (default: %(default)s)"
    )
    p.set_defaults(func=_where)


def _where(args: argparse.Namespace) -> int:
    import json

    champion = Path(args.champion)
    rows = [
        ("champion", champion),
        ("report", REPORT_FILE),
        ("metrics", Path(layout.REPORT_METRICS)),
        ("plots", PLOTS_DIR),
        ("stage selections", Path(layout.SELECTIONS_DIR)),
    ]
    for label, path in rows:
        print(f"{label + ':':<18}{path}{'' if path.exists() else '  (missing: run make repro)'}")
    card = champion / layout.CHAMPION_FILE
    if card.is_file():
        data = json.loads(card.read_text(encoding="utf-8"))
        test = data.get("test", {})
        print(
            f"champion {data.get('run')} ({data.get('family')}), threshold {data.get('threshold'):.2f}: "
            f"val F1 {data.get('val_f1', 0):.3f}, test F1 {test.get('combined', {}).get('f1', 0):.3f}"
        )
        print(f"filter with: iacsieve filter --model {champion} --detections FILE --scripts DIR --out FILE")
    return 0


def _register_repair_lock(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "repair-dvc-lock",
        help="remove an empty/corrupt .dvc/tmp/rwlock (DVC #7615) and dvc.lock's stale stages (DVC #5293)",
        description="When an interrupted `dvc` left .dvc/tmp/rwlock empty or half-written (every dvc "
        "command then fails) and no DVC process holds the repository, remove it and say so. Then drop "
        "from dvc.lock the entries of stages dvc.yaml no longer defines (DVC never removes them, and "
        "every dvc command parses them). `make repro` runs it before `dvc repro`; it does nothing when "
        "both files are fine.",
    )
    p.add_argument("--root", default=".", help="the DVC repository (default: %(default)s)")
    p.set_defaults(func=_repair_lock)


def _repair_lock(args: argparse.Namespace) -> int:
    from iacsieve.core.layout import DVC_LOCK_FILE
    from iacsieve.repo.dvc_lock import repair_rwlock
    from iacsieve.repo.stale_lock import prune_stale_stages

    message = repair_rwlock(args.root)
    if message:
        print(f"iacsieve: {message}", file=sys.stderr)
    stale = prune_stale_stages(args.root)
    if stale:
        print(
            f"iacsieve: removed {len(stale)} stale stage(s) from {DVC_LOCK_FILE}: {', '.join(stale)}",
            file=sys.stderr,
        )
    return 0
