"""`iacsieve filter`: a frozen champion over GLITCH's real output on 160 Puppet scripts (issue #6)."""

import csv
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import iacsieve.filtering.apply as filter_module
from iacsieve.cli.app import main
from iacsieve.core.errors import IacsieveError
from iacsieve.core.smells import canonical_smell, is_non_security
from iacsieve.data.records import render_context
from iacsieve.filtering import DATASET_SMELLS, filter_detections, read_champion
from iacsieve.io.safe_text import unneutralise_cell
from iacsieve.models import load_scorer

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "glitch-puppet"
GLITCH_CSV = FIXTURE / "glitch-puppet.csv"
SCRIPTS = FIXTURE / "scripts"


@pytest.fixture(scope="session")
def glitch_run(champion, tmp_path_factory):
    """The fixture through the filter once (CSV out), with the model's inputs recorded."""
    out = tmp_path_factory.mktemp("glitch") / "kept.csv"
    calls: list[list] = []
    real = load_scorer(champion)

    class Counting:
        family, use_context = real.family, real.use_context

        def predict_proba(self, records, batch_size=32):
            calls.append(list(records))
            return real.predict_proba(records, batch_size=batch_size)

    mp = pytest.MonkeyPatch()
    mp.setattr(filter_module, "load_scorer", lambda model_dir: Counting())
    try:
        summary = filter_detections(champion, GLITCH_CSV, SCRIPTS, out)
    finally:
        mp.undo()
    return summary, read_csv(out), calls


@pytest.fixture()
def cached_scorer(monkeypatch):
    """Load each model dir once per session in tests that are about input handling, not loading."""
    monkeypatch.setattr(filter_module, "load_scorer", load_cached)


_SCORERS: dict = {}


def load_cached(model_dir):
    key = str(Path(model_dir).resolve())
    if key not in _SCORERS:
        _SCORERS[key] = load_scorer(model_dir)
    return _SCORERS[key]


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def covered(code: str) -> bool:
    return canonical_smell(code) in DATASET_SMELLS and not is_non_security(code)


def glitch_rows() -> list[list[str]]:
    return [ln.split(",", 3) for ln in GLITCH_CSV.read_text(encoding="utf-8").split("\n") if ln]


def to_replication(path: Path) -> Path:
    """The fixture in the replication package's form: header PATH,LINE,ERROR, older smell names."""
    older = {
        "sec_hard_secr": "hardcoded-secret",
        "sec_hard_pass": "hardcoded-password",
        "sec_hard_user": "hardcoded-username",
        "sec_https": "use of http",
        "sec_susp_comm": "suspicious comment",
        "sec_weak_crypt": "weak cryptography algorithms",
        "sec_def_admin": "admin-by-default",
    }
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["PATH", "LINE", "ERROR"])
    for p, line, code, _snippet in glitch_rows():
        writer.writerow([p, line, older.get(code, code)])
    path.write_text(buffer.getvalue())
    return path


def to_jsonl(path: Path) -> Path:
    path.write_text(
        "".join(json.dumps({"file": p, "line": int(ln), "smell": c}) + "\n" for p, ln, c, _ in glitch_rows())
    )
    return path


def run_cli(capsys, *args: str) -> tuple[int, str]:
    rc = main(["filter", *args])
    return rc, capsys.readouterr().err


# ----------------------------------------------------------------------------- the real fixture


