"""`iacsieve review`: the documented picking rule on a hand-made example (issue #13)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from iacsieve.cli.app import main
from iacsieve.data.human import HumanLabel, key_id, save_human_labels, warning_key
from iacsieve.data.sheet import SHEET_COLUMNS, SheetRow
from iacsieve.filtering.context import FilterOptions
from iacsieve.filtering.review import Candidate, collapse_duplicates, pick_for_review, review_detections

THRESHOLD = 0.45
SCRIPTS = {
    "a.pp": [
        "# TODO: fix this later",
        "$password = 'hunter2'",
        "$url = 'http://example.com'",
        "# FIXME remove",
        "$db_pass = 'x'",
        "# TODO: fix this later",
    ],
    "b.pp": ["# TODO: fix this later", "$secret = 'abc'"],
    "c.yml": ["url: http://foo"],
}
# The model's score of each code line (a fake scorer: the example is about picking, not about a model).
SCORES = {
    "# TODO: fix this later": 0.44,
    "# FIXME remove": 0.90,
    "$password = 'hunter2'": 0.52,
    "$db_pass = 'x'": 0.20,
    "$secret = 'abc'": 0.30,
    "$url = 'http://example.com'": 0.05,
    "url: http://foo": 0.99,
}
DETECTIONS = [
    ("a.pp", 1, "sec_susp_comm"),
    ("a.pp", 6, "sec_susp_comm"),
    ("b.pp", 1, "sec_susp_comm"),  # same line: collapse
    ("a.pp", 4, "sec_susp_comm"),
    ("a.pp", 2, "sec_hard_pass"),
    ("a.pp", 2, "sec_hard_secr"),  # one warning flagged twice: the filter's dedup
    ("a.pp", 5, "sec_hard_secr"),
    ("b.pp", 2, "sec_hard_secr"),
    ("a.pp", 3, "sec_https"),
    ("c.yml", 1, "sec_https"),
    ("a.pp", 2, "design_long_statement"),  # not a security smell: never on the sheet
]


class FakeScorer:
    family, use_context = "fake", False

    def predict_proba(self, records, batch_size=32):
        return np.array([SCORES[r.content] for r in records])


@pytest.fixture()
def example(tmp_path):
    scripts = tmp_path / "repo"
    scripts.mkdir()
    for name, lines in SCRIPTS.items():
        (scripts / name).write_text("\n".join(lines) + "\n")
    detections = tmp_path / "detections.jsonl"
    detections.write_text(
        "".join(json.dumps({"file": f, "line": ln, "smell": s}) + "\n" for f, ln, s in DETECTIONS)
    )
    model = tmp_path / "champion"
    model.mkdir()
    (model / "model_meta.json").write_text(
        json.dumps({"kind": "classical", "family": "classical", "use_context": False})
    )
    (model / "champion.json").write_text(
        json.dumps(
            {
                "threshold": THRESHOLD,
                "threshold_source": "test",
                "family": "classical",
                "run": "r",
                "config": {"family": "x"},
                "data_md5": "0",
                "val_f1": 0.0,
                "test": {},
                "use_context": False,
            }
        )
    )
    return model, detections, scripts


def read_sheet_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def picked(rows):
    return [(r["file"], int(r["line"]), r["smell"]) for r in rows]


def test_review_picks_the_documented_rows(example, tmp_path):
    """Most uncertain first, round-robin over tech x smell, duplicates collapsed (module docstring)."""
    model, detections, scripts = example
    out = tmp_path / "sheet.csv"
    summary = review_detections(
        FilterOptions(str(model), scripts=str(scripts), detections=str(detections)),
        5,
        out,
        human_dir=tmp_path / "human",
        scorer=FakeScorer(),
    )
    rows = read_sheet_rows(out)
    # Round 1, one per stratum by |score - 0.45|: TODO .01, a.pp:2 .07, http a.pp:3 .40, ansible http .54;
    # round 2: b.pp:2 .15 (the FIXME, .45, would be next). Pure uncertainty would take 3 secrets instead.
    assert picked(rows) == [
        ("a.pp", 1, "suspicious_comment"),
        ("a.pp", 2, "hard_coded_secret"),
        ("a.pp", 3, "use_of_http"),
        ("c.yml", 1, "use_of_http"),
        ("b.pp", 2, "hard_coded_secret"),
    ]
    assert list(rows[0]) == list(SHEET_COLUMNS)
    assert rows[0]["similar"] == "2"  # a.pp:6 and b.pp:1 hold the same line
    assert rows[0]["tech"] == "puppet" and rows[3]["tech"] == "ansible"
    assert (
        rows[0]["code"] == "# TODO: fix this later"
        and ">>>   1: # TODO: fix this later" in rows[0]["context"]
    )
    assert rows[0]["score"] == "0.4400" and rows[0]["label"] == "" and rows[0]["note"] == ""
    assert rows[0]["id"] == key_id(warning_key("a.pp", 1, "suspicious_comment"))
    assert (
        summary["candidates"] == 7
    )  # 10 security rows -> 8 model inputs -> 7 after collapsing the same line
    assert summary["picked"] == 5


def test_review_leaves_out_labelled_warnings(example, tmp_path):
    model, detections, scripts = example
    human = tmp_path / "human"
    save_human_labels(
        human,
        [
            HumanLabel(
                key=warning_key("a.pp", 2, "hard_coded_secret"),
                tech="puppet",
                smell="hard_coded_secret",
                file="a.pp",
                line=2,
                content="x",
                label=1,
                reviewer="alice",
                date="2026-11-25",
            )
        ],
    )
    out = tmp_path / "sheet.csv"
    options = FilterOptions(str(model), scripts=str(scripts), detections=str(detections))
    summary = review_detections(options, 5, out, human_dir=human, scorer=FakeScorer())
    assert summary["already_labelled"] == 1
    assert picked(read_sheet_rows(out)) == [
        ("a.pp", 1, "suspicious_comment"),
        ("b.pp", 2, "hard_coded_secret"),
        ("a.pp", 3, "use_of_http"),
        ("c.yml", 1, "use_of_http"),
        ("a.pp", 5, "hard_coded_secret"),
    ]


def test_pick_and_collapse_are_pure_and_bounded():
    def cand(tech, smell, file, line, code, priority):
        return Candidate(SheetRow(tech=tech, smell=smell, file=file, line=line, code=code), priority)

    cands = [
        cand("chef", "use_of_http", "x.rb", 1, "a", 0.3),
        cand("chef", "use_of_http", "y.rb", 1, "a ", 0.1),
        cand("chef", "weak_crypto", "z.rb", 2, "md5", 0.2),
    ]
    collapsed = collapse_duplicates(cands)
    assert sorted((c.row.file, c.row.similar) for c in collapsed) == [("y.rb", 1), ("z.rb", 0)]
    assert [c.row.file for c in pick_for_review(collapsed, 10)] == ["y.rb", "z.rb"]
    assert [c.row.file for c in pick_for_review(cands, 2)] == ["y.rb", "z.rb"]


def test_review_cli_needs_a_source(example, tmp_path, capsys):
    model, _, _ = example
    assert main(["review", "--model", str(model), "--budget", "3", "--out", str(tmp_path / "s.csv")]) == 2
    assert "--detections" in capsys.readouterr().err
    assert (
        main(
            [
                "review",
                "--model",
                str(model),
                "--from-train",
                "--budget",
                "0",
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "s.csv"),
            ]
        )
        == 2
    )
    assert "--budget must be >= 1" in capsys.readouterr().err


def test_label_audit_lists_the_training_rows_the_model_doubts_most(
    champion, prepared_small, tmp_path, capsys
):
    """`review --from-train` (docs/labels.md): training rows, each with its LLM label, an out-of-fold
    score (a classical champion) and a reason that says whether the model disagrees with the LLM."""
    from iacsieve.data.records import load_prepared

    out, human = tmp_path / "audit.csv", tmp_path / "human"
    args = ["review", "--model", str(champion), "--from-train", "--data", str(prepared_small)]
    assert main([*args, "--budget", "6", "--out", str(out), "--human", str(human)]) == 0
    assert "scores out-of-fold" in capsys.readouterr().out
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    train = {(r.file, r.line, r.smell): r for r in load_prepared(prepared_small, "train")}
    assert len(rows) == 6
    threshold = json.loads((champion / "champion.json").read_text())["threshold"]
    for row in rows:
        record = train[row["file"], int(row["line"]), row["smell"]]
        assert row["llm_label"] == ("TP" if record.label else "FP")
        score = float(row["score"])
        doubts = (score >= threshold) != bool(record.label)
        assert row["reason"].startswith(f"LLM label {row['llm_label']}; model ")
        assert ("disagrees" in row["reason"]) == doubts and "out-of-fold" in row["reason"]
