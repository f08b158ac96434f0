"""Reading detector output: format detection and the three parsers (issue #6)."""

import json
from pathlib import Path

import pytest

from iacsieve.core.errors import DataError, IacsieveError
from iacsieve.filtering.detections import detect_format, read_detections

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "glitch-puppet"
GLITCH_CSV = FIXTURE / "glitch-puppet.csv"


def raw_lines() -> list[str]:
    return [ln for ln in GLITCH_CSV.read_text(encoding="utf-8").split("\n") if ln]


def test_glitch_csv_reads_every_row_with_snippets_verbatim():
    parsed = read_detections(GLITCH_CSV)
    lines = raw_lines()
    assert parsed.format == "glitch"
    assert parsed.columns == ("path", "line", "code", "snippet")
    assert len(parsed.rows) == len(lines) == 977
    for det, line in zip(parsed.rows, lines):
        path, number, code, snippet = line.split(",", 3)  # GLITCH does not quote: the rest is the snippet
        assert (det.file, det.line, det.raw_smell, det.values["snippet"]) == (
            path,
            int(number),
            code,
            snippet,
        )
    with_commas = [d for d in parsed.rows if "," in d.values["snippet"]]
    assert len(with_commas) > 50  # the fixture's snippets hold commas and quotes; none may be split
    assert any('"' in d.values["snippet"] for d in with_commas)


def test_glitch_codes_map_to_canonical_smells_and_non_security_is_flagged():
    rows = read_detections(GLITCH_CSV).rows
    by_code = {d.raw_smell: d for d in rows}
    assert by_code["sec_hard_pass"].smell == "hard_coded_secret"
    assert by_code["sec_https"].smell == "use_of_http"
    assert by_code["sec_weak_crypt"].smell == "weak_crypto"
    assert by_code["design_avoid_comments"].smell is None and by_code["design_avoid_comments"].non_security
    assert by_code["implementation_long_statement"].display_smell == "implementation_long_statement"


def test_replication_csv_with_older_names(tmp_path):
    path = tmp_path / "rep.csv"
    path.write_text(
        'PATH,LINE,ERROR\r\na/x.pp,3,hardcoded-secret\r\n"b,c.pp",7,use of http\r\n\r\nd.pp,1,design_avoid_comments\r\n'
    )
    parsed = read_detections(path)
    assert parsed.format == "replication" and parsed.columns == ("PATH", "LINE", "ERROR")
    assert [(d.file, d.line, d.smell) for d in parsed.rows] == [
        ("a/x.pp", 3, "hard_coded_secret"),
        ("b,c.pp", 7, "use_of_http"),
        ("d.pp", 1, None),
    ]
    assert parsed.rows[1].row_no == 3 and parsed.rows[2].row_no == 5


def test_jsonl_keeps_extra_keys(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps({"file": "x.pp", "line": 2, "smell": "sec_susp_comm", "id": 9})
        + "\n\n"
        + json.dumps({"file": "y.pp", "line": "4", "smell": "Use of HTTP without SSL/TLS"})
        + "\n"
    )
    parsed = read_detections(path)
    assert parsed.format == "jsonl" and parsed.columns == ("file", "line", "smell", "id")
    assert [(d.smell, d.line, d.row_no) for d in parsed.rows] == [
        ("suspicious_comment", 2, 1),
        ("use_of_http", 4, 3),
    ]
    assert parsed.rows[0].values["id"] == 9


def test_empty_file_is_an_empty_glitch_report(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    parsed = read_detections(path)
    assert parsed.format == "glitch" and parsed.rows == ()


@pytest.mark.parametrize(
    "text",
    [
        "hello world\n",
        "a,b,c\n1,2,3\n",
        '{"file": "x.pp"}\n',
        "x.pp,notanumber,sec_https,http://x\n",
    ],
)
def test_unknown_format_is_one_clear_error(tmp_path, text):
    path = tmp_path / "d.txt"
    path.write_text(text)
    with pytest.raises(IacsieveError, match="unknown detections format") as err:
        read_detections(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "name,text,match",
    [
        ("g.csv", "x.pp,3,sec_https,http://a\nx.pp,0,sec_https,http://a\n", r"g.csv:2: field 'line'"),
        ("g.csv", "x.pp,3,sec_https,http://a\nx.pp,3\n", r"g.csv:2: field '<row>'"),
        ("r.csv", "PATH,LINE,ERROR\nx.pp,abc,sec_https\n", r"r.csv:2: field 'LINE'"),
        ("r.csv", "PATH,LINE,ERROR\nx.pp,3\n", r"r.csv:2: field '<row>'"),
        (
            "j.jsonl",
            '{"file":"x.pp","line":1,"smell":"sec_https"}\n{"file":"x.pp","smell":"sec_https"}\n',
            r"j.jsonl:2: field 'line'",
        ),
        ("j.jsonl", '{"file":"x.pp","line":1,"smell":"sec_https"}\nnot json\n', r"j.jsonl:2: field '<json>'"),
        (
            "j.jsonl",
            '{"file":"x.pp","line":1,"smell":"sec_https"}\n{"file":"","line":1,"smell":"x"}\n',
            r"j.jsonl:2: field 'file'",
        ),
    ],
)
def test_bad_rows_name_file_row_and_field(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        read_detections(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(IacsieveError, match="not found"):
        read_detections(tmp_path / "nope.csv")
    with pytest.raises(IacsieveError, match="is a directory"):
        read_detections(tmp_path)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(IacsieveError, match="not UTF-8"):
        read_detections(binary)


def test_forced_format_and_detection_agree():
    text = GLITCH_CSV.read_text(encoding="utf-8")
    assert detect_format(text) == "glitch"
    assert detect_format("PATH,LINE,ERROR\n") == "replication"
    assert detect_format('{"file": "a", "line": 1, "smell": "x"}') == "jsonl"
    with pytest.raises(IacsieveError, match="unknown detections format 'xml'"):
        read_detections(GLITCH_CSV, "xml")
