"""Human labels in the pipeline (library side): overrides, the human validation split, selection on it."""

import json
from pathlib import Path

import pytest

from iacsieve.core.classification import compute_metrics
from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.human import (
    HumanLabel,
    HumanSettings,
    apply_human_labels,
    build_training_data,
    human_validation_split,
    record_key,
    resolve_labels,
    save_human_labels,
)
from iacsieve.data.records import SPLITS, TECHS, load_prepared, prepared_path
from iacsieve.io.output_policy import MARKER
from iacsieve.models import load_scorer
from iacsieve.steps.selection import select_runs
from iacsieve.steps.train import train

RAW = Path(__file__).resolve().parents[1] / "data" / "raw"


def human_label(record, label, reviewer="alice", date="2026-11-25"):
    return HumanLabel(
        key=record_key(record),
        tech=record.tech,
        smell=record.smell,
        file=record.file,
        line=record.line,
        content=record.content,
        label=label,
        reviewer=reviewer,
        date=date,
        with_context=record.with_context,
    )


def team_rule(record) -> int:
    """The synthetic reviewers' fixed policy: a suspicious comment is never a real smell to this team."""
    return 0 if record.smell == "suspicious_comment" else record.label


def test_no_human_labels_gives_byte_identical_training_data(prepared_small, tmp_path):
    for validation in ("llm", "merged", "human"):
        out = tmp_path / validation
        report = build_training_data(
            prepared_small, tmp_path / "no-labels", out, HumanSettings(validation=validation)
        )
        for split in SPLITS:
            for name in ("combined", *TECHS):
                assert (
                    prepared_path(out, split, name).read_bytes()
                    == prepared_path(prepared_small, split, name).read_bytes()
                )
        assert sorted(p.name for p in out.iterdir()) == [
            MARKER,
            "human.json",
            "stats.json",
            "test",
            "train",
            "val",
        ]
        assert report["labels"] == 0 and report["validation"] == "llm"


def test_apply_overrides_train_and_builds_validation(prepared_small, tmp_path):
    train_rows = load_prepared(prepared_small, "train")
    val_rows = load_prepared(prepared_small, "val")
    labels = [
        human_label(train_rows[0], 1 - train_rows[0].label),
        human_label(val_rows[0], 1 - val_rows[0].label),
        human_label(val_rows[1], val_rows[1].label),
    ]
    save_human_labels(tmp_path / "human", labels)
    out = tmp_path / "training"
    report = build_training_data(
        prepared_small,
        tmp_path / "human",
        out,
        HumanSettings(train="override", validation="human", min_val_rows=2),
    )
    trained = load_prepared(out, "train")
    assert [r.label for r in trained[1:]] == [r.label for r in train_rows[1:]]
    assert trained[0].label == 1 - train_rows[0].label and trained[0].source == "human:alice"
    val = load_prepared(out, "val")
    assert [(record_key(r), r.label) for r in val] == [
        (record_key(val_rows[0]), 1 - val_rows[0].label),
        (record_key(val_rows[1]), val_rows[1].label),
    ]
    assert (
        report["train_relabelled"] == 1 and report["val_human_rows"] == 2 and report["validation"] == "human"
    )
    assert report["label_flips"] == {"train": 1, "val": 1}
    assert json.loads((out / "human.json").read_text())["validation"] == "human"
    with pytest.raises(IacsieveError, match="min_val_rows=30"):
        build_training_data(
            prepared_small, tmp_path / "human", tmp_path / "x", HumanSettings(validation="human")
        )


