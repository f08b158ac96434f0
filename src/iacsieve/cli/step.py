"""`iacsieve step train | sweep-threshold | evaluate | select | freeze`: one thin command per step function."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeVar

import yaml

from iacsieve.core import layout
from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.run_config import TrainConfig, read_run_settings
from iacsieve.core.settings import add_flags, block_of, declared, given_flags, parse_block
from iacsieve.io.output_policy import check_file_output, check_folder_output
from iacsieve.io.overlap import refuse_overlap, same_path
from iacsieve.steps.settings import EvaluationSettings, SweepSettings

_RAW = argparse.RawDescriptionHelpFormatter

# Every TrainConfig setting is a `train` flag of the same name (`learning_rate` -> `--learning-rate`),
# typed and explained by its declaration (iacsieve.core.run_config); `options` come as `--option KEY=VALUE`.
_TRAIN_SETTINGS: tuple[str, ...] = tuple(n for n in declared(TrainConfig) if n != "options")


T = TypeVar("T")


def params_block_arg(p: argparse.ArgumentParser, cls: type) -> None:
    """`--params FILE`, whose `cls.block` block fills the flags of `cls` left out."""
    p.add_argument(
        "--params",
        default=layout.PARAMS_FILE,
        help=f"flags left out take its `{block_of(cls)}:` block, else the declared defaults "
        "(default: %(default)s)",
    )


def settings_in_force(args: argparse.Namespace, cls: type[T]) -> T:
    """A settings block as a step command uses it: params.yaml's block (when the file exists) < flags,
    checked as `iacsieve params` checks the file (one declaration: `iacsieve.steps.settings`)."""
    from iacsieve.method.params import read_yaml

    key = block_of(cls)
    block = read_yaml(args.params).get(key) if Path(args.params).is_file() else None
    base = parse_block(cls, block, key, source=args.params)
    values = {name: getattr(base, name) for name in declared(cls)}
    return parse_block(cls, {**values, **given_flags(args, cls)}, key, source="command line")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "step",
        help="one step of the method by hand: train, sweep-threshold, evaluate, select, freeze",
        description="The single steps `iacsieve stage` chains (and KFP components run), one command each.",
    )
    sub = p.add_subparsers(dest="step_command", metavar="<step>", required=True)
    _register_train(sub)
    _register_sweep(sub)
    _register_evaluate(sub)
    _register_select(sub)
    _register_freeze(sub)


# ----------------------------------------------------------------------------- train


def _register_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one run (a model family + hyperparameters)",
        formatter_class=_RAW,
        description="Train one run and write its run directory: config_used.yaml, model/, val_scores.jsonl,\n"
        "test_scores.jsonl and train_log.json. Settings come from --config (a YAML mapping of\n"
        "TrainConfig fields, e.g. a previous run's config_used.yaml) and/or flags; flags win.",
        epilog="examples:\n"
        "  iacsieve step train --family tiny-roberta --learning-rate 5e-4 --batch-size 16 --epochs 3 --out runs/tiny\n"
        "  iacsieve step train --family classical --option char_ngram_max=5 --out runs/classical\n"
        "  iacsieve step train --config models/experiments/stage1/x/config_used.yaml --seed 7 --out runs/x_seed7\n"
        "  iacsieve step train --family codebert --name-or-path /models/codebert-base --out runs/codebert",
    )
    p.add_argument("--config", metavar="YAML", help="run settings file (TrainConfig fields)")
    add_flags(p.add_argument_group("run settings (flags win over --config)"), TrainConfig, _TRAIN_SETTINGS)
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="family-specific option (value parsed as YAML); repeatable",
    )
    p.add_argument("--data", default=layout.PREPARED_DIR, help="prepared data folder (default: %(default)s)")
    p.add_argument("--out", help="run directory to write (default: models/experiments/adhoc/<run name>)")
    p.set_defaults(func=_train)


def build_train_config(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig from --config (if any) overlaid with the flags that were given."""
    values: dict = {}
    where = "flags"
    if args.config:
        where = str(args.config)
        values.update(
            read_run_settings(args.config, hint="give a run config (e.g. a run's config_used.yaml)")
        )
    values.update(given_flags(args, TrainConfig, _TRAIN_SETTINGS))
    if args.option:
        options = dict(values.get("options") or {})
        for item in args.option:
            key, sep, raw = item.partition("=")
            if not sep or not key:
                raise ConfigError("--option", f"expected KEY=VALUE, got {item!r}", source="command line")
            options[key] = yaml.safe_load(raw)
        values["options"] = options
    if "family" not in values:
        raise ConfigError(
            "family", "missing: give --family or a --config file with 'family'", source="command line"
        )
    return TrainConfig.from_dict(values, where=where)


