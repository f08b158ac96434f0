"""`iacsieve experiment learning-curve`: report-only experiments (never feed a champion)."""

from __future__ import annotations

import argparse

from iacsieve.core import layout

_RAW = argparse.RawDescriptionHelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    _register_experiment(sub)


# ----------------------------------------------------------------------------- experiment


def _register_experiment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="report-only experiments (never feed a champion)")
    esub = p.add_subparsers(dest="experiment_command", metavar="<experiment>", required=True)
    lc = esub.add_parser(
        "learning-curve",
        help="F1 vs number of human labels (cross-fitted on the test split; report only)",
        description="How much does a person's hour buy? k-fold cross-fitting over the human-labelled test split: "
        "n reviews come from k-1 folds (random, or picked by the review queue's rule), a throwaway "
        "classical model trains on the LLM-labelled train split plus those n rows, F1 is measured on "
        "the held-out fold. n = 0 is the LLM-only champion. Reuses test rows: never a headline figure, "
        "and nothing here is selected, frozen or shipped.",
    )
    lc.add_argument("--data", default=layout.PREPARED_DIR, help="prepared data (default: %(default)s)")
    lc.add_argument(
        "--champion",
        default=layout.CHAMPION_DIR,
        help="the LLM-only champion, the n = 0 point; 'none' "
        "trains a classical model instead (default: %(default)s)",
    )
    lc.add_argument("--out", default=layout.LEARNING_CURVE_DIR, help="output folder (default: %(default)s)")
    lc.add_argument(
        "--sizes",
        default="0,25,50,100",
        help="numbers of human labels, comma-separated; the whole pool "
        "is always added (default: %(default)s)",
    )
    lc.add_argument("--folds", type=int, default=5, help="k (default: %(default)s)")
    lc.add_argument(
        "--repeats", type=int, default=2, help="random draws per fold and size (default: %(default)s)"
    )
    lc.add_argument(
        "--strategies", default="random,uncertainty", help="random and/or uncertainty (default: %(default)s)"
    )
    lc.add_argument("--seed", type=int, default=0, help="folds and draws (default: %(default)s)")
    lc.set_defaults(func=_learning_curve)


def _learning_curve(args: argparse.Namespace) -> int:
    from iacsieve.core.errors import IacsieveError
    from iacsieve.io.output_policy import check_folder_output
    from iacsieve.reporting.learning_curve import learning_curve

    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        raise IacsieveError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    champion = None if args.champion == "none" else args.champion
    check_folder_output(args.out, inputs={"--data": args.data, "--champion": champion}, replaces=False)
    result = learning_curve(
        args.data,
        args.out,
        champion_dir=champion,
        sizes=sizes,
        folds=args.folds,
        seed=args.seed,
        repeats=args.repeats,
        strategies=[s.strip() for s in args.strategies.split(",") if s.strip()],
    )
    print(result["caveat"])
    for p in result["points"]:
        print(f"  {p['strategy']:<12} n={p['n_labels']:>4}  F1 {p['f1']:.3f} ± {p['f1_fold_std']:.3f}")
    print(f"wrote {args.out}/learning_curve.{{json,csv,md,png}}")
    return 0
