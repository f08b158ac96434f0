"""params.yaml validation, grid expansion, run-config resolution and profile switching."""

from __future__ import annotations

import shutil

import pytest
import yaml

from iacsieve.config import (
    dvc_stage_block, load_params, parse_params, resolve_run_config, run_dir_name, stage_run_dirs, use_profile,
)
from iacsieve.errors import ConfigError
from worktree import repo_copy

PARAMS = repo_copy("params.yaml")  # the staged file: a user's working edits never reach the tests


@pytest.fixture()
def raw() -> dict:
    return yaml.safe_load(PARAMS.read_text(encoding="utf-8"))


def test_repo_params_validate_in_both_profiles():
    local = load_params(PARAMS)
    assert local.profile == "local"
    assert "classical" in local.stage(1).lists["families"]  # the CPU baseline competes in stage 1
    cluster = load_params(PARAMS, profile="cluster")
    assert set(cluster.stage(1).lists["families"]) == {"codebert", "codet5-small", "codet5-base", "codet5p-220m"}
    assert cluster.defaults["fp16"] is True and local.defaults["fp16"] is False
    assert all(4 <= bs <= 32 for bs in cluster.stage(2).lists["batch_sizes"])
    assert cluster.cluster.train_resources.gpu == cluster.cluster["train_resources"]["gpu"] == 1


def test_active_blocks_equal_the_local_profile():
    """The top-level grids are a copy of profiles.local (what `profile use local` writes)."""
    params = load_params(PARAMS)
    local = load_params(PARAMS, profile="local")
    for n in (1, 2, 3, 4):
        assert params.stage(n).to_dict() == local.stage(n).to_dict()


@pytest.mark.parametrize("mutate, key_path", [
    (lambda r: r["stage1"].update(learnig_rates=[0.1]), "stage1.learnig_rates"),
    (lambda r: r.update(stage5={}), "stage5"),
    (lambda r: r["defaults"].update(max_lenght=64), "defaults.max_lenght"),
    (lambda r: r["defaults"].update(max_length="long"), "defaults.max_length"),
    (lambda r: r["stage1"].update(batch_sizes=[16, "x"]), "stage1.batch_sizes[1]"),
    (lambda r: r["stage1"].update(families=["tiny-bert"]), "stage1.families[0]"),
    (lambda r: r["stage1"].update(families=["best"]), "stage1.families[0]"),
    (lambda r: r["stage1"].update(seeds=[1, 2]), "stage1.seeds"),
    (lambda r: r["stage2"].update(decision_rule="frozen"), "stage2.decision_rule"),
    (lambda r: r["threshold_sweep"].update(stop=1.5), "threshold_sweep.start"),
    (lambda r: r["evaluation"].update(bootstrap_samples=1.5), "evaluation.bootstrap_samples"),
    (lambda r: r["families"].update(codebret={}), "families.codebret"),
    (lambda r: r["profiles"]["cluster"]["stage2"].update(epoch=[1]), "profiles.cluster.stage2.epoch"),
    (lambda r: r["cluster"]["train_resources"].update(gpus=2), "cluster.train_resources.gpus"),
    (lambda r: r.pop("stage3"), "stage3"),
])
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
    assert points[0] == {"family": "codet5p-220m", "learning_rate": 1e-05, "batch_size": 4, "epochs": 5,
                         "weight_decay": 0.01, "gradient_accumulation": 1, "seed": 42}
    assert len({tuple(p.items()) for p in points}) == len(points)


def test_run_dir_names_follow_dvc_interpolation():
    """The names Python computes are the paths dvc.yaml's templates produce (str() of each value)."""
    params = load_params(PARAMS)
    s1 = params.stage(1).lists
    assert stage_run_dirs(params, 1)[0] == (f"classical_lr{s1['learning_rates'][0]}_bs{s1['batch_sizes'][0]}"
                                            f"_ep{s1['epochs'][0]}_wd{s1['weight_decays'][0]}")
    assert run_dir_name(2, {"family": "best", "learning_rate": 1e-05, "batch_size": 8, "epochs": 5,
                            "weight_decay": 0.01}) == "best_lr1e-05_bs8_ep5_wd0.01"
    assert run_dir_name(3, {"learning_rate": "best", "batch_size": 32, "epochs": "best",
                            "weight_decay": "best"}) == "best_lrbest_bs32_epbest_wdbest"
    assert stage_run_dirs(params, 4) == [f"champion_seed{s}" for s in (1, 2, 3, 4, 5)]


def test_resolve_run_config_chains_the_stages():
    params = load_params(PARAMS)
    s1 = resolve_run_config(params, 1, params.stage(1).grid_points()[1], None)
    assert (s1.family, s1.max_length, s1.fp16) == ("tiny-roberta", 64, False)  # defaults < profile < families
    selection = {"selected": {"config": s1.to_dict()}}
    s2 = resolve_run_config(params, 2, {"family": "best", "learning_rate": 0.001, "batch_size": 32}, selection)
    assert (s2.family, s2.learning_rate, s2.batch_size) == ("tiny-roberta", 0.001, 32)
    s3 = resolve_run_config(params, 3, {"learning_rate": "best", "epochs": 7}, {"selected": {"config": s2.to_dict()}})
    assert (s3.learning_rate, s3.batch_size, s3.epochs) == (0.001, 32, 7)
    s4 = resolve_run_config(params, 4, {"seed": 3}, {"config": s3.to_dict(), "threshold": 0.4})  # a champion.json
    assert s4 == s3.__class__(**{**s3.to_dict(), "seed": 3})
    with pytest.raises(ConfigError, match="previous stage"):
        resolve_run_config(params, 3, {}, None)


def test_family_overrides_apply_in_stage_1(raw):
    raw["families"]["classical"] = {"options": {"bagging": 3}, "max_length": 64}
    params = parse_params(raw)
    config = resolve_run_config(params, 1, {"family": "classical", "seed": 1}, None)
    assert config.options == {"bagging": 3} and config.max_length == 64


def test_profile_use_switches_grids_and_keeps_comments(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(PARAMS, path)
    params = use_profile(path, "cluster")
    assert params.profile == "cluster"
    assert params.stage(2).to_dict() == load_params(path, profile="cluster").stage(2).to_dict()
    text = path.read_text(encoding="utf-8")
    assert "# Every knob of the method" in text and "profile: cluster" in text
    back = use_profile(path, "local")
    assert back.stage(1).to_dict() == load_params(PARAMS).stage(1).to_dict()
    with pytest.raises(ConfigError, match="no profile 'gpu'"):
        use_profile(path, "gpu")


def test_dvc_stage_block_fills_every_matrix_list():
    params = parse_params({"stage1": {"families": ["classical"]}, "stage2": {"families": ["best"]},
                           "stage3": {}, "stage4": {"seeds": [1]}, "defaults": {"seed": 7}})
    assert dvc_stage_block(params.stage(1), params.defaults)["seeds"] == [7]
    assert dvc_stage_block(params.stage(3))["learning_rates"] == ["best"]
    assert dvc_stage_block(params.stage(3))["decision_rule"] == "threshold"
