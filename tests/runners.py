"""The four stages of a trimmed classical-only profile through both runners, shared by
tests/test_kfp_local.py (in-process tasks) and tests/test_container.py (tasks in the image):
`dvc_chain` calls DVC's entry points (what dvc.yaml runs), `kfp_all_stages` runs the all-stages
pipeline under kfp.local and finds each stage's selection and champion in its pipeline root."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from iacsieve.core import layout
from iacsieve.data.human import build_training_data
from iacsieve.data.records import TECHS, prepare
from iacsieve.kfp import StageInputs, run_local
from iacsieve.method import dvc
from iacsieve.method.params import load_params
from iacsieve.steps.freeze import load_champion

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "data" / "raw"
ROWS = {"train": 16, "val": 8, "test": 8}  # per tech, half TP / half FP where the file has them

# A trimmed local profile: the classical family only (weight decay is its knob that changes the model).
PARAMS = {
    "defaults": {"fp16": False},
    "threshold_sweep": {"start": 0.3, "stop": 0.7, "step": 0.02},
    "evaluation": {"bootstrap_samples": 20, "bootstrap_seed": 0},
    "families": {"classical": {"options": {}}},
    "stage1": {
        "families": ["classical"],
        "learning_rates": [0.0005],
        "batch_sizes": [16],
        "epochs": [1],
        "weight_decays": [0, 10],
    },
    "stage2": {
        "families": ["classical"],
        "learning_rates": [0.0005],
        "batch_sizes": [16],
        "epochs": [1],
        "weight_decays": [0.25, 4],
    },
    "stage3": {},
    "stage4": {"seeds": [1, 2]},
    "human": {"train": "override", "validation": "merged"},  # as params.yaml: no labels, no change
    "cluster": {"image": "example.org/iacsieve:test", "parallelism": 2, "retry": {"num_retries": 0}},
}


def trim_raw(out: Path) -> Path:
    """16 train / 8 val / 8 test rows per tech, half TP / half FP where the file has them."""
    for tech in TECHS:
        for split, n in ROWS.items():
            rows = [
                json.loads(ln)
                for ln in (RAW / tech / f"{tech}_{split}.jsonl").read_text().splitlines()
                if ln.strip()
            ]
            tp = [r for r in rows if r["label"] == "TP"][: n // 2]
            fp = [r for r in rows if r["label"] == "FP"][: n - len(tp)]
            (out / tech).mkdir(parents=True, exist_ok=True)
            (out / tech / f"{tech}_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tp + fp))
    return out


def make_setup(root: Path, params_data: dict = PARAMS) -> dict:
    """A trimmed raw dataset and `params_data` (default PARAMS) as params.yaml under `root`."""
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(params_data), encoding="utf-8")
    return {"root": root, "params": params, "raw": trim_raw(root / "raw")}


EXAMPLE_LABELS = REPO / "tests" / "fixtures" / "human-example"  # a committed example of reviewers' labels


def dvc_chain(setup: dict, name: str = "dvc", human: Path | None = None) -> dict:
    """The four stages through DVC's entry points, in a project root of their own; `human`: a labels
    store (default none) applied by dvc.yaml's training-data step."""
    root = setup["root"] / name
    params = load_params(setup["params"])
    prepare(setup["raw"], root / layout.PREPARED_DIR)
    (root / "data" / "human").mkdir(parents=True)
    if human is not None:
        shutil.copytree(human, root / "data" / "human", dirs_exist_ok=True)
    build_training_data(
        root / layout.PREPARED_DIR, root / "data" / "human", root / layout.TRAINING_DIR, params.human
    )
    out = {}
    for stage in (1, 2, 3, 4):
        if dvc.stage_plan(stage).builds_on == "nothing":  # dvc.yaml's matrix: one call per grid point
            for point in params.stage(stage).grid_points():
                dvc.stage_run(params, stage, point, root=root)
        else:
            dvc.stage_run(params, stage, root=root)
        out[stage] = {"selection": dvc.select_stage(params, stage, root=root)}
        if dvc.stage_plan(stage).freezes:
            out[stage]["champion"] = dvc.freeze_stage(params, stage, root=root)
    out["prepared"] = root / layout.TRAINING_DIR
    return out


def kfp_all_stages(setup: dict, name: str = "kfp", human: Path | None = None, **runner) -> dict:
    """The all-stages pipeline under kfp.local; each stage's selection found by its `stage` field."""
    pipeline_root = setup["root"] / name
    inputs = StageInputs(str(setup["raw"]), human_uri=str(human) if human is not None else None)
    outputs = run_local(
        "all", inputs, params_path=setup["params"], profile="local", pipeline_root=pipeline_root, **runner
    )
    return {"outputs": outputs, **stage_outputs(pipeline_root)}


def stage_outputs(pipeline_root: Path) -> dict:
    """Each stage's selection (by its `stage` field) and champion folder in a kfp.local pipeline root."""
    selections = {}
    for path in pipeline_root.rglob(layout.SELECTION_FILE):
        selection = json.loads(path.read_text())
        selections[int(selection["stage"].removeprefix("stage"))] = selection
    cards = {
        load_champion(p)["stage"]: p.parent
        for p in pipeline_root.rglob(layout.CHAMPION_FILE)
        if p.parent.name == "champion"
    }
    return {"selections": selections, "champions": cards}


def comparable_run(row: dict) -> dict:
    """What both runners must agree on for a run (not where its files were written)."""
    return {k: row[k] for k in ("run", "family", "config", "threshold", "val_f1", "test")}


CHAMPION_KEYS = (
    "run",
    "family",
    "config",
    "threshold",
    "val_f1",
    "test",
    "data_md5",
    "smells",
    "stage",
    "validation",
)