def _train(args: argparse.Namespace) -> int:
    from iacsieve.steps.train import train

    config = build_train_config(args)
    out = Path(args.out) if args.out else Path(layout.ADHOC_RUNS_DIR) / config.run_name(with_seed=True)
    refuse_overlap(out, {"--config": args.config})  # the rest of the output policy: steps.train
    run_dir = train(config, args.data, out)
    print(f"trained {config.run_name(with_seed=True)} -> {run_dir}")
    return 0


# ----------------------------------------------------------------------------- sweep-threshold


def _register_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep-threshold",
        help="best decision threshold on a run's validation scores",
        formatter_class=_RAW,
        description="F1 on RUN_DIR/val_scores.jsonl at every threshold from --start to --stop (inclusive) in\n"
        "--step steps; picks the best (ties: nearest 0.5, then the lower). Writes the full curve\n"
        "to threshold_sweep_results.json. Test scores are never read.",
        epilog="examples:\n"
        "  iacsieve step sweep-threshold models/experiments/stage3/tiny-roberta_lr0.0005_bs16_ep3_wd0\n"
        "  iacsieve step sweep-threshold runs/x --start 0.2 --stop 0.8 --step 0.05 --out /tmp/sweep.json",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory holding val_scores.jsonl")
    add_flags(p, SweepSettings, show_defaults=False)
    params_block_arg(p, SweepSettings)
    p.add_argument("--out", help="output JSON (default: RUN_DIR/threshold_sweep_results.json)")
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from iacsieve.core.layout import SWEEP_FILE
    from iacsieve.steps.threshold import sweep_threshold

    run_dir = Path(args.run_dir)
    out = Path(args.out) if args.out else run_dir / SWEEP_FILE
    check_file_output(out, inputs={f"RUN_DIR/{layout.VAL_SCORES}": run_dir / layout.VAL_SCORES})
    sweep = settings_in_force(args, SweepSettings)
    result = sweep_threshold(
        run_dir / layout.VAL_SCORES, out, start=sweep.start, stop=sweep.stop, step=sweep.step
    )
    print(
        f"best threshold {result['best_threshold']:.2f} (val F1 {result['best_f1']:.4f}) "
        f"over {len(result['curve'])} thresholds -> {out}"
    )
    return 0


# ----------------------------------------------------------------------------- evaluate


def _register_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="metrics of a run on val and each test set under a decision rule",
        formatter_class=_RAW,
        description="Writes RESULTS/<set>/evaluation_metadata.json for val, combined, ansible, chef and puppet\n"
        "(precision, recall, F1 + bootstrap 95% interval, accuracy, confusion matrix, per-smell\n"
        "metrics, FP reduction, TP retention, threshold and its source) and RESULTS/summary.json.\n"
        "Rules: argmax = threshold 0.5; threshold = the run's sweep; frozen = a champion's threshold.",
        epilog="examples:\n"
        "  iacsieve step evaluate runs/x --results results/stage1/x --rule argmax\n"
        "  iacsieve step evaluate runs/x --results results/stage3/x --rule threshold\n"
        "  iacsieve step evaluate runs/x_seed7 --results results/stage4/x_seed7 --rule frozen \\\n"
        "      --champion models/stage3-champion/champion.json",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `iacsieve step train`")
    p.add_argument("--results", required=True, metavar="DIR", help="folder to write the evaluation into")
    p.add_argument(
        "--rule", choices=layout.RULES, default="argmax", help="decision rule (default: %(default)s)"
    )
    p.add_argument(
        "--sweep",
        metavar="FILE",
        help="sweep file for --rule threshold (default: RUN_DIR/threshold_sweep_results.json)",
    )
    p.add_argument("--champion", metavar="FILE", help="champion.json (or its folder) for --rule frozen")
    add_flags(p, EvaluationSettings, show_defaults=False)
    params_block_arg(p, EvaluationSettings)
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from iacsieve.steps.evaluate import evaluate

    check_folder_output(
        args.results,
        flag="--results",
        inputs={"RUN_DIR": args.run_dir, "--sweep": args.sweep, "--champion": args.champion},
        replaces=False,  # writes its own named files into the folder
    )
    bootstrap = settings_in_force(args, EvaluationSettings)
    s = evaluate(
        args.run_dir,
        args.results,
        rule=args.rule,
        sweep_file=args.sweep,
        champion_file=args.champion,
        bootstrap_samples=bootstrap.bootstrap_samples,
        bootstrap_seed=bootstrap.bootstrap_seed,
    )
    tests = ", ".join(f"{name} {m['f1']:.4f}" for name, m in s["test"].items())
    print(
        f"{s['run']}: threshold {s['threshold']:.2f} ({s['threshold_source']}); val F1 {s['val']['f1']:.4f}; "
        f"test F1 {tests} -> {args.results}"
    )
    return 0


