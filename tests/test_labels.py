"""`iacsieve labels add | stats`: validated sheets into data/human, disagreements kept (issue #13)."""

import csv
import json
from pathlib import Path

import pytest

from iacsieve.cli.app import main
from iacsieve.data.human import key_id, load_human_labels, resolve_labels, warning_key
from iacsieve.data.labels import add_labels, label_stats
from iacsieve.data.records import load_raw_split
from iacsieve.data.sheet import SHEET_COLUMNS, SheetRow, write_sheet

RAW = Path(__file__).resolve().parents[1] / "data" / "raw"
ROWS = [
    SheetRow(
        tech="puppet",
        smell="suspicious_comment",
        file="repo/a.pp",
        line=1,
        code="# TODO later",
        context=">>>   1: # TODO later",
        score=0.44,
    ),
    SheetRow(
        tech="puppet", smell="hard_coded_secret", file="repo/a.pp", line=2, code="$password = 'x'", score=0.5
    ),
    SheetRow(tech="chef", smell="use_of_http", file="repo/b.rb", line=7, code="url 'http://x'", score=0.3),
]


def filled(tmp_path: Path, labels: list[str], name: str = "sheet.csv", edit=None) -> Path:
    """A review sheet as `iacsieve review` writes it, with the `label` column filled in."""
    path = tmp_path / name
    write_sheet(path, ROWS)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row, label in zip(rows, labels):
        row["label"] = label
    if edit:
        edit(rows)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SHEET_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def add(tmp_path, sheet, reviewer, *extra):
    return main(
        [
            "labels",
            "add",
            str(sheet),
            "--reviewer",
            reviewer,
            "--human",
            str(tmp_path / "human"),
            "--raw",
            str(RAW),
            "--date",
            "2026-11-25",
            *extra,
        ]
    )


def test_bad_label_exits_2_naming_file_line_and_writes_nothing(tmp_path, capsys):
    sheet = filled(tmp_path, ["TP", "maybe", "FP"])
    assert add(tmp_path, sheet, "alice") == 2
    err = capsys.readouterr().err
    assert (
        f"{sheet}:3: field 'label': expected TP (real smell) or FP (false alarm)" in err
    )  # header is line 1
    assert "got 'maybe'" in err and "nothing was written" in err
    assert "Traceback" not in err
    assert not (tmp_path / "human").exists()


def test_every_bad_row_is_listed_and_skip_invalid_records_the_rest(tmp_path, capsys):
    def edit(rows):
        rows[2]["line"] = "seven"

    sheet = filled(tmp_path, ["TP", "maybe", "FP"], edit=edit)
    assert add(tmp_path, sheet, "alice") == 2
    err = capsys.readouterr().err
    assert f"{sheet}:3: field 'label'" in err and f"{sheet}:4: field 'line': expected an integer >= 1" in err
    assert add(tmp_path, sheet, "alice", "--skip-invalid") == 0
    out = capsys.readouterr().out
    assert "added 1" in out and "2 invalid skipped" in out
    assert [h.key for h in load_human_labels(tmp_path / "human")] == [
        warning_key("repo/a.pp", 1, "suspicious_comment")
    ]


def test_an_edited_warning_is_caught_by_its_id(tmp_path, capsys):
    def edit(rows):
        rows[0]["line"] = "9"

    assert add(tmp_path, filled(tmp_path, ["TP", "", ""], edit=edit), "alice") == 2
    assert ":2: field 'id': expected" in capsys.readouterr().err


def test_test_split_rows_are_refused(tmp_path, capsys):
    oracle = load_raw_split(RAW, "test")[0][0]
    key = warning_key(oracle.file, oracle.line, oracle.smell)

    def edit(rows):
        rows[1].update(
            tech=oracle.tech, smell=oracle.smell, file=oracle.file, line=str(oracle.line), id=key_id(key)
        )

    assert add(tmp_path, filled(tmp_path, ["TP", "FP", ""], edit=edit), "alice") == 2
    err = capsys.readouterr().err
    assert ":3: field 'file'" in err and "test (human-oracle) row" in err
    assert not (tmp_path / "human").exists()


