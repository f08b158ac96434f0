"""The ablation runs on train/val only and writes its table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from iacsieve.cli.app import main
from iacsieve.core.errors import IacsieveError
from iacsieve.data.records import prepared_path
from iacsieve.io.atomic import atomic_write_jsonl
from iacsieve.reporting.ablation import BASE, DEFAULT_VARIANTS, Variant, run_ablation

sys.path.insert(0, str(Path(__file__).parent))
from test_classical import make_records


@pytest.fixture()
def prepared(tmp_path) -> Path:
    """train + val only: no test split exists, so the ablation provably never reads it."""
    root = tmp_path / "prepared"
    atomic_write_jsonl(prepared_path(root, "train"), (r.to_row() for r in make_records(4)))
    atomic_write_jsonl(prepared_path(root, "val"), (r.to_row() for r in make_records(1)))
    return root


def test_ablation_writes_its_table(prepared, tmp_path):
    variants = (
        DEFAULT_VARIANTS[0],
        Variant("no_reviewer_features", "reviewer features", True, {"reviewer_features": False}),
        Variant("with_context", "context window", False, use_context=True),
    )
    rows = run_ablation(prepared, tmp_path / "out", variants, cv_folds=2, timings_file=tmp_path / "t.json")
    assert [r["variant"] for r in rows] == [BASE, "no_reviewer_features", "with_context"]
    assert rows[0]["delta_val_f1"] == 0.0 and rows[0]["delta_cv_f1"] == 0.0
    for row in rows:
        assert 0.0 <= row["val_f1"] <= 1.0 and 0.0 <= row["cv_f1"] <= 1.0
        assert row["delta_val_f1"] == pytest.approx(row["val_f1"] - rows[0]["val_f1"])
    saved = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert saved["reference"] == BASE and len(saved["variants"]) == 3 and saved["cv_folds"] == 2
    table = (tmp_path / "out" / "ablation.md").read_text()
    assert "| variant | idea | defaults | val F1 | Δ val | CV F1 | Δ CV |" in table
    # git-tracked outputs hold no timing (they must not change run to run); fit times go beside
    assert "fit_s" not in json.dumps(saved) and set(
        json.loads((tmp_path / "t.json").read_text())["fit_s"]
    ) == {BASE, "no_reviewer_features", "with_context"}
    assert "| no_reviewer_features | reviewer features | kept |" in table
    assert "| with_context | context window | dropped |" in table


def test_default_variants_are_distinct_and_valid():
    from iacsieve.core.run_config import TrainConfig
    from iacsieve.models.classical import resolve_options

    assert DEFAULT_VARIANTS[0].name == BASE and len({v.name for v in DEFAULT_VARIANTS}) == len(
        DEFAULT_VARIANTS
    )
    for v in DEFAULT_VARIANTS:
        resolve_options(TrainConfig(family="classical", options=dict(v.options), use_context=v.use_context))


def test_cli_ablate_without_cv(prepared, tmp_path, capsys):
    assert (
        main(
            [
                "ablate",
                "--data",
                str(prepared),
                "--out",
                str(tmp_path / "cli"),
                "--cv-folds",
                "0",
                "--timings",
                str(tmp_path / "timings.json"),
            ]
        )
        == 0
    )
    assert "defaults" in capsys.readouterr().out
    rows = json.loads((tmp_path / "cli" / "ablation.json").read_text())["variants"]
    assert len(rows) == len(DEFAULT_VARIANTS) and all(r["cv_f1"] is None for r in rows)


def test_cli_ablate_takes_params_yamls_block_and_a_flag_wins(prepared, tmp_path, capsys):
    """The `ablate` stage's settings are DVC params (`dvc exp run -S ablation.cv_folds=0`): flags left
    out come from params.yaml's `ablation:` block; a flag given wins; a bad value names its key."""
    params = tmp_path / "params.yaml"
    params.write_text("ablation:\n  cv_folds: 0\n  seed: 7\n", encoding="utf-8")

    def ablate(*flags: str) -> dict:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        argv = ["ablate", "--data", str(prepared), "--out", str(out), "--params", str(params), *flags]
        assert main([*argv, "--timings", str(tmp_path / "t.json")]) == 0
        return json.loads((out / "ablation.json").read_text())

    from_file = ablate()
    assert from_file["cv_folds"] == 0 and all(r["cv_f1"] is None for r in from_file["variants"])
    from_flag = ablate("--cv-folds", "2")
    assert from_flag["cv_folds"] == 2 and all(r["cv_f1"] is not None for r in from_flag["variants"])
    capsys.readouterr()

    params.write_text("ablation:\n  cv_folds: 1\n", encoding="utf-8")
    assert (
        main(["ablate", "--data", str(prepared), "--out", str(tmp_path / "bad"), "--params", str(params)])
        == 2
    )
    err = capsys.readouterr().err
    assert "ablation.cv_folds" in err and "at least 2" in err and not (tmp_path / "bad").exists()


def test_missing_data_is_a_user_error(tmp_path):
    with pytest.raises(IacsieveError, match="not found"):
        run_ablation(tmp_path / "nope", tmp_path / "out")
    assert main(["ablate", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