# ----------------------------------------------------------------------------- select


def _register_select(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "select",
        help="choose a run by validation F1 (best or median across seeds)",
        formatter_class=_RAW,
        description="Ranks evaluated runs by validation F1 (then val FP reduction, then training cost = rows x epochs) and picks\n"
        "the best (--mode best) or the run with the median val F1 (--mode median, lower median for\n"
        "an even count). Test metrics are reported, never used to choose. Writes selection.json,\n"
        "ranking.csv and ranking.md into --out.",
        epilog="examples:\n"
        "  iacsieve step select results/stage1/* --out results/stage1/_selection --mode best\n"
        "  iacsieve step select results/stage4/*_seed* --out results/stage4/_selection --mode median --stage 4",
    )
    p.add_argument(
        "results_dirs", nargs="+", metavar="RESULTS_DIR", help="folders written by `iacsieve step evaluate`"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder for selection.json and the ranking")
    p.add_argument(
        "--mode", choices=("best", "median"), default="best", help="selection rule (default: %(default)s)"
    )
    p.add_argument("--stage", help="stage label recorded in selection.json (and the champion)")
    p.set_defaults(func=_select)


def _select(args: argparse.Namespace) -> int:
    from iacsieve.steps.selection import select_runs

    # a glob such as results/stage1/* may also match --out itself (an earlier selection): not a run
    results_dirs = [d for d in args.results_dirs if not same_path(d, args.out)]
    if not results_dirs:
        raise IacsieveError(f"--out {args.out} is the only RESULTS_DIR; give the evaluated runs' folders")
    check_folder_output(
        args.out,
        inputs={f"RESULTS_DIR {i}": d for i, d in enumerate(results_dirs, start=1)},
        replaces=False,  # writes its own named files into the folder
    )
    sel = select_runs(results_dirs, args.out, mode=args.mode, stage=args.stage)
    chosen = sel["selected"]
    print(
        f"selected {chosen['run']} ({args.mode}, val F1 {chosen['val_f1']:.4f}) of {len(sel['runs'])} runs "
        f"-> {Path(args.out) / layout.SELECTION_FILE}"
    )
    return 0


# ----------------------------------------------------------------------------- freeze


def _register_freeze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "freeze",
        help="copy the selected run to the champion folder, atomically",
        formatter_class=_RAW,
        description="Copies the selected run's model into --out together with champion.json (threshold and its\n"
        "source, family, run, config, data md5, val F1, test metrics). The previous champion stays\n"
        "in place until the new one is complete. Models holding pickle files are refused.",
        epilog="examples:\n"
        "  iacsieve step freeze results/stage3/_selection/selection.json --out models/champion\n"
        "  iacsieve step freeze sel/selection.json --out /tmp/champion --data data/prepared",
    )
    p.add_argument("selection", metavar="SELECTION", help="selection.json written by `iacsieve step select`")
    p.add_argument("--out", default=layout.CHAMPION_DIR, help="champion folder (default: %(default)s)")
    p.add_argument(
        "--data",
        default=layout.PREPARED_DIR,
        help="prepared data, hashed into data_md5 (default: %(default)s)",
    )
    p.set_defaults(func=_freeze)


def _freeze(args: argparse.Namespace) -> int:
    from iacsieve.steps.freeze import freeze, load_champion

    out = freeze(args.selection, args.out, data_dir=args.data)
    champion = load_champion(out)
    print(
        f"froze {champion['run']} (threshold {champion['threshold']:.2f} from {champion['threshold_source']}, "
        f"val F1 {champion['val_f1']:.4f}) -> {out}"
    )
    return 0
