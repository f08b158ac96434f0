"""Every row GLITCH prints comes back (issue #27 point 3): a line no script has (GLITCH's line 0, a stale
line past the end) never stops the run; a code-quality row passes through, a security row is kept unscored
with its reason and counted."""

from __future__ import annotations

import csv
import json

import pytest
from test_filter import load_cached

import iacsieve.filtering.apply as filter_module
from iacsieve.cli.app import main
from iacsieve.filtering.detections import read_detections

# GLITCH 19c5020 on puppetlabs-mysql, verbatim (path shortened to the fixture's folder).
REAL_LINE_0 = "./manifests/server/service.pp,0,implementation_improper_alignment,Service[mysqld],-"
SERVICE_PP = (
    "class mysql::server::service {\n  $password = 'hunter2'\n  service { 'mysqld': ensure => running }\n}\n"
)


@pytest.fixture(autouse=True)
def cached(monkeypatch):
    monkeypatch.setattr(filter_module, "load_scorer", load_cached)


@pytest.mark.parametrize(
    "row,status,keep,reason",
    [
        (REAL_LINE_0, "pass_through", "true", "code-quality"),
        ("./manifests/server/service.pp,0,sec_hard_secr,x,-", "unreadable:line_outside", "true", "line 0"),
        ("./manifests/server/service.pp,9,sec_hard_secr,x,-", "unreadable:line_outside", "true", "line 9"),
        ("./manifests/server/service.pp,-7,sec_hard_pass,x,-", "unreadable:line_outside", "true", "line -7"),
        (
            "./manifests/server/service.pp,42,design_long_statement,x,-",
            "pass_through",
            "true",
            "code-quality",
        ),
    ],
)
def test_a_line_outside_the_file_never_stops_the_run(capsys, champion, tmp_path, row, status, keep, reason):
    scripts = tmp_path / "mysql"
    (scripts / "manifests" / "server").mkdir(parents=True)
    (scripts / "manifests" / "server" / "service.pp").write_text(SERVICE_PP)
    detections = tmp_path / "glitch.csv"
    good = "./manifests/server/service.pp,2,sec_hard_secr,$password = 'hunter2',-"
    detections.write_text(f"{good}\n{row}\n")
    out, explain, summary = tmp_path / "kept.csv", tmp_path / "why.jsonl", tmp_path / "s.json"
    argv = ["filter", "--model", str(champion), "--detections", str(detections), "--scripts", str(scripts)]
    code = main([*argv, "--out", str(out), "--explain", str(explain), "--json-summary", str(summary)])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 2 and rows[0]["score"] != ""  # the good row is still scored
    assert (rows[1]["keep"], rows[1]["score"]) == (keep, "") and reason in rows[1]["reason"]
    statuses = [json.loads(line)["status"] for line in explain.read_text().splitlines()]
    assert statuses[1] == status
    counts = json.loads(summary.read_text())
    assert counts["warnings_in"] == 2
    assert counts["unreadable_by_reason"].get("line_outside", 0) == (status != "pass_through")

    sarif = tmp_path / "kept.sarif"
    assert main([*argv, "--out", str(sarif)]) == 0
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    outside = [r for r in results if r["locations"][0]["physicalLocation"]["region"]["startLine"] != 2]
    assert len(outside) == (status != "pass_through")  # a security row outside the file is reported


def test_line_numbers_are_read_signed_and_bounded(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text(f"{REAL_LINE_0}\nx.pp,-1,design_x,a,-\nx.pp,+3,sec_https,http://a,-\n")
    rows = read_detections(path).rows
    assert [(d.line, d.outside_file, d.file_level, d.non_security) for d in rows] == [
        (0, True, False, True),
        (-1, False, True, True),
        (3, False, False, False),
    ]