def test_glitch_csv_every_row_in_order_with_smell_score_keep(glitch_run):
    summary, rows, _ = glitch_run
    source = glitch_rows()
    assert len(rows) == len(source) == summary["warnings_in"] == 977
    assert list(rows[0]) == [
        "path",
        "line",
        "code",
        "snippet",
        "smell",
        "score",
        "keep",
        "fingerprint",
        "reason",
    ]
    for row, (p, line, code, snippet) in zip(rows, source):
        cells = tuple(unneutralise_cell(row[k]) for k in ("path", "line", "code", "snippet"))
        assert cells == (p, line, code, snippet)
        if covered(code):
            score = float(row["score"])
            assert 0.0 <= score <= 1.0 and row["smell"] == canonical_smell(code)
            assert row["keep"] == ("true" if score >= summary["threshold"] else "false")
        else:  # uncovered security smells and design/implementation smells pass through untouched
            assert (row["score"], row["keep"]) == ("", "true")
            assert row["smell"] == (canonical_smell(code) or code)
    kept = sum(r["keep"] == "true" for r in rows)
    assert summary["kept"] == kept and summary["dropped"] == len(rows) - kept
    assert summary["scored"] == sum(covered(c) for _, _, c, _ in source)
    assert summary["passed_through"] == len(rows) - summary["scored"]
    assert 0 < summary["dropped"] < summary["scored"], (
        "the champion should keep some covered warnings and drop some"
    )
    assert summary["by_smell"]["design_avoid_comments"] == {
        "in": 362,
        "scored": 0,
        "kept": 362,
        "dropped": 0,
        "missing": 0,
    }
    assert summary["covered_smells"] == sorted(DATASET_SMELLS) and summary["covered_smells_recorded"] is False


def test_duplicates_are_scored_once(glitch_run):
    summary, rows, calls = glitch_run
    assert len(calls) == 1  # one model call for the whole file; the scorer batches inside
    records = calls[0]
    distinct = {(Path(p).name, int(ln), canonical_smell(c)) for p, ln, c, _ in glitch_rows() if covered(c)}
    assert len(records) == summary["model_inputs"] == len(distinct) < summary["scored"]
    assert {(r.file, r.line, r.smell) for r in records} == distinct
    # GLITCH flags line 68 as empty, hard-coded password and secret: the two secrets share one score
    line68 = [r for r in rows if r["line"] == "68" and "apiuser" in r["path"]]
    assert [r["code"] for r in line68] == ["sec_empty_pass", "sec_hard_pass", "sec_hard_secr"]
    assert line68[1]["score"] == line68[2]["score"] != ""


def test_model_input_is_the_scripts_line(glitch_run):
    *_, calls = glitch_run
    record = next(
        r for r in calls[0] if r.file == "Icinga@puppet-icinga2-manifests-object-apiuser.pp" and r.line == 68
    )
    script = (SCRIPTS / record.file).read_text().split("\n")
    assert record.content == script[67].strip() and record.tech == "puppet" and record.label is None


@pytest.mark.parametrize("convert", [to_replication, to_jsonl])
def test_other_input_formats_give_the_same_verdicts(glitch_run, cached_scorer, champion, tmp_path, convert):
    _, reference, _ = glitch_run
    detections = convert(tmp_path / ("d.jsonl" if convert is to_jsonl else "d.csv"))
    out = tmp_path / "out.jsonl"
    summary = filter_detections(champion, detections, SCRIPTS, out)
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert summary["format"] == ("jsonl" if convert is to_jsonl else "replication")
    assert len(rows) == len(reference) == summary["warnings_in"]
    for row, ref in zip(rows, reference):
        assert row["smell"] == ref["smell"]
        assert row["keep"] == (ref["keep"] == "true")
        assert (row["score"] is None) == (ref["score"] == "") and (
            row["score"] is None or abs(row["score"] - float(ref["score"])) < 1e-6
        )
    if convert is to_jsonl:
        assert rows[0]["input_smell"] == "sec_empty_pass" and rows[0]["smell"] == "empty_password"
    else:
        assert set(rows[0]) == {"PATH", "LINE", "ERROR", "smell", "score", "keep", "fingerprint", "reason"}
    assert [r["fingerprint"] for r in rows] == [r["fingerprint"] for r in reference]


