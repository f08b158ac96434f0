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

    # A run killed during `dvc add` saved the store but left data/human.dvc naming the old version;
    # the rerun said "nothing changed" for good (#22). Now the next `labels add` runs `dvc add` again.
    # (In this test: DVC's logger keeps the first captured stream, so one test does all DVC work.)
    from iacsieve.data.identity import data_md5_from_dvc_file, folder_md5

    sheet = filled(tmp_path, ["TP", "FP", ""])
    argv = ["labels", "add", str(sheet), "--reviewer", "bob", "--raw", str(RAW), "--date", "2026-11-25"]
    human, dvc_file = tmp_path / "data" / "human", tmp_path / "data" / "human.dvc"
    add_labels(sheet, "bob", human_dir=human, raw_dir=RAW, date="2026-11-25", dvc_track=False)  # killed here
    assert data_md5_from_dvc_file(dvc_file) != folder_md5(human)
    import subprocess
    import sys

    def rerun() -> str:  # a process of its own: DVC's logging set up here would outlive this test
        proc = subprocess.run(
            [sys.executable, "-m", "iacsieve", *argv], cwd=tmp_path, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    out = rerun()
    assert "unchanged 2" in out and "repaired data/human.dvc" in out
    assert data_md5_from_dvc_file(dvc_file) == folder_md5(human)
    assert "nothing changed" in rerun()  # in sync: no dvc add


# ----------------------------------------------------------------------------- the store as a small database (#22)


def _sheet(path: Path, rows: list[SheetRow], label: str = "TP") -> Path:
    """A sheet as `iacsieve review` writes it, every row labelled `label`."""
    write_sheet(path, rows)
    with path.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    for row in table:
        row["label"] = label
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SHEET_COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    return path


def _rows(prefix: str, n: int) -> list[SheetRow]:
    return [
        SheetRow("puppet", "hard_coded_secret", f"{prefix}.pp", i, f"$p{i} = 'x'") for i in range(1, n + 1)
    ]


def _add_in_child(sheet: Path, reviewer: str, human: Path, start) -> None:
    start.wait()
    add_labels(sheet, reviewer, human_dir=human, raw_dir=RAW, dvc_track=False, date="2026-12-01")


def test_two_simultaneous_labels_add_keep_both_reviewers_labels(tmp_path):
    """20 rounds of two `labels add` processes released at the same instant: the store's lock makes
    them one after the other, so neither reviewer's labels are lost (before: lost in 2 of 6)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    alice = _sheet(tmp_path / "alice.csv", _rows("a", 40))
    bob = _sheet(tmp_path / "bob.csv", _rows("b", 40), "FP")
    load_raw_split(RAW, "test")  # warm the page cache: both children then read the same way
    for round_no in range(20):
        human = tmp_path / f"human-{round_no}"
        start = context.Barrier(2)
        children = [
            context.Process(target=_add_in_child, args=(sheet, who, human, start))
            for sheet, who in ((alice, "alice"), (bob, "bob"))
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        assert [c.exitcode for c in children] == [0, 0]
        stored = load_human_labels(human)
        assert sorted({h.reviewer for h in stored}) == ["alice", "bob"] and len(stored) == 80, round_no


def test_merging_is_linear_in_the_store_size():
    """Before: every touched warning scanned the whole store (a 250k-row sheet ran > 600 s)."""
    import time

    from iacsieve.data.human import HumanLabel, merge_labels

    def label(i: int, reviewer: str) -> HumanLabel:
        key = warning_key(f"f{i}.pp", 1, "hard_coded_secret")
        return HumanLabel(
            key, "puppet", "hard_coded_secret", f"f{i}.pp", 1, "x", i % 2, reviewer, "2026-12-01"
        )

    existing = [label(i, "alice") for i in range(30_000)]
    new = [label(i, "bob") for i in range(30_000)]
    start = time.perf_counter()
    merged = merge_labels(existing, new)
    assert time.perf_counter() - start < 10
    assert len(merged.labels) == 60_000 and len(merged.added) == 30_000 and not merged.disagreements


@pytest.mark.parametrize("score, shown", [("5", "5.0"), ("nan", "nan"), ("inf", "inf")])
def test_a_score_the_store_would_refuse_is_refused_at_the_sheet(tmp_path, capsys, score, shown):
    def edit(rows):
        rows[1]["score"] = score

    sheet = filled(tmp_path, ["TP", "FP", "TP"], edit=edit)
    assert add(tmp_path, sheet, "alice") == 2
    err = capsys.readouterr().err
    assert f"{sheet}:3: field 'score': must be a number in [0, 1], got {shown}" in err
    assert not (tmp_path / "human").exists()  # the store is never bricked


def test_formula_cells_are_neutralised_and_read_back_exactly(tmp_path, capsys):
    """OWASP CSV injection: a cell starting with = + - @ TAB or CR is a formula to a spreadsheet."""
    codes = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "- name: x", "@SUM(1+1)", "'quoted"]
    rows = [
        SheetRow("ansible", "suspicious_comment", "site.yml", i, code, context=code)
        for i, code in enumerate(codes, 1)
    ]
    sheet = _sheet(tmp_path / "sheet.csv", rows)
    with sheet.open(newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert add(tmp_path, sheet, "alice") == 0
    stored = {h.line: h for h in load_human_labels(tmp_path / "human")}
    assert [stored[i].content for i in range(1, 6)] == codes
    assert [stored[i].with_context for i in range(1, 6)] == codes


def test_names_from_a_sheet_reach_the_terminal_escaped(tmp_path, capsys):
    rows = [SheetRow("puppet", "hard_coded_secret", "x\x1b[2J\x1b]0;t\x07.pp", 1, "$p = 'x'")]
    assert add(tmp_path, _sheet(tmp_path / "a.csv", rows), "alice") == 0
    assert (
        add(tmp_path, _sheet(tmp_path / "b.csv", rows, "FP"), "bob") == 0
    )  # a disagreement: the key is printed
    out = capsys.readouterr().out
    assert "disagreement x\\x1b[2J\\x1b]0;t\\x07.pp:1:hard_coded_secret" in out and "\x1b" not in out