def test_test_rows_in_the_store_are_refused(prepared_small, tmp_path):
    oracle = load_prepared(prepared_small, "test")[0]
    save_human_labels(tmp_path / "human", [human_label(oracle, oracle.label)])
    with pytest.raises(IacsieveError, match="test split"):
        build_training_data(prepared_small, tmp_path / "human", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_new_warnings_split_by_key_and_disputes_are_left_out(prepared_small):
    train_rows = load_prepared(prepared_small, "train")
    val_rows = load_prepared(prepared_small, "val")
    fresh = [
        HumanLabel(
            key=f"new{i}.pp:{i + 1}:use_of_http",
            tech="puppet",
            smell="use_of_http",
            file=f"new{i}.pp",
            line=i + 1,
            content="url => 'http://x'",
            label=1,
            reviewer="alice",
            date="2026-11-25",
        )
        for i in range(40)
    ]
    human, _ = resolve_labels(fresh)
    added = apply_human_labels(train_rows, human, mode="add", val_fraction=0.5)[len(train_rows) :]
    held = human_validation_split(val_rows, human, mode="human", val_fraction=0.5)
    assert added and held and len(added) + len(held) == 40
    assert not {record_key(r) for r in added} & {
        record_key(r) for r in held
    }  # never both train and validation
    assert apply_human_labels(train_rows, human, mode="override") == train_rows  # override adds nothing new
    dispute = [human_label(train_rows[0], 1), human_label(train_rows[0], 0, reviewer="bob")]
    resolved, disputed = resolve_labels(dispute)
    assert disputed == [record_key(train_rows[0])]
    assert apply_human_labels(train_rows, resolved) == train_rows


def test_settings_errors_name_the_key():
    assert HumanSettings.from_dict(None) == HumanSettings()
    with pytest.raises(ConfigError, match="human.validation: must be one of llm, human, merged"):
        HumanSettings.from_dict({"validation": "people"})
    with pytest.raises(ConfigError, match="human.trian: unknown key"):
        HumanSettings.from_dict({"trian": "add"})
    with pytest.raises(ConfigError, match="human.val_fraction"):
        HumanSettings.from_dict({"val_fraction": 2})


def _summary(results_dir: Path, run: str, run_dir: Path, val_metrics: dict) -> Path:
    results_dir.mkdir(parents=True)
    (results_dir / "summary.json").write_text(
        json.dumps(
            {
                "run": run,
                "family": "classical",
                "run_dir": str(run_dir),
                "config": {"family": "classical"},
                "threshold": 0.5,
                "threshold_source": "argmax",
                "val": val_metrics,
                "test": {},
            }
        )
    )
    return results_dir


def test_selection_on_human_validation_picks_another_run(prepared_full, tmp_path):
    """Reviewers with a fixed policy label train and val; run B learns their policy, run A the LLM's.

    On LLM validation select_runs picks A; on the human validation split it picks B.
    """
    train_rows = load_prepared(prepared_full, "train")
    val_rows = load_prepared(prepared_full, "val")
    store = [human_label(r, team_rule(r)) for r in train_rows + val_rows]
    save_human_labels(tmp_path / "human", store)
    training = tmp_path / "training"
    report = build_training_data(
        prepared_full, tmp_path / "human", training, HumanSettings(train="override", validation="human")
    )
    assert (
        report["label_flips"]["val"]
        == sum(r.smell == "suspicious_comment" and r.label == 1 for r in val_rows)
        > 0
    )

    runs = {
        "A_llm": train(TrainConfig(family="classical"), prepared_full, tmp_path / "A_llm"),
        "B_team": train(TrainConfig(family="classical"), training, tmp_path / "B_team"),
    }
    validations = {"llm": val_rows, "human": load_prepared(training, "val")}
    chosen = {}
    for name, val in validations.items():
        labels = [r.label for r in val]
        dirs = [
            _summary(
                tmp_path / "results" / name / run,
                run,
                run_dir,
                compute_metrics(labels, load_scorer(run_dir / "model").predict_proba(val), 0.5),
            )
            for run, run_dir in runs.items()
        ]
        chosen[name] = select_runs(dirs, tmp_path / "selection" / name)["selected"]["run"]
    assert chosen == {"llm": "A_llm", "human": "B_team"}


def test_committed_example_store_is_valid_and_holds_no_test_row(prepared_full, tmp_path):
    example = Path(__file__).resolve().parent / "fixtures" / "human-example"
    report = build_training_data(
        prepared_full,
        example,
        tmp_path / "training",
        HumanSettings(train="override", validation="human"),
        raw_dir=RAW,
    )
    assert report["labels"] == 100 and report["val_rows"] == 60 and report["train_relabelled"] == 40
    assert report["label_flips"]["train"] > 0 and report["validation"] == "human"


def test_warning_key_matches_the_dataset_and_keeps_paths_apart():
    from iacsieve.data.human import warning_key

    assert (
        warning_key("owner@repo-manifests-init.pp", 3, "sec_hard_pass")
        == "owner@repo-manifests-init.pp:3:hard_coded_secret"
    )
    assert warning_key("./x.pp", 1, "use_of_http_without_ssl_tls") == warning_key("x.pp", 1, "sec_https")
    assert warning_key("modules/a/init.pp", 1, "sec_https") != warning_key(
        "modules/b/init.pp", 1, "sec_https"
    )


def test_no_human_labels_keeps_prepare_stats_identical(prepared_full, tmp_path):
    build_training_data(prepared_full, tmp_path / "none", tmp_path / "out", HumanSettings(validation="human"))
    assert (tmp_path / "out" / "stats.json").read_bytes() == (prepared_full / "stats.json").read_bytes()