def test_threshold_override_and_bare_model_dir(cached_scorer, champion, tmp_path):
    out = tmp_path / "all.csv"
    summary = filter_detections(champion, GLITCH_CSV, SCRIPTS, out, threshold=0.0)
    assert summary["dropped"] == 0 and summary["threshold_source"] == "--threshold"
    bare = tmp_path / "model"
    shutil.copytree(champion, bare)
    (bare / "champion.json").unlink()
    with pytest.raises(IacsieveError, match="pass --threshold"):
        filter_detections(bare, GLITCH_CSV, SCRIPTS, out)
    summary = filter_detections(bare, GLITCH_CSV, SCRIPTS, out, threshold=1.0, fmt="jsonl")
    assert summary["kept"] == summary["passed_through"] + sum(
        json.loads(ln)["score"] == 1.0 for ln in out.read_text().splitlines()
    )


def test_recorded_smells_narrow_what_is_scored(cached_scorer, champion, tmp_path):
    narrow = tmp_path / "champ"
    shutil.copytree(champion, narrow)
    info = json.loads((narrow / "champion.json").read_text())
    (narrow / "champion.json").write_text(json.dumps({**info, "smells": ["use_of_http"]}))
    assert read_champion(narrow).covered_recorded
    summary = filter_detections(narrow, GLITCH_CSV, SCRIPTS, tmp_path / "o.csv")
    assert summary["scored"] == summary["by_smell"]["use_of_http"]["in"] == 20
    assert summary["by_smell"]["hard_coded_secret"]["scored"] == 0


def test_context_champion_gets_the_rendered_window(monkeypatch, champion, tmp_path):
    seen: list = []

    class ContextScorer:
        family, use_context = "stand-in", True

        def predict_proba(self, records, batch_size=32):
            seen.extend(records)
            return np.full(len(records), 0.9)

    monkeypatch.setattr(filter_module, "load_scorer", lambda model_dir: ContextScorer())
    detections = tmp_path / "d.jsonl"
    detections.write_text(
        json.dumps({"file": "Yelp@puppet-cron-manifests-d.pp", "line": 3, "smell": "sec_https"}) + "\n"
    )
    filter_detections(champion, detections, SCRIPTS, tmp_path / "o.csv", batch_size=7)
    lines = (SCRIPTS / "Yelp@puppet-cron-manifests-d.pp").read_text().split("\n")
    assert seen[0].with_context == render_context(lines, 3, file="Yelp@puppet-cron-manifests-d.pp")


def test_cli_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["filter", "--help"])
    text = capsys.readouterr().out
    assert "--on-missing" in text and "example:" in text and "iacsieve filter --model" in text


def test_cli_end_to_end_and_tech(capsys, cached_scorer, champion, tmp_path):
    out = tmp_path / "kept.csv"
    rc, err = run_cli(
        capsys,
        "--model",
        str(champion),
        "--detections",
        str(GLITCH_CSV),
        "--scripts",
        str(FIXTURE),
        "--out",
        str(out),
        "--batch-size",
        "16",
    )
    assert rc == 0 and "977 warnings in" in err and "hard_coded_secret" in err and "Traceback" not in err
    assert len(read_csv(out)) == 977  # paths relative to the fixture dir also resolve
    renamed = tmp_path / "scripts"
    renamed.mkdir()
    (renamed / "x.txt").write_text("a\nurl => 'http://example.org'\n")
    detections = tmp_path / "d.jsonl"
    detections.write_text(json.dumps({"file": "x.txt", "line": 2, "smell": "sec_https"}) + "\n")
    rc, err = run_cli(
        capsys,
        "--model",
        str(champion),
        "--detections",
        str(detections),
        "--scripts",
        str(renamed),
        "--out",
        str(out),
    )
    assert rc == 2 and "pass --tech" in err
    rc, err = run_cli(
        capsys,
        "--model",
        str(champion),
        "--detections",
        str(detections),
        "--scripts",
        str(renamed),
        "--out",
        str(out),
        "--tech",
        "chef",
    )
    assert rc == 0 and read_csv(out)[0]["score"] != ""


# ----------------------------------------------------------------------------- bad and hostile input


