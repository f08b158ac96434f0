"""SARIF a code-scanning UI can use (issue #15, item 6): security smells only by default, URIs relative to
the repository holding --scripts (or --uri-base), and every rule's help text from the smell taxonomy."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from test_filter import FIXTURE, GLITCH_CSV, SCRIPTS
from test_readme import COMMANDS
from worktree import REPO

import iacsieve.filtering.apply as filter_module
from iacsieve.cli.app import main
from iacsieve.core.smells import (
    CANONICAL_SMELLS,
    CODE_QUALITY_INFO,
    SMELL_INFO,
    TAXONOMY,
    is_non_security,
    smell_info,
)
from iacsieve.filtering import filter_detections
from iacsieve.filtering.uri_base import repository_root
from iacsieve.models import load_scorer

LEVELS = {"none", "note", "warning", "error"}


def assert_valid_sarif(log: dict) -> dict:
    """The SARIF 2.1.0 structure code-scanning UIs rely on; returns the one run."""
    assert log["version"] == "2.1.0" and "sarif-2.1.0" in log["$schema"]
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "iacsieve" and driver["version"]
    ids = [rule["id"] for rule in driver["rules"]]
    assert len(ids) == len(set(ids))
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in LEVELS
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"] and result["level"] in LEVELS
        assert isinstance(result["message"]["text"], str) and result["message"]["text"]
        for location in result["locations"]:
            physical = location["physicalLocation"]
            uri = physical["artifactLocation"]["uri"]
            assert (
                uri
                and not uri.startswith("/")
                and ":" not in uri.split("/")[0]
                and ".." not in uri.split("/")
            )
            assert (
                physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
                and physical["region"]["startLine"] >= 1
            )
    return run


def uris(run: dict) -> list[str]:
    return [
        loc["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"] for loc in r["locations"]
    ]


@pytest.fixture(scope="module")
def scorer(champion):
    return load_scorer(champion)


@pytest.fixture(scope="module")
def fixture_runs(champion, scorer, tmp_path_factory):
    """The bundled fixture through the filter: every verdict (JSONL), default SARIF, --sarif-all SARIF."""
    out = tmp_path_factory.mktemp("sarif")

    def run(name: str, **options) -> tuple[dict, dict | list]:
        summary = filter_detections(champion, GLITCH_CSV, SCRIPTS, out / name, scorer=scorer, **options)
        text = (out / name).read_text(encoding="utf-8")
        return summary, json.loads(text) if name.endswith(".sarif") else [
            json.loads(ln) for ln in text.splitlines()
        ]

    return {
        "verdicts": run("all.jsonl")[1],
        "default": run("kept.sarif", uri_base=FIXTURE),
        "all": run("all.sarif", uri_base=FIXTURE, sarif_all=True),
    }


def one_per_line(rows: list[dict]) -> list[dict]:
    """The first row of each (file, line, smell): SARIF holds one result for them."""
    return list({(r["path"], r["line"], r["smell"]): r for r in reversed(rows)}.values())[::-1]


def test_default_sarif_holds_only_the_kept_security_smells(fixture_runs):
    summary, log = fixture_runs["default"]
    run = assert_valid_sarif(log)
    kept = [r for r in fixture_runs["verdicts"] if r["keep"]]
    security = one_per_line([r for r in kept if not is_non_security(r["code"])])
    assert 0 < len(security) < len(kept)  # the fixture has kept code-quality notes to leave out
    assert len(run["results"]) == len(security) == summary["sarif_results"]
    assert summary["sarif_left_out"] == summary["kept"] - summary["kept_security"] and summary[
        "uri_base"
    ] == str(FIXTURE.resolve())
    for result, ref in zip(run["results"], security):
        assert result["ruleId"] == ref["smell"] and result["level"] == "warning"
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == f"scripts/{Path(ref['path']).name}"
        assert location["physicalLocation"]["region"]["startLine"] == int(ref["line"])
    assert all((FIXTURE / uri).is_file() for uri in uris(run))
    assert {rule["id"] for rule in run["tool"]["driver"]["rules"]} <= set(CANONICAL_SMELLS)
    assert "very-secret-password" not in json.dumps(log)  # never script text


def test_sarif_all_adds_the_kept_code_quality_smells_as_notes(fixture_runs):
    summary, log = fixture_runs["all"]
    run = assert_valid_sarif(log)
    kept = one_per_line([r for r in fixture_runs["verdicts"] if r["keep"]])
    assert len(run["results"]) == len(kept) == summary["sarif_results"] < summary["kept"]
    assert summary["sarif_left_out"] == 0
    for result, ref in zip(run["results"], kept):
        assert result["ruleId"] == ref["smell"]
        assert result["level"] == ("note" if is_non_security(ref["code"]) else "warning")
    notes = {r["ruleId"] for r in run["results"] if r["level"] == "note"}
    assert "design_avoid_comments" in notes and not notes & set(CANONICAL_SMELLS)


def test_every_rule_has_help_text_from_the_taxonomy(fixture_runs):
    rules = assert_valid_sarif(fixture_runs["all"][1])["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} & set(CANONICAL_SMELLS) and {r["id"] for r in rules} & set(
        CODE_QUALITY_INFO
    )
    for rule in rules:
        info = SMELL_INFO.get(rule["id"]) or CODE_QUALITY_INFO[rule["id"]]
        assert rule["shortDescription"]["text"].rstrip(".") == info.name.rstrip(".")
        assert rule["fullDescription"]["text"].rstrip(".") == info.help.rstrip(".")
        assert rule["help"]["text"].startswith(info.help) and info.name in rule["help"]["markdown"]
        if rule["id"] in SMELL_INFO:
            assert rule["properties"]["tags"] == ["security", *(f"external/cwe/cwe-{n}" for n in info.cwe)]
            assert (
                rule["helpUri"].endswith(f"/{info.cwe[0]}.html")
                and f"CWE-{info.cwe[0]}" in rule["help"]["text"]
            )
        else:
            assert rule["properties"]["tags"] == ["maintainability"] and "helpUri" not in rule


def test_the_taxonomy_gives_every_canonical_smell_its_oracle_name_and_a_cwe():
    assert set(SMELL_INFO) == set(CANONICAL_SMELLS)
    for smell, info in SMELL_INFO.items():
        assert info.name in TAXONOMY[smell] and info.help and info.cwe  # DESIGN.md's oracle-name column
    assert all(is_non_security(code) for code in CODE_QUALITY_INFO)
    other = smell_info("sec_something_new")
    assert "sec_something_new" in other.help and other.cwe == ()


@pytest.fixture()
def repo_tree(tmp_path):
    """A git repository with Puppet scripts two folders down, plus detections naming them."""
    repo = tmp_path / "repo"
    scripts = repo / "infra" / "puppet"
    scripts.mkdir(parents=True)
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    else:
        (repo / ".git").mkdir()
    (scripts / "web.pp").write_text("# TODO fix\nclass web {\n  $url = 'http://example.org/pkg.tgz'\n}\n")
    detections = tmp_path / "d.jsonl"
    rows = [
        ("web.pp", 3, "sec_https"),
        ("web.pp", 1, "sec_susp_comm"),
        ("web.pp", 1, "design_avoid_comments"),
    ]
    detections.write_text(
        "".join(json.dumps({"file": f, "line": ln, "smell": s}) + "\n" for f, ln, s in rows)
    )
    return repo, scripts, detections


def test_uris_are_relative_to_the_git_repository_holding_the_scripts(champion, scorer, repo_tree, tmp_path):
    repo, scripts, detections = repo_tree
    out = tmp_path / "o.sarif"

    def sarif_uris(folder: Path, **options) -> list[str]:
        summary = filter_detections(
            champion, detections, folder, out, threshold=0.0, scorer=scorer, **options
        )
        run = assert_valid_sarif(json.loads(out.read_text()))
        assert len(run["results"]) == summary["sarif_results"]
        return uris(run)

    assert repository_root(scripts) == repo.resolve()
    assert sarif_uris(scripts) == ["infra/puppet/web.pp"] * 2  # default: the repository root; security only
    assert sarif_uris(scripts, sarif_all=True) == ["infra/puppet/web.pp"] * 3
    assert sarif_uris(scripts, uri_base=repo / "infra") == ["puppet/web.pp"] * 2
    assert sarif_uris(scripts, uri_base=scripts) == ["web.pp"] * 2

    worktree = tmp_path / "worktree"  # a git worktree or submodule has a .git file, not a folder
    shutil.copytree(repo / "infra", worktree / "infra")
    (worktree / ".git").write_text("gitdir: /elsewhere/.git/worktrees/w\n")
    assert sarif_uris(worktree / "infra" / "puppet") == ["infra/puppet/web.pp"] * 2

    loose = tmp_path / "loose"  # no repository above: relative to --scripts
    shutil.copytree(scripts, loose)
    if repository_root(loose) is not None:
        pytest.skip(f"{tmp_path} lies inside a git repository")
    assert sarif_uris(loose) == ["web.pp"] * 2


def test_a_missing_script_kept_in_sarif_always_has_a_location_under_the_base(
    champion, scorer, repo_tree, tmp_path, monkeypatch
):
    """GitHub rejects a whole upload for one `locations: []`; a deleted script given cwd-relative must not
    double its folder; a foreign root (GLITCH in a container) maps under --scripts."""
    repo, scripts, _ = repo_tree
    detections = tmp_path / "gone.csv"
    detections.write_text(
        "gone.pp,4,sec_https,x\n../outside.pp,1,sec_https,x\ninfra/puppet/deleted.pp,2,sec_https,x\n"
        "/src/infra/puppet/moved.pp,3,sec_https,x\n/elsewhere/a/b.pp,5,sec_https,x\n"
    )
    out = tmp_path / "o.sarif"
    monkeypatch.chdir(repo)  # GLITCH run from the repository root prints infra/puppet/...
    summary = filter_detections(champion, detections, scripts, out, on_missing="keep", scorer=scorer)
    results = assert_valid_sarif(json.loads(out.read_text()))["results"]
    assert summary["missing"] == 5 and all(r["locations"] for r in results)
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results] == [
        "infra/puppet/gone.pp",
        "infra/puppet/outside.pp",
        "infra/puppet/deleted.pp",
        "infra/puppet/moved.pp",
        "infra/puppet/b.pp",
    ]
    assert all(r["properties"]["scriptFound"] is False for r in results)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--uri-base", "{other}"], "does not contain --scripts"),
        (["--uri-base", "{repo}/nope"], "not a folder"),
        (["--uri-base", "{repo}", "--format", "csv"], "apply to SARIF output only"),
        (["--sarif-all", "--format", "jsonl"], "apply to SARIF output only"),
    ],
)
def test_bad_sarif_options_exit_2_with_one_line(
    capsys, monkeypatch, champion, repo_tree, tmp_path, args, message
):
    repo, scripts, detections = repo_tree
    (tmp_path / "other").mkdir()
    monkeypatch.setattr(filter_module, "load_scorer", lambda d: pytest.fail("the model must not load"))
    out = tmp_path / "o.sarif"
    rc = main(
        [
            "filter",
            "--model",
            str(champion),
            "--detections",
            str(detections),
            "--scripts",
            str(scripts),
            "--out",
            str(out),
            *(a.format(repo=repo, other=tmp_path / "other") for a in args),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err and not out.exists()


def test_readme_sarif_example_on_the_bundled_fixture(
    capsys, monkeypatch, champion, scorer, fixture_runs, tmp_path
):
    """README's detector -> filter -> SARIF example, as written there (only --model and --out moved to temp)."""
    (command,) = [
        c for c in COMMANDS if c.startswith("iacsieve filter") and "tests/fixtures/glitch-puppet" in c
    ]
    args = [
        {"models/champion": str(champion), "kept.sarif": str(tmp_path / "kept.sarif")}.get(a, a)
        for a in shlex.split(command)[1:]
    ]
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(filter_module, "load_scorer", lambda d: scorer)
    assert main(args) == 0
    err = capsys.readouterr().err
    run = assert_valid_sarif(json.loads((tmp_path / "kept.sarif").read_text()))
    _, default = fixture_runs["default"]
    base = repository_root(SCRIPTS) or SCRIPTS.resolve()
    prefix = os.path.relpath(SCRIPTS.resolve(), base).replace(os.sep, "/")
    assert uris(run) == [f"{prefix}/{uri.split('/', 1)[1]}" for uri in uris(assert_valid_sarif(default))]
    assert f"SARIF: {len(run['results'])} results;" in err and "--sarif-all adds them" in err


