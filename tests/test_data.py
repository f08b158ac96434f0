"""Loading, validation, the model-input text, prepare and stats (issue #2)."""

import json
from pathlib import Path

import pytest

from iacsieve.cli.app import main
from iacsieve.core.errors import DataError
from iacsieve.data.records import (
    build_input_text,
    context_body,
    load_jsonl,
    load_prepared,
    parse_row,
    prepare,
    render_context,
)

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "data" / "raw"

GOOD = {
    "smell": "hard_coded_secret",
    "file": "a.pp",
    "line": 3,
    "content": "$password = 'x'",
    "label": "TP",
    "with_context": "",
    "detection_span": [1, 5],
}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "prepared"
    stats = prepare(RAW, out)
    return out, stats


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("smell", None, "missing required field"),
        ("smell", "not_a_smell", "unknown smell name"),
        ("file", "", "non-empty string"),
        ("line", 0, "integer >= 1"),
        ("line", "7", "integer >= 1"),
        ("line", True, "integer >= 1"),
        ("content", 12, "must be a string"),
        ("label", "tp?", "'TP' or 'FP'"),
        ("label", None, "missing required field"),
    ],
)
def test_each_bad_field_names_file_line_and_field(tmp_path, field, value, message):
    bad = dict(GOOD)
    if value is None:
        bad.pop(field)
    else:
        bad[field] = value
    path = write_jsonl(tmp_path / "puppet_train.jsonl", [GOOD, GOOD, bad])
    with pytest.raises(DataError) as err:
        load_jsonl(path, tech="puppet")
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 3, field)
    assert message in str(err.value) and str(path) in str(err.value) and ":3:" in str(err.value)


def test_invalid_json_and_non_object_rows(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [GOOD, "{not json", "[1, 2]"])
    with pytest.raises(DataError, match=r"x.jsonl:2: field '<json>'"):
        load_jsonl(path, tech="chef")
    records, skipped = load_jsonl(path, tech="chef", skip_invalid=True)
    assert len(records) == 1 and skipped == 2


def test_missing_tech_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [GOOD])
    with pytest.raises(DataError, match="field 'tech'"):
        load_jsonl(path)


def test_train_and_test_spellings_are_normalised():
    row = dict(GOOD, smell="use_of_http_without_ssl_tls")
    assert parse_row(row, path="t", line_no=1, tech="chef").smell == "use_of_http"
    row = dict(GOOD, smell="weak_cryptography_algorithms")
    assert parse_row(row, path="t", line_no=1, tech="chef").smell == "weak_crypto"


def test_stats_match_the_published_counts(prepared):
    _, stats = prepared
    expected = {  # data/README.md: TP/FP per split x tech
        "train": {"ansible": (87, 169), "chef": (156, 268), "puppet": (189, 507)},
        "val": {"ansible": (9, 23), "chef": (20, 33), "puppet": (27, 60)},
        "test": {"ansible": (23, 9), "chef": (20, 33), "puppet": (23, 64)},
    }
    for split, techs in expected.items():
        for tech, (tp, fp) in techs.items():
            assert (stats[split][tech]["TP"], stats[split][tech]["FP"]) == (tp, fp)
    assert [stats[s]["combined"]["total"] for s in ("train", "val", "test")] == [1376, 172, 172]
    # only four smells, with one spelling across splits
    for split in ("train", "val", "test"):
        assert set(stats[split]["combined"]["by_smell"]) == {
            "hard_coded_secret",
            "suspicious_comment",
            "use_of_http",
            "weak_crypto",
        }


def test_prepared_files_round_trip(prepared):
    out, _ = prepared
    test = load_prepared(out, "test")
    assert len(test) == 172
    assert sum(len(load_prepared(out, "test", t)) for t in ("ansible", "chef", "puppet")) == 172
    assert json.loads((out / "stats.json").read_text())["val"]["combined"]["total"] == 172


def test_context_formats_of_train_and_test_normalise_alike():
    train_style = "# Puppet file: a.pp\n\nclass x {\n14:   password => 'p',\n}\n"
    test_style = (
        "# File: a.pp\n# Target line: 14\n\n     13: class x {\n>>>  14:     password => 'p',\n     15: }"
    )
    assert context_body(train_style) == context_body(test_style) == "class x {\n>>> password => 'p',\n}"
    rendered = render_context(["class x {", "  password => 'p',", "}"], 2, file="a.pp")
    assert context_body(rendered) == "class x {\n>>> password => 'p',\n}"


def test_every_dataset_context_has_one_target(prepared):
    out, _ = prepared
    for split in ("train", "val", "test"):
        for record in load_prepared(out, split):
            body = context_body(record.with_context, target=record.line)
            assert body.count(">>> ") == 1, (split, record.file, record.line)
            assert "# Target line:" not in body and not body.startswith(("# File:", "# Puppet file:"))


def test_input_text_is_one_function_for_every_family():
    text = build_input_text(
        "hard_coded_secret", "  password: x  ", "# File: f\n>>>   1: password: x", use_context=True
    )
    assert text.startswith("smell: hard coded secret\nline: password: x\ncontext:\n")
    assert "# File" not in text
    assert "context" not in build_input_text("hard_coded_secret", "password: x", "ctx")


def test_cli_bad_row_is_one_line_no_traceback(tmp_path, capsys):
    raw = tmp_path / "raw"
    for tech in ("ansible", "chef", "puppet"):
        (raw / tech).mkdir(parents=True)
        for line, split in enumerate(("train", "val", "test"), start=1):
            write_jsonl(raw / tech / f"{tech}_{split}.jsonl", [dict(GOOD, line=line)])
    write_jsonl(raw / "chef" / "chef_val.jsonl", [dict(GOOD, line=2), dict(GOOD, label="maybe")])
    code = main(["prepare", "--raw", str(raw), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and "chef_val.jsonl:2: field 'label'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing half-written
    assert main(["prepare", "--raw", str(raw), "--out", str(tmp_path / "out"), "--skip-invalid"]) == 0
    assert "skipped 1 invalid rows" in capsys.readouterr().out


def test_cli_data_stats(capsys):
    assert main(["data", "stats", "--raw", str(RAW)]) == 0
    out = capsys.readouterr().out
    assert "87/169" in out and "1376" in out


def test_cli_missing_file(tmp_path, capsys):
    assert main(["data", "stats", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: file not found" in capsys.readouterr().err
