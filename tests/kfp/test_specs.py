"""The checked-in KFP specs (components/, pipelines/) load with the SDK and are not stale."""

from __future__ import annotations

from pathlib import Path

from kfp.components import load_component_from_file

from iacsieve.kfp.specs import write_specs

REPO = Path(__file__).resolve().parents[2]
STEPS = {"prepare", "training-data", "resolve", "train", "threshold-sweep", "evaluate", "select", "freeze"}
PIPELINES = {"stage1", "stage2", "stage3", "stage4", "all-stages"}


def checked_in() -> dict[str, Path]:
    files = list((REPO / "components").glob("*/component.yaml")) + list((REPO / "pipelines").glob("*.yaml"))
    return {str(p.relative_to(REPO)): p for p in files}


def test_every_step_and_pipeline_has_a_loadable_spec():
    files = checked_in()
    assert {Path(k).parent.name for k in files if k.startswith("components/")} == STEPS
    assert {Path(k).stem for k in files if k.startswith("pipelines/")} == PIPELINES
    for path in files.values():
        assert load_component_from_file(str(path)).name


def test_specs_are_not_stale(tmp_path):
    fresh = {str(p.relative_to(tmp_path)): p for p in write_specs(tmp_path, REPO / "params.yaml")}
    current = checked_in()
    assert set(fresh) == set(current), "stale: run make kfp-specs (a spec was added or removed)"
    stale = [name for name, path in fresh.items() if path.read_bytes() != current[name].read_bytes()]
    assert not stale, f"stale: run make kfp-specs ({', '.join(sorted(stale))} differ from the code)"