MULTITOOL = os.environ.get("SARIF_MULTITOOL", "")  # opt-in: the Multitool takes ~10 s a log


@pytest.mark.skipif(
    not MULTITOOL or not os.access(MULTITOOL, os.X_OK),
    reason="set SARIF_MULTITOOL to run Microsoft's SARIF Multitool",
)
def test_github_ingestion_rules_pass_on_real_glitch_output(champion, scorer, tmp_path):
    """`Sarif.Multitool validate --rule-kind "Gh;Sarif"`: no error, no warning. Opt-in: set SARIF_MULTITOOL
    to the `Sarif.Multitool` of `npm install @microsoft/sarif-multitool-linux` (it runs offline)."""
    real = REPO / "tests" / "fixtures" / "glitch-real"
    logs = []
    for tech in ("ansible", "chef", "puppet"):
        out = tmp_path / f"{tech}.sarif"
        filter_detections(
            champion, real / f"{tech}-glitch.csv", real / tech, out, scorer=scorer, sarif_all=True
        )
        logs.append(out)
    foreign = tmp_path / "foreign.csv"  # scripts not found, paths from a foreign root, kept
    foreign.write_text((real / "chef-glitch.csv").read_text().replace("./", "/src/gone/"))
    logs.append(tmp_path / "missing.sarif")
    filter_detections(champion, foreign, real / "puppet", logs[-1], scorer=scorer, on_missing="keep")
    for log in logs:
        proc = subprocess.run(
            [MULTITOOL, "validate", "--rule-kind", "Gh;Sarif", str(log)],
            capture_output=True,
            text=True,
            env={**os.environ, "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"},
            timeout=120,
        )
        bad = [ln for ln in proc.stdout.splitlines() if ": error " in ln or ": warning " in ln]
        assert proc.returncode == 0 and not bad, f"{log.name}: {bad[:3]}"


def test_every_sarif_log_written_is_checked_against_the_schema(champion, scorer, tmp_path):
    """conftest wraps the SARIF writer; the schema catches what code-scanning uploads reject."""
    from sarif_schema import WRITTEN, validate_sarif

    before = len(WRITTEN)
    filter_detections(champion, GLITCH_CSV, SCRIPTS, tmp_path / "o.sarif", scorer=scorer)
    assert len(WRITTEN) == before + 1
    log = json.loads((tmp_path / "o.sarif").read_text())
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    with pytest.raises(AssertionError, match="SARIF schema"):
        validate_sarif(log)
    del log["version"]
    with pytest.raises(AssertionError, match="SARIF schema"):
        validate_sarif(log)
