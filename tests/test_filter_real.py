"""The filter on real GLITCH output (tests/fixtures/glitch-real, its README lists the quirks), in CI, and on
hostile scripts: one test per quirk, the CI gate and baseline, encodings, injection and bounded memory."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from sarif_schema import validate_sarif
from test_filter import load_cached

import iacsieve.filtering.apply as filter_module
from iacsieve.cli.app import main
from iacsieve.filtering import filter_detections
from iacsieve.io.safe_text import neutralise_cell, terminal_safe, unneutralise_cell

REAL = Path(__file__).resolve().parent / "fixtures" / "glitch-real"
TECHS = ("ansible", "chef", "puppet")


@pytest.fixture(autouse=True)
def cached(monkeypatch):
    monkeypatch.setattr(filter_module, "load_scorer", load_cached)


def lines(tech: str) -> list[str]:
    return (REAL / f"{tech}-glitch.csv").read_text(encoding="utf-8").splitlines()


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["filter", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("tech", TECHS)
def test_real_glitch_output_filters_row_for_row(champion, tmp_path, tech):
    """5 unquoted fields (`,-` last), `./` paths, line -1, code-quality rows: exit 0, every row out."""
    out = tmp_path / "kept.csv"
    summary = filter_detections(champion, REAL / f"{tech}-glitch.csv", REAL / tech, out)
    rows = read_csv(out.read_text(encoding="utf-8"))
    source = lines(tech)
    assert len(rows) == len(source) == summary["warnings_in"] and summary["missing"] == 0
    assert list(rows[0])[:5] == ["path", "line", "code", "snippet", "message"]
    for row, raw in zip(rows, source):
        cells = [unneutralise_cell(row[k]) for k in ("path", "line", "code", "snippet")]
        assert ",".join(cells) + "," + row["message"] == raw  # split on the first three commas, `,-` off
        assert row["message"] == "-" and not row["snippet"].endswith(",-")
        if row["line"] == "-1" or row["code"].startswith(("design_", "implementation_")):
            assert (row["score"], row["keep"]) == ("", "true")  # passed through, unscored
    assert summary["scored"] > 0 and summary["file_level"] == sum(r["line"] == "-1" for r in rows)


def test_whole_file_rows_exist_in_the_fixtures():
    assert any(",-1,implementation_too_many_variables," in ln for ln in lines("chef"))
    assert any(",-1,design_" in ln for ln in lines("puppet"))


def _rewrite(tech: str, tmp_path: Path, prefix: str) -> Path:
    path = tmp_path / f"{tech}.csv"
    path.write_text("".join(prefix + ln[2:] + "\n" for ln in lines(tech)), encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["absolute", "foreign_strip", "foreign_tails", "cwd_relative"])
def test_paths_as_glitch_prints_them_elsewhere_map_under_scripts(champion, tmp_path, monkeypatch, how):
    """GLITCH given an absolute folder prints absolute paths; in a container, a foreign root."""
    scripts = REAL / "puppet"
    reference = filter_detections(champion, REAL / "puppet-glitch.csv", scripts, tmp_path / "ref.jsonl")
    options: dict = {}
    if how == "absolute":
        detections = _rewrite("puppet", tmp_path, f"{scripts}/")
    elif how == "foreign_strip":
        detections, options = _rewrite("puppet", tmp_path, "/src/"), {"path_prefix_strip": "/src"}
    elif how == "foreign_tails":
        detections = _rewrite("puppet", tmp_path, "/builds/acme/infra/")
    else:
        monkeypatch.chdir(REAL)
        detections = _rewrite("puppet", tmp_path, "puppet/")
    summary = filter_detections(champion, detections, scripts, tmp_path / "o.jsonl", **options)
    assert summary["missing"] == 0 and summary["by_smell"] == reference["by_smell"]
    got = [json.loads(ln)["fingerprint"] for ln in (tmp_path / "o.jsonl").read_text().splitlines()]
    want = [json.loads(ln)["fingerprint"] for ln in (tmp_path / "ref.jsonl").read_text().splitlines()]
    assert got == want


def test_file_order_changes_nothing_but_the_order(champion, tmp_path):
    """GLITCH lists files in a different order each run: the same warnings, the same fingerprints."""
    shuffled = tmp_path / "d.csv"
    shuffled.write_text("\n".join(sorted(lines("ansible"), key=lambda ln: ln.split(",")[0])) + "\n")
    a = filter_detections(champion, REAL / "ansible-glitch.csv", REAL / "ansible", tmp_path / "a.jsonl")
    b = filter_detections(champion, shuffled, REAL / "ansible", tmp_path / "b.jsonl")
    rows_a = [json.loads(ln) for ln in (tmp_path / "a.jsonl").read_text().splitlines()]
    rows_b = [json.loads(ln) for ln in (tmp_path / "b.jsonl").read_text().splitlines()]
    key = lambda r: (r["path"], int(r["line"]), r["code"])  # noqa: E731
    assert sorted(rows_a, key=key) == sorted(rows_b, key=key) and a["by_smell"] == b["by_smell"]


@pytest.mark.parametrize("tech", TECHS)
def test_real_sarif_one_result_per_line_and_smell_with_run_record(champion, tmp_path, tech):
    out = tmp_path / "o.sarif"
    summary = filter_detections(
        champion, REAL / f"{tech}-glitch.csv", REAL / tech, out, sarif_category=f"iacsieve-{tech}"
    )
    log = json.loads(out.read_text())
    validate_sarif(log)
    (run,) = log["runs"]
    keys = [
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["ruleId"],
        )
        for r in run["results"]
    ]
    assert len(keys) == len(set(keys)) == summary["sarif_results"] > 0
    assert all(r["partialFingerprints"]["iacsieve/v1"] for r in run["results"])
    assert run["automationDetails"]["id"] == f"iacsieve-{tech}/"
    props = run["properties"]
    assert props["threshold"] == summary["threshold"] and props["operatingPoint"] == "champion"
    assert len(props["championSha256"]) == 64 and props["model"] == str(champion)
    for rule in run["tool"]["driver"]["rules"]:
        assert 0 < float(rule["properties"]["security-severity"]) <= 10


def test_secret_and_user_on_one_line_are_one_sarif_result(champion, tmp_path):
    scripts = tmp_path / "s"
    scripts.mkdir()
    (scripts / "a.pp").write_text("x\n$user = 'admin'; $password = 'hunter2'\n")
    detections = tmp_path / "d.csv"
    detections.write_text(
        "a.pp,2,sec_hard_secr,$user,-\na.pp,2,sec_hard_user,$user,-\na.pp,2,sec_hard_pass,$p,-\n"
    )
    filter_detections(champion, detections, scripts, tmp_path / "o.sarif", threshold=0.0)
    (result,) = json.loads((tmp_path / "o.sarif").read_text())["runs"][0]["results"]
    assert result["properties"]["detectorCodes"] == ["sec_hard_secr", "sec_hard_user", "sec_hard_pass"]


# ----------------------------------------------------------------------------- CI: gate, baseline, stdout


@pytest.fixture()
def repo(tmp_path) -> Path:
    scripts = tmp_path / "chef"
    shutil.copytree(REAL / "chef", scripts)
    return scripts


def test_fail_on_kept_gates_and_the_baseline_tolerates_moved_lines(capsys, champion, repo, tmp_path):
    detections = REAL / "chef-glitch.csv"
    base = ["--model", str(champion), "--scripts", str(repo), "--threshold", "0"]
    first = tmp_path / "first.sarif"
    code, _, err = cli(
        capsys, *base, "--detections", str(detections), "--out", str(first), "--fail-on", "kept"
    )
    assert code == 1 and "--fail-on kept" in err
    assert cli(capsys, *base, "--detections", str(detections), "--out", str(first))[0] == 0  # default: never
    # lines added above every warning of a script, plus one new secret: only the new one is reported
    target = repo / "jenkins" / "resources" / "install.rb"
    shift = 3
    target.write_text("# added\n# added\npassword = 'n3w-s3cret'\n" + target.read_text())
    moved = tmp_path / "moved.csv"
    rows = []
    for ln in lines("chef"):
        path, line, rest = ln.split(",", 2)
        if path == "./jenkins/resources/install.rb" and line != "-1":
            line = str(int(line) + shift)
        rows.append(f"{path},{line},{rest}")
    rows.append("./jenkins/resources/install.rb,3,sec_hard_secr,password = 'n3w-s3cret',-")
    moved.write_text("\n".join(rows) + "\n")
    summary_file = tmp_path / "summary.json"
    code, _, err = cli(
        capsys,
        *base,
        "--detections",
        str(moved),
        "--out",
        str(tmp_path / "new.sarif"),
        "--baseline",
        str(first),
        "--fail-on",
        "kept",
        "--json-summary",
        str(summary_file),
    )
    summary = json.loads(summary_file.read_text())
    results = json.loads((tmp_path / "new.sarif").read_text())["runs"][0]["results"]
    assert code == 1 and summary["kept_security"] == 1 and summary["exit_code"] == 1
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [3]
    assert results[0]["baselineState"] == "new" and summary["in_baseline"] > 0
    # the same run against a CSV baseline of itself: nothing new, exit 0
    cli(capsys, *base, "--detections", str(moved), "--out", str(tmp_path / "all.csv"))
    code, _, _ = cli(
        capsys,
        *base,
        "--detections",
        str(moved),
        "--out",
        str(tmp_path / "again.csv"),
        "--baseline",
        str(tmp_path / "all.csv"),
        "--fail-on",
        "kept",
    )
    assert code == 0


def test_bad_baseline_is_exit_2(capsys, champion, tmp_path):
    bad = tmp_path / "b.csv"
    bad.write_text("a,b\n1,2\n")
    code, _, err = cli(
        capsys,
        "--model",
        str(champion),
        "--detections",
        str(REAL / "chef-glitch.csv"),
        "--scripts",
        str(REAL / "chef"),
        "--out",
        str(tmp_path / "o.csv"),
        "--baseline",
        str(bad),
        "--fail-on",
        "kept",
    )
    assert code == 2 and err.count("\n") == 1 and "b.csv" in err


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "sarif"])
def test_out_dash_writes_stdout(capsys, champion, tmp_path, fmt):
    code, out, err = cli(
        capsys,
        "--model",
        str(champion),
        "--detections",
        str(REAL / "ansible-glitch.csv"),
        "--scripts",
        str(REAL / "ansible"),
        "--out",
        "-",
        "--format",
        fmt,
    )
    assert code == 0 and not (Path.cwd() / "-").exists() and "warnings in" in err
    if fmt == "csv":
        assert len(read_csv(out)) == len(lines("ansible"))
    elif fmt == "jsonl":
        assert len(out.splitlines()) == len(lines("ansible"))
    else:
        validate_sarif(json.loads(out))


# ----------------------------------------------------------------------------- injection, encodings, memory


def test_csv_cells_are_neutralised_and_terminal_output_escaped(capsys, champion, tmp_path):
    scripts = tmp_path / "s"
    scripts.mkdir()
    (scripts / "a.pp").write_text("=cmd|' /C calc'!A0\n")
    detections = tmp_path / "d.csv"
    detections.write_text(
        "a.pp,1,sec_hard_secr,=cmd|' /C calc'!A0,-\na.pp,1,design_\x1b]0;pwned\x07x,@SUM(1),-\n"
    )
    code, _, err = cli(
        capsys,
        "--model",
        str(champion),
        "--detections",
        str(detections),
        "--scripts",
        str(scripts),
        "--out",
        str(tmp_path / "o.csv"),
    )
    rows = read_csv((tmp_path / "o.csv").read_text())
    assert code == 0 and rows[0]["snippet"] == "'=cmd|' /C calc'!A0" and rows[1]["snippet"] == "'@SUM(1)"
    assert "\x1b" not in err and "\x07" not in err and "\\x1b]0;pwned\\x07" in err
    assert [neutralise_cell(c) for c in ("-1", "-x", "\tx", "\rx", "+1+1", "ok")] == [
        "-1",
        "'-x",
        "'\tx",
        "'\rx",
        "'+1+1",
        "ok",
    ]
    assert terminal_safe("a\x1b[31mb\x9bc\n") == "a\\x1b[31mb\\x9bc\\x0a"


def test_utf16_and_utf32_scripts_score_as_utf8_and_binary_is_kept_and_reported(capsys, champion, tmp_path):
    scripts = tmp_path / "s"
    scripts.mkdir()
    text = "class a {\n  $password = 'hunter2'\n}\n"
    (scripts / "u8.pp").write_text(text, encoding="utf-8")
    (scripts / "u16.pp").write_bytes(text.encode("utf-16"))
    (scripts / "u32.pp").write_bytes(text.encode("utf-32"))
    (scripts / "bin.pp").write_bytes(b"\x7fELF\x00\x01\x02\npassword\n")
    (scripts / "latin.pp").write_bytes("$password = 'caf\xe9'\n$x = 1\n".encode("latin-1"))
    detections = tmp_path / "d.csv"
    detections.write_text(
        "".join(f"{n}.pp,2,sec_hard_pass,x,-\n" for n in ("u8", "u16", "u32", "bin", "latin"))
    )
    code, _, err = cli(
        capsys,
        "--model",
        str(champion),
        "--detections",
        str(detections),
        "--scripts",
        str(scripts),
        "--out",
        str(tmp_path / "o.csv"),
        "--on-missing",
        "drop",
        "--json-summary",
        str(tmp_path / "s.json"),
    )
    rows = read_csv((tmp_path / "o.csv").read_text())
    assert code == 0 and rows[0]["score"] != "" and rows[0]["score"] == rows[1]["score"] == rows[2]["score"]
    assert [(r["score"], r["keep"]) for r in rows[3:]] == [("", "true"), ("", "true")]  # kept, not dropped
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["unreadable_by_reason"] == {"binary": 1, "undecodable": 1} and summary["missing"] == 0
    assert "unreadable scripts: 2 rows kept unscored" in err and "bin.pp" in err and "latin.pp" in err


def test_script_cache_stays_within_its_byte_budget(champion, tmp_path):
    from iacsieve.filtering.scripts import ScriptFolder

    folder = ScriptFolder(REAL / "chef", cache_bytes=20_000)
    for det_line in lines("chef"):
        path, line = det_line.split(",")[:2]
        folder.line(folder.resolve(path), int(line))
        assert folder.cached_bytes <= 20_000 or folder.cached_scripts == 1
    small = filter_detections(
        champion, REAL / "chef-glitch.csv", REAL / "chef", tmp_path / "a.csv", script_cache_bytes=1
    )
    big = filter_detections(champion, REAL / "chef-glitch.csv", REAL / "chef", tmp_path / "b.csv")
    assert small["by_smell"] == big["by_smell"]
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_an_error_naming_a_hostile_file_is_escaped_on_the_terminal(capsys, champion, tmp_path):
    detections = tmp_path / "d.csv"
    detections.write_text("evil\x1b]52;c;cGF5bG9hZA==\x07.pp,1,sec_hard_secr,x,-\n")
    code, _, err = cli(
        capsys,
        "--model",
        str(champion),
        "--detections",
        str(detections),
        "--scripts",
        str(REAL / "chef"),
        "--out",
        str(tmp_path / "o.csv"),
    )
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err and "evil" in err
