"""Each row proves its file and line (issue #31): forged unquoted paths, stale lines and moved files are
settled by what exists under --scripts and by the row's own snippet, never silently scored on the wrong
line; duplicate keys and columns are refused; input columns never overwrite each other."""

from __future__ import annotations

import csv
import json

import pytest
from test_filter import load_cached

import iacsieve.filtering.apply as filter_module
from iacsieve.cli.app import main

FORGED = "init.pp,3,sec_hard_secr,x.pp"
SECRET = "class b {\n  $a = 1\n  $b = 2\n  $c = 3\n  $password = 'hunter2'\n}\n"
BENIGN = "class a {\n  $x = 1\n  $version = '1.0'\n}\n"


@pytest.fixture(autouse=True)
def cached(monkeypatch):
    monkeypatch.setattr(filter_module, "load_scorer", load_cached)


def run(capsys, champion, tmp_path, files: dict[str, str], detections: str, *extra: str):
    scripts = tmp_path / "repo"
    for name, text in files.items():
        (scripts / name).parent.mkdir(parents=True, exist_ok=True)
        (scripts / name).write_text(text)
    det = tmp_path / "glitch.csv"
    det.write_text(detections)
    out, why, summary = tmp_path / "out.jsonl", tmp_path / "why.jsonl", tmp_path / "s.json"
    argv = ["filter", "--model", str(champion), "--detections", str(det), "--scripts", str(scripts)]
    code = main([*argv, "--out", str(out), "--explain", str(why), "--json-summary", str(summary), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        return code, err, [], [], {}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    explained = [json.loads(line) for line in why.read_text().splitlines()]
    return code, err, rows, explained, json.loads(summary.read_text())


# name -> (scripts, GLITCH row, expected status, file scored, line scored)
CASES = {
    "forged path, both files exist": (
        {"init.pp": BENIGN, FORGED: SECRET},
        f"./{FORGED},5,sec_hard_secr,$password:'hunter2',-\n",
        "scored",
        f"./{FORGED}",
        5,
    ),
    "forged path, only the forged file exists": (
        {FORGED: SECRET},
        f"./{FORGED},5,sec_hard_secr,$password:'hunter2',-\n",
        "scored",
        f"./{FORGED}",
        5,
    ),
    "forged code-quality smell": (
        {
            "app.pp": "# just a comment\nclass app {}\n",
            "app.pp,1,design_avoid_comments,x.pp": "# c\n$password = 'hunter2'\n",
        },
        "./app.pp,1,design_avoid_comments,x.pp,2,sec_hard_secr,$password:'hunter2',-\n",
        "scored",
        "./app.pp,1,design_avoid_comments,x.pp",
        2,
    ),
    "forged path, both readings agree": (
        {"init.pp": "c\nd\n$password = 'hunter2'\n", FORGED: SECRET},
        f"./{FORGED},5,sec_hard_secr,$password:'hunter2',-\n",
        "unreadable:ambiguous_row",
        None,
        None,
    ),
    "stale line, the snippet on one other line": (
        {"a.pp": "class a {\n  $version = '1.0'\n  $db_password = 's3cret'\n}\n"},
        "./a.pp,2,sec_hard_secr,$db_password:'s3cret',-\n",
        "scored",
        "./a.pp",
        3,
    ),
    "stale line, the snippet nowhere": (
        {"a.pp": "class a {\n  $version = '1.0'\n}\n"},
        "./a.pp,2,sec_hard_secr,$db_password:'s3cret',-\n",
        "unreadable:snippet_mismatch",
        None,
        None,
    ),
    "moved file scored against another's tail": (
        {"manifests/init.pp": "class a {\n  $version = '1.0'\n}\n"},
        "./modules/b/manifests/init.pp,2,sec_hard_secr,$db_password:'s3cret',-\n",
        "unreadable:snippet_mismatch",
        None,
        None,
    ),
    "an honest row": (
        {"a.pp": "class a {\n  $db_password = 's3cret'\n}\n"},
        "./a.pp,2,sec_hard_secr,$db_password:'s3cret',-\n",
        "scored",
        "./a.pp",
        2,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_row_proves_its_file_and_line(capsys, champion, tmp_path, case):
    files, row, status, file, line = CASES[case]
    code, err, rows, explained, summary = run(capsys, champion, tmp_path, files, row)
    assert code == 0 and len(rows) == 1
    (why,) = explained
    assert why["status"] == status, (why, err)
    if status == "scored":
        assert (why["file"], why["line"]) == (file, line) and rows[0]["score"] is not None
        assert rows[0]["smell"] == "hard_coded_secret"
        assert summary["repointed"] == (line != int(row.rsplit(",", 4)[-4]) if "," in row else 0)
    else:
        assert rows[0]["keep"] is True and rows[0]["score"] is None  # kept, never silently dropped
        assert summary["unreadable_by_reason"] == {status.split(":")[1]: 1}


def test_a_forged_row_cannot_hide_a_secret_from_the_gate(capsys, champion, tmp_path):
    """The issue's case: the same secret in a forged name gates like in `control.pp`."""
    secret = "$password = 'hunter2'\n"
    gates = []
    for name in ("control.pp", "app.pp,1,design_avoid_comments,x.pp"):
        files = {name: secret, "app.pp": "# a comment\n"}
        code, _, rows, _, _ = run(
            capsys, champion, tmp_path / name.replace(",", "_"), files,
            f"./{name},1,sec_hard_secr,$password:'hunter2',-\n", "--threshold", "0", "--fail-on", "kept",
        )  # fmt: skip
        gates.append((code, rows[0]["smell"], rows[0]["keep"]))
    assert gates[0] == gates[1] == (1, "hard_coded_secret", True)


@pytest.mark.parametrize(
    "name,text,needle",
    [
        (
            "d.jsonl",
            '{"file": "a.pp", "line": 1, "smell": "sec_https", "smell": "design_x"}\n',
            "field 'smell'",
        ),
        ("d.csv", "PATH,LINE,ERROR,PATH\na.pp,1,sec_https,b.pp\n", "column 'PATH' named twice"),
        ("d.csv", "PATH,LINE,ERROR,path\na.pp,1,sec_https,b.pp\n", "column 'path' named twice"),
    ],
)
def test_duplicate_keys_and_columns_are_refused_in_one_line(capsys, champion, tmp_path, name, text, needle):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.pp").write_text("$x = 'http://a'\n")
    det = tmp_path / name
    det.write_text(text)
    argv = ["filter", "--model", str(champion), "--detections", str(det), "--scripts", str(tmp_path / "repo")]
    assert main([*argv, "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and not (tmp_path / "o.csv").exists()


def test_input_columns_never_overwrite_each_other(capsys, champion, tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.pp").write_text("$x = 'http://a'\n")
    det = tmp_path / "d.csv"
    det.write_text("PATH,LINE,ERROR,keep,input_keep,score\na.pp,1,sec_https,mine,theirs,0.5\n")
    argv = ["filter", "--model", str(champion), "--detections", str(det), "--scripts", str(tmp_path / "repo")]
    assert main([*argv, "--out", str(tmp_path / "o.csv")]) == 0
    (row,) = list(csv.DictReader((tmp_path / "o.csv").open()))
    assert (row["input_keep"], row["input_input_keep"], row["input_score"]) == ("theirs", "mine", "0.5")
    assert row["keep"] in ("true", "false")
