"""The champion's validation curve read back, and an operating point chosen on it: the filter's side.

Why here, at the bottom layer: `filter`, `review` and `explain` choose a threshold with
`--min-retention` / `--max-fp-rate` without importing the training steps; `steps.operating_point`, which
writes the curve at freeze time and builds the report's trade-off table, uses the same chooser.
"""

from __future__ import annotations

from pathlib import Path

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.io.reading import read_json_object

CURVE_FILE = layout.VAL_CURVE_FILE


def load_val_curve(model_dir: str | Path) -> dict:
    path = Path(model_dir) / CURVE_FILE
    curve = read_json_object(
        path, what="JSON", hint="the champion predates operating points; re-freeze it (make repro)"
    )
    points = curve.get("points")
    if (
        not isinstance(points, list)
        or not points
        or not all(
            isinstance(p, dict) and all(k in p for k in ("threshold", "tp_retention", "fp_reduction"))
            for p in points
        )
    ):
        raise IacsieveError(
            f"{path}: 'points' must be a non-empty list of {{threshold, tp_retention, fp_reduction}}"
        )
    return curve


def choose_threshold(
    curve: dict, *, min_retention: float | None = None, max_fp_rate: float | None = None
) -> dict:
    """The threshold meeting one validation target; returns it with its validation retention / FP reduction."""
    if (min_retention is None) == (max_fp_rate is None):
        raise IacsieveError("give exactly one of --min-retention and --max-fp-rate")
    points = curve["points"]
    if min_retention is not None:
        if not 0.0 < min_retention <= 1.0:
            raise IacsieveError(f"--min-retention must be in (0, 1], got {min_retention}")
        ok = [p for p in points if p["tp_retention"] >= min_retention - 1e-12]
        best = max(
            ok, key=lambda p: (p["threshold"], p["fp_reduction"])
        )  # the last point keeps everything: never empty
        rule = f"val TP retention >= {min_retention:g}"
    else:
        assert max_fp_rate is not None  # exactly one of the two is given (checked above)
        if not 0.0 <= max_fp_rate < 1.0:
            raise IacsieveError(f"--max-fp-rate must be in [0, 1), got {max_fp_rate}")
        ok = [p for p in points if 1.0 - p["fp_reduction"] <= max_fp_rate + 1e-12]
        if not ok:
            raise IacsieveError(
                f"no threshold keeps the validation FP rate <= {max_fp_rate:g} "
                f"(the top-scored validation warning is a false alarm)"
            )
        best = min(ok, key=lambda p: (p["threshold"], -p["tp_retention"]))
        rule = f"val FP rate <= {max_fp_rate:g}"
    return {
        "threshold": best["threshold"],
        "tp_retention": best["tp_retention"],
        "fp_reduction": best["fp_reduction"],
        "rule": rule,
        "n": curve.get("n"),
    }


def describe_choice(choice: dict, frozen: float | None) -> str:
    """The line `iacsieve filter` prints about the operating point it chose."""
    text = (
        f"operating point ({choice['rule']}, on {choice['n']} validation warnings): threshold "
        f"{choice['threshold']:.4g}, val TP retention {choice['tp_retention']:.3f}, val FP reduction "
        f"{choice['fp_reduction']:.3f}"
    )
    return text + (f" (the champion's own threshold: {frozen:.4g})" if frozen is not None else "")
