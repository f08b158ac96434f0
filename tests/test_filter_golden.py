"""The filter's outputs on the real GLITCH fixtures are byte-identical to those recorded before the
plain-data champion and the numpy runtime (issue 28): CSV, JSONL, SARIF, `--explain` and `explain` pages.
How they were recorded, and how to record them again: tests/filter_golden.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from filter_golden import GOLDEN, golden_champion, record


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, prepared_small) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("golden")
    champion = golden_champion(root, prepared_small)
    work = root / "out"
    work.mkdir()
    recorded = record(champion, work)
    target = os.environ.get("IACSIEVE_GOLDEN_OUT")
    if target:  # recording: write them outside the repository, to be copied by hand
        shutil.rmtree(target, ignore_errors=True)
        Path(target).mkdir(parents=True)
        for name, data in recorded.items():
            (Path(target) / name).write_bytes(data)
    return recorded


def test_the_same_outputs_are_recorded(outputs):
    assert sorted(outputs) == sorted(p.name for p in GOLDEN.iterdir() if p.name != "README.md")


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*") if p.name != "README.md"))
def test_output_is_byte_identical_to_the_recorded_one(outputs, name):
    assert outputs[name] == (GOLDEN / name).read_bytes(), f"{name} differs from tests/fixtures/filter-golden"
