"""params.yaml validation, grid expansion, run-setting resolution and run names."""

from __future__ import annotations

import pytest
import yaml
from worktree import repo_copy

from iacsieve.core.errors import ConfigError
from iacsieve.method.grid import resolve_run_config, run_name, stage_runs
from iacsieve.method.params import load_params, parse_params

PARAMS = repo_copy("params.yaml")  # the staged file: a user's working edits never reach the tests


@pytest.fixture()
def raw() -> dict:
    return yaml.safe_load(PARAMS.read_text(encoding="utf-8"))


def test_repo_params_validate_in_both_profiles():
    local = load_params(PARAMS)
    assert local.profile == "local"
    assert "classical" in local.stage(1).lists["families"]  # the CPU baseline competes in stage 1
    cluster = load_params(PARAMS, profile="cluster")
    assert set(cluster.stage(1).lists["families"]) == {
        "codebert",
        "codet5-small",
        "codet5-base",
        "codet5p-220m",
    }
    assert cluster.defaults["fp16"] is True and local.defaults["fp16"] is False
    assert all(4 <= bs <= 32 for bs in cluster.stage(2).lists["batch_sizes"])
    assert cluster.cluster.pods.resources["train"].gpu == 1 and cluster.cluster["pods"].retry.num_retries == 2


@pytest.mark.parametrize(
    "mutate, key_path",
    [
        (lambda r: r["stage1"].update(learnig_rates=[0.1]), "stage1.learnig_rates"),
        (lambda r: r.update(stage5={}), "stage5"),
        (
            lambda r: r.update(profile="cluster"),
            "profile",
        ),  # `dvc exp run -S profile=cluster` must not mix profiles
        (lambda r: r["defaults"].update(max_lenght=64), "defaults.max_lenght"),
        (lambda r: r["defaults"].update(max_length="long"), "defaults.max_length"),
        (lambda r: r["stage1"].update(batch_sizes=[16, "x"]), "stage1.batch_sizes[1]"),
        (lambda r: r["stage1"].update(families=["tiny-bert"]), "stage1.families[0]"),
        (lambda r: r["stage2"].update(families=["best"]), "stage2.families[0]"),
        (lambda r: r["stage3"].update(learning_rates=["best"]), "stage3.learning_rates[0]"),
        (lambda r: r["stage1"].update(seeds=[1, 2]), "stage1.seeds"),
        (lambda r: r["stage2"].update(decision_rule="frozen"), "stage2.decision_rule"),
        (
            lambda r: r["stage1"].update(weight_decays=[0.0]),
            "stage1.weight_decays[0]",
        ),  # dvc would name it wd0.0
        (lambda r: r["stage2"].pop("epochs"), "stage2.epochs"),
        (lambda r: r["threshold_sweep"].update(stop=1.5), "threshold_sweep.start"),
        (lambda r: r["evaluation"].update(bootstrap_samples=1.5), "evaluation.bootstrap_samples"),
        (lambda r: r["families"].update(codebret={}), "families.codebret"),
        (lambda r: r["profiles"]["cluster"]["stage2"].update(epoch=[1]), "profiles.cluster.stage2.epoch"),
        (lambda r: r["profiles"].update(local={}), "profiles.local"),
        (lambda r: r["cluster"]["resources"]["train"].update(gpus=2), "cluster.resources.train.gpus"),
        (lambda r: r["cluster"].update(retries=2), "cluster.retries"),
        (lambda r: r.pop("stage3"), "stage3"),
    ],
)
def test_a_broken_key_names_its_path(raw, mutate, key_path):
    mutate(raw)
    with pytest.raises(ConfigError) as info:
        parse_params(raw)
    assert info.value.key_path == key_path
    assert str(info.value).startswith(f"params.yaml: {key_path}: ")


def test_yaml_12_floats_and_syntax_errors(tmp_path):
    path = tmp_path / "params.yaml"
    text = PARAMS.read_text(encoding="utf-8").replace("learning_rates: [0.001]", "learning_rates: [5e-4]", 1)
    path.write_text(text, encoding="utf-8")
    assert load_params(path).stage(1).lists["learning_rates"] == (0.0005,)
    path.write_text("stage1: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        load_params(path)
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_grid_points_are_the_product_in_matrix_order():
    params = load_params(PARAMS, profile="cluster")
    points = params.stage(2).grid_points()
    lists = params.stage(2).lists
    assert len(points) == len(lists["families"]) * len(lists["learning_rates"]) * len(lists["batch_sizes"])
    assert points[0] == {
        "family": "codet5p-220m",
        "learning_rate": 1e-05,
        "batch_size": 4,
        "epochs": 5,
        "weight_decay": 0.01,
    }
    assert len({tuple(p.items()) for p in points}) == len(points)
    assert params.stage(3).grid_points() == [{}]  # stage 3 keeps the winner's settings: one run


def test_run_names_are_resolved_values_as_dvc_spells_them():
    """Stage 1-2 names equal dvc.yaml's template (str() of each value); 3-4 carry the inherited values."""
    params = load_params(PARAMS)
    s1 = params.stage(1).lists
    name, _ = stage_runs(params, 1)[0]
    assert name == (
        f"classical_lr{s1['learning_rates'][0]}_bs{s1['batch_sizes'][0]}"
        f"_ep{s1['epochs'][0]}_wd{s1['weight_decays'][0]}"
    )
    winner = {"config": resolve_run_config(params, 2, params.stage(2).grid_points()[1]).to_dict()}
    assert [n for n, _ in stage_runs(params, 3, winner)] == ["classical_lr0.001_bs16_ep10_wd0.05"]
    champion = {"config": winner["config"], "threshold": 0.4}
    assert [n for n, _ in stage_runs(params, 4, champion)][:2] == [
        "classical_lr0.001_bs16_ep10_wd0.05_seed1",
        "classical_lr0.001_bs16_ep10_wd0.05_seed2",
    ]
    cluster = load_params(PARAMS, profile="cluster")
    assert stage_runs(cluster, 1)[0][0] == "codebert_lr2e-05_bs16_ep5_wd0.01"
    assert all("best" not in n for n, _ in stage_runs(cluster, 2))


def test_resolve_run_config_chains_the_stages():
    params = load_params(PARAMS)
    s1 = resolve_run_config(params, 1, params.stage(1).grid_points()[1])
    assert (s1.family, s1.max_length, s1.fp16, s1.seed) == (
        "tiny-roberta",
        64,
        False,
        42,
    )  # defaults < families
    s3 = resolve_run_config(params, 3, {"epochs": 7}, {"config": s1.to_dict()})  # a winner.json
    assert (s3.family, s3.learning_rate, s3.epochs) == ("tiny-roberta", 0.001, 7)
    s4 = resolve_run_config(
        params, 4, {"seed": 3}, {"config": s3.to_dict(), "threshold": 0.4}
    )  # a champion.json
    assert s4 == s3.__class__(**{**s3.to_dict(), "seed": 3})
    assert run_name(4, s4).endswith("_seed3") and not run_name(3, s3).endswith("_seed42")
    with pytest.raises(ConfigError, match="stage-2 winner"):
        resolve_run_config(params, 3, {}, None)


def test_family_overrides_apply_in_stage_1(raw):
    raw["families"]["classical"] = {"options": {"bagging": 3}, "max_length": 64}
    params = parse_params(raw)
    config = resolve_run_config(params, 1, {"family": "classical", "seed": 1})
    assert config.options == {"bagging": 3} and config.max_length == 64
