"""Evidence for every filter decision (issue 23): the index frozen with the champion, neighbours, top
features, the reason in every output, `iacsieve explain`, and refusal of an altered index.

A hand-made training set (below) is trained (classical) and frozen by the real `freeze` step, so the
index is the one a user's champion carries.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sarif_schema import validate_sarif

from iacsieve.cli.app import main
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import WarningRecord, load_prepared, record_text
from iacsieve.filtering import filter_detections
from iacsieve.filtering.champion import read_champion
from iacsieve.filtering.evidence import champion_index
from iacsieve.models import classical, load_scorer
from iacsieve.models.classical_explain import top_features
from iacsieve.models.evidence_index import CARD_KEY, ROWS_FILE, VECTORS_FILE, index_text
from iacsieve.steps.freeze import freeze
from iacsieve.steps.train import train

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "glitch-puppet"

# (file, line, smell, content, label, source): variables and lookups are false alarms, literals real.
TRAIN = [
    ("s1.pp", 3, "hard_coded_secret", "$password = $::db_password", "FP", "claude-sonnet-4-0"),
    ("s2.pp", 4, "hard_coded_secret", "$password = hiera('db::password')", "FP", "claude-sonnet-4-0"),
    ("s3.pp", 5, "hard_coded_secret", "$admin_password = $settings::admin_password", "FP", "human:alice"),
    ("s4.pp", 6, "hard_coded_secret", "$user = $facts['user']", "FP", "claude-sonnet-4-0"),
    ("s5.pp", 7, "hard_coded_secret", "$secret = lookup('app::secret')", "FP", "claude-sonnet-4-0"),
    ("t1.pp", 8, "hard_coded_secret", "$password = 'S3cr3tPassw0rd!'", "TP", "claude-sonnet-4-0"),
    ("t2.pp", 9, "hard_coded_secret", "$db_password = 'hunter2hunter2'", "TP", "claude-sonnet-4-0"),
    ("t3.pp", 10, "hard_coded_secret", "$api_token = 'a8f5f167f44f4964e6c998dee827110c'", "TP", "human:bob"),
    ("t4.pp", 11, "hard_coded_secret", "$root_password = 'toor-root-pass'", "TP", "claude-sonnet-4-0"),
    (
        "c1.pp",
        1,
        "suspicious_comment",
        "# TODO: fix the insecure password handling",
        "TP",
        "claude-sonnet-4-0",
    ),
    ("c2.pp", 2, "suspicious_comment", "# Copyright 2015 Example Inc.", "FP", "claude-sonnet-4-0"),
    ("c3.pp", 3, "suspicious_comment", "# FIXME: hack, remove before release", "TP", "claude-sonnet-4-0"),
    ("c4.pp", 4, "suspicious_comment", "# Licensed under the Apache License", "FP", "claude-sonnet-4-0"),
    # the same line as s1.pp under another smell: never a neighbour of a hard-coded secret
    ("c5.pp", 5, "suspicious_comment", "$password = $::db_password", "FP", "claude-sonnet-4-0"),
]
HELD_OUT = [
    ("v1.pp", 2, "hard_coded_secret", "$password = $::app_password", "FP", "claude-sonnet-4-0"),
    ("v2.pp", 3, "hard_coded_secret", "$password = 'Winter2024!'", "TP", "claude-sonnet-4-0"),
    ("v3.pp", 4, "suspicious_comment", "# TODO: security hole, rotate keys", "TP", "claude-sonnet-4-0"),
    ("v4.pp", 5, "suspicious_comment", "# Copyright 2020 Acme", "FP", "claude-sonnet-4-0"),
]


def _write_split(folder: Path, rows: list[tuple]) -> None:
    folder.mkdir(parents=True)
    lines = [
        json.dumps(
            {"smell": s, "tech": "puppet", "file": f, "line": ln, "content": c, "label": lab, "source": src}
        )
        for f, ln, s, c, lab, src in rows
    ]
    for name in ("combined", "puppet", "ansible", "chef"):
        text = "".join(x + "\n" for x in lines) if name in ("combined", "puppet") else ""
        (folder / f"{name}.jsonl").write_text(text, encoding="utf-8")


def _freeze(root: Path, data: Path, run: Path, name: str) -> Path:
    selection = root / f"selection-{name}.json"
    selected = {
        "run": run.name,
        "family": "classical",
        "run_dir": str(run),
        "config": {"family": "classical"},
        "threshold": 0.5,
        "threshold_source": "argmax",
        "val_f1": 0.0,
        "test": {},
    }
    selection.write_text(json.dumps({"selected": selected, "mode": "best"}))
    return freeze(selection, root / name, data_dir=data)


@pytest.fixture(scope="module")
def frozen(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(champion dir, the same run frozen again, the prepared data) of the hand-made training set."""
    root = tmp_path_factory.mktemp("evidence")
    data = root / "prepared"
    _write_split(data / "train", TRAIN)
    _write_split(data / "val", HELD_OUT)
    _write_split(data / "test", HELD_OUT)
    run = train(TrainConfig(family="classical"), data, root / "classical_run")
    return _freeze(root, data, run, "champion"), _freeze(root, data, run, "again"), data