def test_two_reviewers_disagreement_is_kept_and_reported(tmp_path, capsys):
    assert add(tmp_path, filled(tmp_path, ["TP", "FP", ""], "alice.csv"), "alice") == 0
    out = capsys.readouterr().out
    assert "added 2" in out and "1 not reviewed" in out
    assert add(tmp_path, filled(tmp_path, ["FP", "FP", "TP"], "bob.csv"), "bob") == 0
    out = capsys.readouterr().out
    comment = warning_key("repo/a.pp", 1, "suspicious_comment")
    assert f"disagreement {comment}: alice TP, bob FP" in out
    assert "added 3" in out
    stored = load_human_labels(tmp_path / "human")
    assert sorted((h.key, h.reviewer, h.label) for h in stored if h.key == comment) == [
        (comment, "alice", 1),
        (comment, "bob", 0),
    ]
    assert all(h.date == "2026-11-25" for h in stored)
    resolved, disputed = resolve_labels(stored)
    assert disputed == [comment] and comment not in resolved
    stats = label_stats(tmp_path / "human", RAW)
    assert (
        stats["disputed"] == [comment]
        and stats["by_tech_smell"]["puppet/suspicious_comment"]["disputed"] == 1
    )
    # a third reviewer breaks the tie
    assert add(tmp_path, filled(tmp_path, ["FP", "", ""], "carol.csv"), "carol") == 0
    resolved, disputed = resolve_labels(load_human_labels(tmp_path / "human"))
    assert disputed == [] and resolved[comment].label == 0


def test_a_reviewer_relabelling_replaces_their_record(tmp_path, capsys):
    assert add(tmp_path, filled(tmp_path, ["TP", "", ""]), "alice") == 0
    assert add(tmp_path, filled(tmp_path, ["FP", "", ""]), "alice") == 0
    out = capsys.readouterr().out
    assert f"relabelled {warning_key('repo/a.pp', 1, 'suspicious_comment')}: TP -> FP" in out
    stored = load_human_labels(tmp_path / "human")
    assert [(h.reviewer, h.label) for h in stored] == [("alice", 0)]
    assert add(tmp_path, filled(tmp_path, ["FP", "", ""]), "alice") == 0
    assert "nothing changed" in capsys.readouterr().out

    def note(rows):
        rows[0]["note"] = "a test fixture's comment"

    assert add(tmp_path, filled(tmp_path, ["FP", "", ""], edit=note), "alice") == 0
    assert "note updated 1" in capsys.readouterr().out
    assert [h.note for h in load_human_labels(tmp_path / "human")] == ["a test fixture's comment"]


def test_store_is_deterministic_jsonl(tmp_path):
    add_labels(
        filled(tmp_path, ["TP", "FP", "TP"]),
        "alice",
        human_dir=tmp_path / "h1",
        raw_dir=RAW,
        date="2026-11-25",
    )
    add_labels(
        filled(tmp_path, ["TP", "FP", "TP"]),
        "alice",
        human_dir=tmp_path / "h2",
        raw_dir=RAW,
        date="2026-11-25",
    )
    first = (tmp_path / "h1" / "labels.jsonl").read_bytes()
    assert first == (tmp_path / "h2" / "labels.jsonl").read_bytes()
    row = json.loads(first.splitlines()[0])
    assert {"key", "reviewer", "date", "label", "content", "tech", "smell", "file", "line"} <= set(row)


def test_stats_kappa_against_llm_labels(tmp_path):
    """Labels on train warnings are compared with the LLM's label (Cohen's kappa from sklearn)."""
    train = load_raw_split(RAW, "train")[0][:6]
    rows = [SheetRow(tech=r.tech, smell=r.smell, file=r.file, line=r.line, code=r.content) for r in train]
    path = tmp_path / "audit.csv"
    write_sheet(path, rows)
    with path.open(newline="") as handle:
        sheet = list(csv.DictReader(handle))
    human = [r.label for r in train]
    human[0] = 1 - human[0]  # one disagreement
    for row, label in zip(sheet, human):
        row["label"] = "TP" if label else "FP"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SHEET_COLUMNS)
        writer.writeheader()
        writer.writerows(sheet)
    add_labels(path, "alice", human_dir=tmp_path / "human", raw_dir=RAW, date="2026-11-25")
    agreement = label_stats(tmp_path / "human", RAW)["agreement"]
    from sklearn.metrics import cohen_kappa_score

    assert agreement["n"] == 6 and agreement["agree"] == pytest.approx(5 / 6)
    assert agreement["kappa"] == pytest.approx(cohen_kappa_score([r.label for r in train], human))


def test_labels_add_updates_data_human_dvc_in_a_dvc_repo(tmp_path, capsys, monkeypatch):
    from dvc.repo import Repo

    Repo.init(str(tmp_path), no_scm=True).close()
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "labels",
                "add",
                str(filled(tmp_path, ["TP", "FP", ""])),
                "--reviewer",
                "alice",
                "--raw",
                str(RAW),
            ]
        )
        == 0
    )
    assert "updated data/human.dvc" in capsys.readouterr().out
    tracked = (tmp_path / "data" / "human.dvc").read_text()
    assert "path: human" in tracked and "nfiles: 1" in tracked
