"""The sweep's range, step (no float drift), tie rule and output file."""

from __future__ import annotations

import json

import pytest

from iacsieve.core.classification import compute_metrics
from iacsieve.core.errors import ConfigError
from iacsieve.steps.threshold import best_point, sweep_threshold, threshold_grid


def write_scores(path, labels, scores):
    path.write_text(
        "".join(
            json.dumps(
                {
                    "file": f"f{i}.pp",
                    "line": i + 1,
                    "smell": "use_of_http",
                    "tech": "puppet",
                    "label": ln,
                    "score": s,
                }
            )
            + "\n"
            for i, (ln, s) in enumerate(zip(labels, scores))
        )
    )
    return path


def test_default_grid_is_41_points_from_030_to_070_without_drift():
    grid = threshold_grid()
    assert len(grid) == 41 and grid[0] == 0.30 and grid[-1] == 0.70
    assert grid == [round(0.30 + i / 100, 2) for i in range(41)]
    assert 0.37 in grid and 0.5 in grid and 0.58 in grid  # 0.3 + 28 * 0.01 drifts without rounding


def test_grid_step_and_stop_off_grid():
    assert threshold_grid(0.3, 0.7, 0.05) == [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]
    assert threshold_grid(0.3, 0.72, 0.05)[-1] == 0.7  # never past stop
    assert threshold_grid(0.5, 0.5, 0.01) == [0.5]


@pytest.mark.parametrize(
    "start,stop,step,key",
    [
        (0.7, 0.3, 0.01, "start"),
        (0.3, 0.7, 0.0, "step"),
        (0.3, 0.7, -0.01, "step"),
        (-0.1, 0.7, 0.01, "start"),
    ],
)
def test_bad_ranges_are_config_errors(start, stop, step, key):
    with pytest.raises(ConfigError, match=f"threshold.{key}"):
        threshold_grid(start, stop, step)


def test_plateau_containing_half_picks_half(tmp_path):
    # Perfect separation for every threshold in (0.40, 0.80]: F1 = 1 from 0.41 to 0.70.
    scores = write_scores(tmp_path / "val.jsonl", [1, 1, 0, 0, 0], [0.8, 0.9, 0.1, 0.2, 0.4])
    result = sweep_threshold(scores, tmp_path / "sweep.json")
    assert result["best_f1"] == 1.0 and result["best_threshold"] == 0.5
    plateau = [p["threshold"] for p in result["curve"] if p["f1"] == 1.0]
    assert plateau[0] == 0.41 and plateau[-1] == 0.70


def test_plateau_off_half_picks_point_nearest_half(tmp_path):
    # Perfect only for thresholds in (0.60, 0.65]: 0.61 .. 0.65 tie; nearest 0.5 is 0.61.
    scores = write_scores(tmp_path / "val.jsonl", [1, 1, 0, 0], [0.65, 0.9, 0.1, 0.6])
    assert sweep_threshold(scores, tmp_path / "sweep.json")["best_threshold"] == 0.61
    # Perfect only in (0.35, 0.40]: 0.36 .. 0.40 tie; nearest 0.5 is 0.40.
    scores = write_scores(tmp_path / "val2.jsonl", [1, 1, 0, 0], [0.4, 0.9, 0.1, 0.35])
    assert sweep_threshold(scores, tmp_path / "sweep2.json")["best_threshold"] == 0.40


def test_equidistant_tie_goes_to_lower_threshold():
    curve = [{"threshold": t, "f1": f} for t, f in [(0.4, 0.8), (0.45, 0.7), (0.5, 0.6), (0.6, 0.8)]]
    assert best_point(curve)["threshold"] == 0.4
    curve[0]["f1"] = 0.8 - 1e-15  # float noise still ties
    assert best_point(curve)["threshold"] == 0.4
    curve[3]["f1"] = 0.81  # a real gain wins
    assert best_point(curve)["threshold"] == 0.6


def test_sweep_file_holds_the_full_curve(tmp_path):
    labels = [1, 0, 1, 0, 1, 1, 0, 0, 1, 0]
    raw = [0.31, 0.33, 0.45, 0.52, 0.55, 0.61, 0.64, 0.2, 0.9, 0.69]
    result = sweep_threshold(
        write_scores(tmp_path / "val.jsonl", labels, raw),
        tmp_path / "out" / "sweep.json",
        start=0.3,
        stop=0.7,
        step=0.02,
    )
    on_disk = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert on_disk == result
    assert len(result["curve"]) == 21 and (result["start"], result["stop"], result["step"]) == (
        0.3,
        0.7,
        0.02,
    )
    for point in result["curve"]:
        assert point["f1"] == compute_metrics(labels, raw, point["threshold"])["f1"]
    assert result["best_f1"] == max(p["f1"] for p in result["curve"])
    assert not list((tmp_path / "out").glob(".*tmp*"))