@pytest.fixture()
def hostile(tmp_path):
    """A scripts dir with one good script, plus a secret file outside it and a symlink pointing out."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "good.pp").write_text("class a {\n  $password = 'hunter2'\n}\n")
    outside = tmp_path / "outside.pp"
    outside.write_text("$password = 'TOP-SECRET-OUTSIDE'\n" * 3)
    (scripts / "link.pp").symlink_to(outside)
    return scripts, outside


BAD_ROWS = {
    "missing_script": ("nope.pp", 1, "not found", "not_found"),
    "dotdot": ("../outside.pp", 1, "refused", "outside_scripts"),
    "absolute_outside": (None, 1, "refused", "outside_scripts"),
    "symlink_out": ("link.pp", 1, "refused", "outside_scripts"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_rows_exit_2_with_one_line_or_are_counted(
    capsys, monkeypatch, cached_scorer, champion, hostile, tmp_path, case
):
    scripts, outside = hostile
    path, line, message, reason = BAD_ROWS[case]
    path = str(outside) if path is None else path
    detections = tmp_path / "d.csv"
    detections.write_text(
        f"good.pp,2,sec_hard_secr,$password:'hunter2'\n{path},{line},sec_hard_pass,$password:'x'\n"
    )
    reads: list[Path] = []
    real_read = filter_module.ScriptFolder._read
    monkeypatch.setattr(
        filter_module.ScriptFolder, "_read", lambda self, p: reads.append(p) or real_read(self, p)
    )
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    args = [
        "--model",
        str(champion),
        "--detections",
        str(detections),
        "--scripts",
        str(scripts),
        "--out",
        str(out),
    ]

    rc, err = run_cli(capsys, *args)
    assert rc == 2 and err.count("\n") == 1 and message in err and "d.csv:2" in err and "Traceback" not in err
    assert out.read_text() == "previous\n"  # nothing half-written
    assert outside.resolve() not in [Path(p).resolve() for p in reads]  # never opened

    for action, keep in (("keep", "true"), ("drop", "false")):
        rc, err = run_cli(capsys, *args, "--on-missing", action)
        assert (
            rc == 0
            and f"missing: 1 rows {'kept' if action == 'keep' else 'dropped'}" in err
            and reason in err
        )
        rows = read_csv(out)
        assert (
            len(rows) == 2 and rows[1]["keep"] == keep and rows[1]["score"] == "" and rows[0]["score"] != ""
        )
    assert "TOP-SECRET-OUTSIDE" not in out.read_text()
    assert outside.resolve() not in [Path(p).resolve() for p in reads]


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda d: None, "detections file not found"),
        (lambda d: d.write_text("<xml>not a detector report</xml>\n"), "unknown detections format"),
        (lambda d: d.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"), "not UTF-8"),
    ],
)
def test_unreadable_detections_exit_2(capsys, champion, tmp_path, setup, message):
    detections = tmp_path / "d.csv"
    setup(detections)
    rc, err = run_cli(
        capsys,
        "--model",
        str(champion),
        "--detections",
        str(detections),
        "--scripts",
        str(SCRIPTS),
        "--out",
        str(tmp_path / "o.csv"),
    )
    assert rc == 2 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "o.csv").exists()


def test_missing_model_or_scripts_dir_exit_2(capsys, champion, tmp_path):
    base = ["--detections", str(GLITCH_CSV), "--out", str(tmp_path / "o.csv")]
    rc, err = run_cli(capsys, "--model", str(tmp_path / "nomodel"), "--scripts", str(SCRIPTS), *base)
    assert rc == 2 and "model directory not found" in err
    rc, err = run_cli(capsys, "--model", str(champion), "--scripts", str(tmp_path / "noscripts"), *base)
    assert rc == 2 and "scripts folder not found" in err


def test_absolute_path_inside_scripts_resolves(champion, hostile, tmp_path):
    scripts, _ = hostile
    detections = tmp_path / "d.jsonl"
    detections.write_text(
        json.dumps({"file": str(scripts / "good.pp"), "line": 2, "smell": "hard_coded_secret"}) + "\n"
    )
    summary = filter_detections(champion, detections, scripts, tmp_path / "o.sarif")
    log = json.loads((tmp_path / "o.sarif").read_text())
    assert summary["scored"] == 1
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]
    ]
    assert uris in ([], ["good.pp"])


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_symlinked_dir_inside_scripts_is_refused_when_it_leads_out(champion, hostile, tmp_path):
    scripts, outside = hostile
    (scripts / "sub").symlink_to(outside.parent)
    detections = tmp_path / "d.csv"
    detections.write_text("sub/outside.pp,1,sec_hard_secr,x\n")
    with pytest.raises(IacsieveError, match="resolves outside --scripts"):
        filter_detections(champion, detections, scripts, tmp_path / "o.csv")


def test_benchmark_loads_once_and_reports_rate_and_drop_share(monkeypatch, champion, glitch_run):
    import iacsieve.reporting.bench_filter as bench

    summary, *_ = glitch_run
    loads: list = []
    monkeypatch.setattr(bench, "load_scorer", lambda d: loads.append(d) or load_cached(d))
    monkeypatch.setattr(
        filter_module, "load_scorer", lambda d: pytest.fail("the benchmark must reuse its scorer")
    )
    result = bench.run_filter_benchmark(champion, FIXTURE, repeats=2)
    assert len(loads) == 1 and len(result["wall_s"]) == 2 and result["warnings"] == 977
    assert result["warnings_per_s"] == pytest.approx(977 / result["median_wall_s"], rel=0.01)
    assert result["dropped_share_of_covered"] == pytest.approx(
        summary["dropped_scored"] / summary["scored"], abs=1e-4
    )
    assert set(result["dropped_share_by_smell"]) <= set(DATASET_SMELLS)


def test_scale_benchmark_runs_the_cli_and_reports_peak_memory(champion):
    """`make bench`'s large-input run (400k rows there; 3,000 here): a real `iacsieve filter` process."""
    import iacsieve.reporting.bench_filter as bench

    result = bench.run_scale_benchmark(champion, rows=3000, fixture_dir=FIXTURE)
    assert result["rows"] == result["rows_out"] == 3000
    # the absolute peak is mostly the interpreter and its imports (it varies with the machine's load);
    # that it does not grow with the rows is test_memory_does_not_grow_with_the_rows
    assert result["peak_rss_mb"] > 0 and result["within_budget"] == (
        result["peak_rss_mb"] < result["memory_budget_mb"]
    )
    assert result["rows_per_s"] == pytest.approx(3000 / result["wall_s"], rel=0.05)


