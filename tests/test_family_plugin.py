"""Adding a model family is one module, one registry line and params.yaml (docs/DESIGN.md).

The test writes a family the package has never seen (a per-smell majority vote, saved as plain
JSON) into a temporary module, registers it with one `FamilySpec` line, and runs it through the
stage plan as `dvc repro` does (stage run, select and freeze of all four stages, trimmed data).
Nothing else in src/ is told about it: params.yaml accepts it, training, the sweep, evaluation,
selection and freeze work, the champion loads through the one persistence boundary, and the
capability-driven callers (review, the learning curve) take its in-sample path.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from runners import PARAMS, make_setup

from iacsieve.core import layout
from iacsieve.core.errors import ConfigError
from iacsieve.data.human import build_training_data
from iacsieve.data.records import load_prepared, prepare
from iacsieve.method import dvc
from iacsieve.method.params import load_params, parse_params
from iacsieve.models import FAMILIES, FamilySpec, family_of, load_scorer
from iacsieve.steps.freeze import load_champion

PLUGIN = textwrap.dedent(
    '''
    """A per-smell majority vote: P(real) = the share of TP among the training rows of that smell."""

    import json
    from pathlib import Path

    import numpy as np

    from iacsieve.models.family import FamilyBase
    from iacsieve.models.persistence import read_meta, write_meta

    WEIGHTS = "majority.json"


    class MajorityScorer:
        def __init__(self, rates, prior, family):
            self.rates, self.prior, self.family, self.use_context = rates, prior, family, False

        def predict_proba(self, records, batch_size=32):
            return np.array([self.rates.get(r.smell, self.prior) for r in records], dtype=float)


    class Majority(FamilyBase):
        kind = "majority"

        def fit(self, config, train, val, model_dir):
            model_dir = Path(model_dir)
            model_dir.mkdir(parents=True, exist_ok=True)
            counts = {}
            for r in train:
                tp, n = counts.get(r.smell, (0, 0))
                counts[r.smell] = (tp + int(r.label), n + 1)
            # smoothed towards the prior; weight_decay is the smoothing, so the grid changes the model
            prior = sum(int(r.label) for r in train) / len(train)
            k = 1.0 + config.weight_decay
            rates = {s: (tp + k * prior) / (n + k) for s, (tp, n) in counts.items()}
            (model_dir / WEIGHTS).write_text(json.dumps({"rates": rates, "prior": prior}, sort_keys=True))
            write_meta(model_dir, {"kind": self.kind, "family": config.family, "use_context": False})
            return {"epochs": []}

        def load(self, model_dir):
            meta = read_meta(model_dir)
            data = json.loads((Path(model_dir) / WEIGHTS).read_text())
            return MajorityScorer(data["rates"], data["prior"], meta["family"])
    '''
)

# The trimmed local profile of tests/runners.py with the new family in every stage-1/2 run.
PLUGIN_PARAMS = {
    **PARAMS,
    "families": {"majority": {}},
    "stage1": {**PARAMS["stage1"], "families": ["majority"], "weight_decays": [0, 10]},
    "stage2": {**PARAMS["stage2"], "families": ["majority"], "weight_decays": [1]},
}


@pytest.fixture
def majority(tmp_path, monkeypatch):
    """The family from a module the package never imported, registered by one line."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "majority_family.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setitem(FAMILIES, "majority", FamilySpec("majority", "majority_family:Majority"))
    return family_of("majority")


def test_params_knows_a_family_only_once_it_is_registered(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"stage1.families\[0\]: unknown model family .majority."):
        parse_params(json.loads(json.dumps(PLUGIN_PARAMS)))
    (tmp_path / "majority_family.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(FAMILIES, "majority", FamilySpec("majority", "majority_family:Majority"))
    params = parse_params(json.loads(json.dumps(PLUGIN_PARAMS)))
    assert [p["family"] for p in params.stage(1).grid_points()] == ["majority", "majority"]
    bad = {**PLUGIN_PARAMS, "families": {"majority": {"options": {"depth": 3}}}}
    with pytest.raises(
        ConfigError, match="families.majority.options.depth: the majority family takes no options"
    ):
        parse_params(json.loads(json.dumps(bad)))


def test_a_registered_family_runs_through_the_stage_plan(tmp_path, majority):
    setup = make_setup(tmp_path, PLUGIN_PARAMS)
    params = load_params(setup["params"])
    root = tmp_path / "project"
    prepare(setup["raw"], root / layout.PREPARED_DIR)
    (root / layout.HUMAN_DIR).mkdir(parents=True)
    build_training_data(
        root / layout.PREPARED_DIR, root / layout.HUMAN_DIR, root / layout.TRAINING_DIR, params.human
    )
    for stage in (1, 2, 3, 4):
        if dvc.stage_plan(stage).builds_on == "nothing":
            for point in params.stage(stage).grid_points():
                dvc.stage_run(params, stage, point, root=root)
        else:
            dvc.stage_run(params, stage, root=root)
        selection = dvc.select_stage(params, stage, root=root)
        assert selection["selected"]["family"] == "majority"
        if dvc.stage_plan(stage).freezes:
            dvc.freeze_stage(params, stage, root=root)

    champion = root / layout.CHAMPION_DIR
    card = load_champion(champion)
    assert card["family"] == "majority" and card["stage"] == "stage4"
    stage3 = json.loads((layout.stage_champion_dir(3, root) / layout.CHAMPION_FILE).read_text())
    assert card["threshold"] == stage3["threshold"]  # stage 4 is evaluated at stage 3's frozen threshold
    run_logs = sorted((layout.experiments_dir(1, root)).glob(f"*/{layout.TRAIN_LOG}"))
    assert [json.loads(p.read_text())["kind"] for p in run_logs] == ["majority", "majority"]

    scorer = load_scorer(champion)  # through the one persistence boundary, by the kind it recorded
    val = load_prepared(root / layout.TRAINING_DIR, "val")
    scores = majority.score(scorer, val)
    assert scorer.family == "majority" and scores.shape == (len(val),)
    assert ((scores >= 0) & (scores <= 1)).all() and len(set(scores.tolist())) > 1  # per smell


def test_capabilities_not_names_choose_the_callers_path(majority):
    """review and the learning curve ask the family, never its name: a family without out-of-fold
    scores or cheap refits takes the in-sample / throwaway path."""
    from iacsieve.reporting import learning_curve

    assert not majority.scores_out_of_fold and not majority.refits_cheaply
    assert family_of("classical").scores_out_of_fold and family_of("classical").refits_cheaply
    assert learning_curve.THROWAWAY in FAMILIES


def test_a_model_folder_cannot_name_an_unregistered_kind(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / layout.META_FILE).write_text(json.dumps({"kind": "os", "family": "x"}))
    with pytest.raises(Exception, match="key 'kind': unknown model kind"):
        load_scorer(model)


def test_the_registry_is_the_one_list_of_kinds():
    src = Path(__file__).resolve().parents[1] / "src" / "iacsieve"
    for path in src.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert '{"hf", "tiny", "classical"}' not in text, f"{path}: kinds listed outside the registry"
    assert {spec.kind for spec in FAMILIES.values()} == {"hf", "tiny", "classical"}
