"""`make bench`'s table of the filter's weight (issue 28): the inputs it builds are what it says they are,
and each figure is printed beside its target (and beside the figure before, with the ratio)."""

from __future__ import annotations

from iacsieve.filtering import filter_detections
from iacsieve.reporting import bench_targets


def test_the_realistic_rows_cycle_the_three_real_fixtures(champion, tmp_path):
    detections, scripts = bench_targets.realistic_inputs(1200, tmp_path)
    summary = filter_detections(champion, detections, scripts, tmp_path / "out.csv")
    assert summary["warnings_in"] == 1200 and summary["missing"] == 0 and summary["scored"] > 0
    assert {line.split("/", 1)[0] for line in detections.read_text().splitlines()} == set(bench_targets.TECHS)


def test_the_distinct_security_warnings_are_each_a_model_input(champion, tmp_path):
    detections, scripts = bench_targets.distinct_inputs(60, tmp_path)
    summary = filter_detections(champion, detections, scripts, tmp_path / "out.csv")
    assert summary["scored"] == summary["model_inputs"] == 60


def test_each_figure_is_printed_beside_its_target_and_the_before():
    after = {"install_mb": 58.0, "realistic_cpu_s": 0.6, "rows_per_s_400k": 60_000.0}
    before = {"install_mb": 204.0, "realistic_cpu_s": 3.0, "rows_per_s_400k": 1_500.0}
    lines = bench_targets.format_targets(after, before)
    assert len(lines) == 3
    assert "target <= 100  ok" in lines[0] and "(before 204.00, x0.28)" in lines[0]
    assert "target <= 0.4  MISSED" in lines[1]
    assert "target >= 50000  ok" in lines[2]


def test_the_base_install_counts_the_given_requirements():
    assert 0 < bench_targets.base_install_mb(["numpy"]) <= bench_targets.base_install_mb(["numpy", "mmh3"])