def test_memory_does_not_grow_with_the_rows(monkeypatch, cached_scorer, champion, tmp_path):
    """The filter streams: six times the rows, the same peak of Python allocations (tracemalloc), CSV and
    SARIF out (chunks made small so that both sizes span many). Before, every row was held (2.1 GB for 2M)."""
    small_n, large_n = 400, 2_400
    import itertools
    import tracemalloc

    import iacsieve.filtering.output as output_module

    monkeypatch.setattr(filter_module, "CHUNK_ROWS", 32)
    monkeypatch.setattr(output_module, "CSV_CHUNK_ROWS", 32)
    lines = [ln for ln in GLITCH_CSV.read_text(encoding="utf-8").splitlines() if ln]
    peaks = {}
    for n in (small_n, large_n):
        detections = tmp_path / f"d{n}.csv"
        detections.write_text("\n".join(itertools.islice(itertools.cycle(lines), n)) + "\n")
        for suffix in ("csv", "sarif"):
            if n == small_n:  # warm up: imports, caches
                filter_detections(champion, detections, SCRIPTS, tmp_path / f"warm.{suffix}")
            tracemalloc.start()
            summary = filter_detections(champion, detections, SCRIPTS, tmp_path / f"o.{suffix}")
            peaks[n, suffix] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert summary["warnings_in"] == n
    for suffix in ("csv", "sarif"):
        small, large = peaks[small_n, suffix], peaks[large_n, suffix]
        # holding every row instead (chunks of 10**6): 7.9 MB for 400 rows, 17.9 MB for 2,400 (CSV)
        assert large < small * 1.15 + 2**19, (suffix, small, large)