def _record(smell: str, content: str) -> WarningRecord:
    return WarningRecord(smell=smell, tech="puppet", file="q.pp", line=1, content=content)


def test_freeze_writes_the_index_deterministically(frozen):
    champion, again, _ = frozen
    card = json.loads((champion / "champion.json").read_text())[CARD_KEY]
    assert card["rows"] == len(TRAIN)
    for name in (VECTORS_FILE, ROWS_FILE):
        assert (champion / name).read_bytes() == (again / name).read_bytes()
    assert json.loads((again / "champion.json").read_text())[CARD_KEY] == card
    with np.load(champion / VECTORS_FILE, allow_pickle=False) as arrays:  # plain arrays, no pickled objects
        assert all(arrays[name].dtype != object for name in arrays.files)


def test_neighbours_are_the_most_alike_training_rows_of_the_same_smell(frozen):
    """The documented neighbours: cosine over sublinear TF-IDF of character 2-4-grams (word-bounded)
    of `smell + line`, idf over all training rows, same smell only, most alike first. Checked against
    scikit-learn's own TfidfVectorizer + NearestNeighbors (a learned vocabulary, not hashing)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import NearestNeighbors

    champion, _, data = frozen
    index = champion_index(read_champion(champion))
    assert index is not None
    queries = ["$password = $::other_password", "$db_password = 'hunter2'", "$token = lookup('x')"]
    got = index.nearest(["hard_coded_secret"] * 3, [index_text("hard_coded_secret", q) for q in queries], k=3)
    train_rows = load_prepared(data, "train")
    secrets = [r for r in train_rows if r.smell == "hard_coded_secret"]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    vectorizer.fit([index_text(r.smell, r.content) for r in train_rows])  # idf over every training row
    reference = NearestNeighbors(n_neighbors=3, metric="cosine", algorithm="brute").fit(
        vectorizer.transform([index_text(r.smell, r.content) for r in secrets])
    )
    distances, ids = reference.kneighbors(
        vectorizer.transform([index_text("hard_coded_secret", q) for q in queries])
    )
    for found, want_ids, want_dist in zip(got, ids, distances):
        assert [index.rows[i].file for i, _ in found] == [secrets[j].file for j in want_ids]
        # n-grams the training rows never had still count in the query's norm here (a vocabulary drops
        # them), so similarities are the reference's times one factor <= 1 per query
        ratio = np.array([s for _, s in found]) / (1 - want_dist)
        assert ratio == pytest.approx(np.full(3, ratio[0]), abs=1e-5) and 0 < ratio[0] <= 1 + 1e-9
        assert all(index.rows[i].smell == "hard_coded_secret" for i, _ in found)
    assert index.rows[got[0][0][0]].file == "s1.pp"  # `$password = $::...`: the variable false alarm


def test_a_warning_identical_to_a_training_row_finds_that_row_first(frozen):
    champion, _, _ = frozen
    index = champion_index(read_champion(champion))
    for file, line, smell, content, label, source in TRAIN:
        (first, similarity), *_ = index.nearest([smell], [index_text(smell, "  " + content + " ")], k=3)[0]
        row = index.rows[first]
        assert (row.file, row.line, row.smell) == (file, line, smell) and similarity == pytest.approx(1.0)
        assert row.label == (1 if label == "TP" else 0)
        assert row.label_source == (
            f"reviewer {source[6:]}" if source.startswith("human:") else f"LLM ({source})"
        )


def test_top_features_sum_to_the_logit_and_name_the_reviewer_columns(frozen):
    champion, _, data = frozen
    scorer = load_scorer(champion)  # the plain-data scorer (numpy), as the filter loads it
    train_rows = load_prepared(data, "train")  # the fitted scikit-learn pipeline it came from, fitted again
    pipeline = classical.fit_pipeline(
        classical.resolve_options(TrainConfig(family="classical")),
        [record_text(r) for r in train_rows],
        [int(r.label) for r in train_rows if r.label is not None],
    )
    records = [
        _record("hard_coded_secret", "$password = $::vault_password"),
        _record("hard_coded_secret", "$password = 'Tr0ub4dor&3'"),
    ]
    texts = [record_text(r) for r in records]
    everything = top_features(pipeline, texts, n=10**6)
    assert scorer.top_features(records, 10**6) == everything
    intercept = float(np.asarray(pipeline.named_steps["clf"].intercept_).reshape(-1)[0])
    for features, score in zip(everything, scorer.predict_proba(records)):
        rounding = 5e-7 * len(features) + 1e-9  # each contribution is rounded to 6 decimals
        assert intercept + sum(c for _, c in features) == pytest.approx(
            math.log(score / (1 - score)), abs=rounding
        )
        assert [abs(c) for _, c in features] == sorted((abs(c) for _, c in features), reverse=True)
    variable, literal = (dict(f) for f in scorer.top_features(records, 5))
    assert variable.get("secret.value_variable", 0) < 0  # variables were false alarms in training
    assert literal.get("secret.value_literal", 0) > 0 or literal.get("def.secret_password_literal", 0) > 0
    assert all(name.startswith(("secret.", "def.", 'chars "')) for name in {**variable, **literal})


def _fixture_run(champion: Path, out: Path, **kw) -> dict:
    return filter_detections(champion, FIXTURE / "glitch-puppet.csv", FIXTURE / "scripts", out, **kw)


def test_reason_column_and_explain_jsonl(frozen, tmp_path):
    champion, _, _ = frozen
    summary = _fixture_run(champion, tmp_path / "kept.csv", explain=tmp_path / "why.jsonl")
    rows = list(csv.DictReader((tmp_path / "kept.csv").open(encoding="utf-8")))
    why = [json.loads(ln) for ln in (tmp_path / "why.jsonl").read_text().splitlines()]
    assert len(rows) == len(why) == summary["warnings_in"]
    for row, full in zip(rows, why):
        if row["score"]:
            verdict = "kept" if row["keep"] == "true" else "dropped"
            assert row["reason"].startswith(f"{verdict}: score {float(row['score']):.2f}")
            assert full["reason"] == row["reason"] and full["threshold_source"] == "frozen"
            assert full["margin"] == pytest.approx(full["score"] - 0.5, abs=1e-6)
            assert 1 <= len(full["neighbours"]) <= 3 and full["top_features"]
            assert {n["label"] for n in full["neighbours"]} <= {"TP", "FP"}
        else:
            assert row["reason"].startswith("kept unscored") and "neighbours" not in full


def test_sarif_with_suppressed_validates_against_the_sarif_schema(frozen, tmp_path):
    """Both SARIF 2.1.0 schemas of tests/schemas (OASIS's and Microsoft's), see its README."""
    champion, _, _ = frozen
    summary = _fixture_run(champion, tmp_path / "all.sarif", sarif_suppressed=True)
    log = json.loads((tmp_path / "all.sarif").read_text())
    validate_sarif(log)
    results = log["runs"][0]["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert len(suppressed) == summary["sarif_suppressed"] > 0
    assert len(results) - len(suppressed) == summary["sarif_results"]
    for r in suppressed:
        (entry,) = r["suppressions"]
        assert entry["kind"] == "external" and entry["justification"].startswith("dropped")
    kept = [r for r in results if "suppressions" not in r and "score" in r["properties"]]
    assert kept and all(r["properties"]["evidence"]["keep"] for r in kept)
    # no script text in SARIF: neighbours by file:line only, no n-gram features, in evidence or reasons
    for r in results:
        evidence = r["properties"].get("evidence", {})
        assert all("code" not in n for n in evidence.get("neighbours", []))
        assert not any('"' in f["feature"] for f in evidence.get("top_features", []))
        assert '"' not in r.get("suppressions", [{}])[0].get("justification", "")


def test_explain_on_the_puppet_fixture_shows_a_dropped_secrets_neighbours(frozen, tmp_path, capsys):
    champion, _, _ = frozen
    _fixture_run(champion, tmp_path / "kept.jsonl", explain=tmp_path / "why.jsonl")
    why = [json.loads(ln) for ln in (tmp_path / "why.jsonl").read_text().splitlines()]
    dropped = next(w for w in why if w["smell"] == "hard_coded_secret" and w.get("keep") is False)
    code = main(
        [
            "explain",
            "--model",
            str(champion),
            "--detections",
            str(FIXTURE / "glitch-puppet.csv"),
            "--row",
            str(dropped["row"]),
            "--scripts",
            str(FIXTURE / "scripts"),
            "--width",
            "120",
        ]
    )
    page = capsys.readouterr().out
    assert code == 0
    assert f"hard_coded_secret at {Path(dropped['file']).name}:{dropped['line']}" in page
    assert "DROPPED" in page and "Nearest labelled training warnings" in page
    for n in dropped["neighbours"]:
        assert f"{n['file']}:{n['line']}" in page and n["code"] in page


def test_an_altered_index_is_refused_with_exit_2(frozen, tmp_path, capsys):
    import shutil

    champion, _, _ = frozen
    tampered = tmp_path / "tampered"
    shutil.copytree(champion, tampered)
    args = ["--model", str(tampered), "--scripts", str(FIXTURE / "scripts")]
    detections = ["--detections", str(FIXTURE / "glitch-puppet.csv")]
    assert main(["filter", *args, *detections, "--out", str(tmp_path / "first.csv")]) == 0  # loaded once...
    rows = tampered / ROWS_FILE
    rows.write_text(
        rows.read_text().replace('"label":0', '"label":1', 1)
    )  # ...then one false alarm relabelled
    capsys.readouterr()
    assert main(["filter", *args, *detections, "--out", str(tmp_path / "k.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ROWS_FILE in err and "altered" in err
    assert not (tmp_path / "k.csv").exists()
    assert main(["explain", *args, *detections, "--row", "2"]) == 2
    assert "altered" in capsys.readouterr().err
    # --no-evidence does not read the index: the scores alone stay available
    assert main(["filter", *args, *detections, "--out", str(tmp_path / "k.csv"), "--no-evidence"]) == 0


def test_explain_by_file_line_smell(frozen, tmp_path, capsys):
    """`--file --line --smell` (the detector's own code is fine) gives the page `--detections --row` gives."""
    champion, _, _ = frozen
    common = ["explain", "--model", str(champion), "--scripts", str(FIXTURE / "scripts"), "--width", "100"]
    assert main([*common, "--detections", str(FIXTURE / "glitch-puppet.csv"), "--row", "13"]) == 0
    by_row = capsys.readouterr().out
    file, line, code = (FIXTURE / "glitch-puppet.csv").read_text().splitlines()[12].split(",")[:3]
    assert main([*common, "--file", Path(file).name, "--line", line, "--smell", code]) == 0
    assert capsys.readouterr().out == by_row and "Nearest labelled training warnings" in by_row
    assert main([*common, "--file", Path(file).name, "--line", line, "--smell", "design_long_resource"]) == 2
    assert "does not judge" in capsys.readouterr().err


def test_evidence_cost_is_the_time_ratio_at_scale():
    from iacsieve.reporting.bench_filter import evidence_cost, format_evidence_cost

    run = {"rows": 400000, "wall_s": 30.0, "cpu_s": 20.0, "rows_per_s": 13333.3, "peak_rss_mb": 700.0}
    slower = {**run, "wall_s": 60.0, "cpu_s": 30.0, "rows_per_s": 6666.7, "peak_rss_mb": 730.0}
    assert evidence_cost(slower, run) == {
        "time_ratio": 1.5,  # CPU time: a busy neighbour doubled the wall time, not the work
        "wall_ratio": 2.0,
        "peak_rss_mb_extra": 30.0,
        "max_time_ratio": 2.0,
        "within": True,
    }
    assert not evidence_cost({**run, "cpu_s": 41.0}, run)["within"]
    assert "= x1.5 (within the x2 budget; wall x2.0)" in format_evidence_cost(slower, run)


def test_review_sheet_has_the_reason(frozen, tmp_path):
    from iacsieve.filtering.context import FilterOptions
    from iacsieve.filtering.review import review_detections

    champion, _, _ = frozen
    out = tmp_path / "sheet.csv"
    options = FilterOptions(
        str(champion), scripts=str(FIXTURE / "scripts"), detections=str(FIXTURE / "glitch-puppet.csv")
    )
    review_detections(options, 4, out, human_dir=None)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 4
    for row in rows:
        verdict = "kept" if float(row["score"]) >= 0.5 else "dropped"
        assert row["reason"].startswith(f"{verdict}: score ")
        assert "like " in row["reason"] or "nearest: " in row["reason"]  # the neighbours


def test_every_family_gets_neighbours_without_a_linear_model(frozen, tmp_path):
    """An encoder champion (no `top_features`) still gets the score, threshold and neighbours."""

    class Encoder:
        family, use_context = "tiny-roberta", False

        def predict_proba(self, records, batch_size=32):
            return np.array([0.9 if "'" in r.content else 0.1 for r in records])

    champion, _, _ = frozen
    _fixture_run(champion, tmp_path / "kept.csv", scorer=Encoder(), threshold=0.5)
    scored = [r for r in csv.DictReader((tmp_path / "kept.csv").open(encoding="utf-8")) if r["score"]]
    assert scored and all("features:" not in r["reason"] for r in scored)
    assert all(
        r["reason"].startswith(
            ("kept: score 0.90 >= 0.50 (--threshold); ", "dropped: score 0.10 < 0.50 (--threshold); ")
        )
        for r in scored
    )
    assert all(("like " in r["reason"]) or ("nearest: " in r["reason"]) for r in scored)
