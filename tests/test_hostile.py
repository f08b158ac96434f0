"""Hostile and careless input (issue #14): one test per promise, each failing before the fix.

1. no command deletes or overwrites its own inputs; 2. limits (path length, line length, file size,
rows; regular files only); 3. one-line parse errors (more in test_fuzz_readers.py); 4. output hygiene
(umask, kept mode, SIGTERM, arguments before the model, unknown extension); 5. prepare's data checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import iacsieve.filtering.apply as apply_module
from iacsieve.cli.app import main
from iacsieve.core.errors import IacsieveError
from iacsieve.filtering import read_champion
from iacsieve.filtering.detections import read_detections
from iacsieve.io.atomic import atomic_directory, atomic_write_text
from iacsieve.models import load_scorer

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "glitch-puppet"
GLITCH_CSV = FIXTURE / "glitch-puppet.csv"
SCRIPTS = FIXTURE / "scripts"
TECHS = ("ansible", "chef", "puppet")
SPLITS = ("train", "val", "test")
ROW = {"smell": "hard_coded_secret", "file": "a.pp", "line": 1, "content": "$password = 'x'", "label": "TP"}


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def make_raw(root: Path, rows: dict[tuple[str, str], list[dict]] | None = None) -> Path:
    """A tiny raw dataset: one distinct row per tech x split unless `rows` says otherwise."""
    for tech in TECHS:
        (root / tech).mkdir(parents=True, exist_ok=True)
        for n, split in enumerate(SPLITS, start=1):
            content = (rows or {}).get((tech, split), [dict(ROW, file=f"{split}.pp", line=n)])
            (root / tech / f"{tech}_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in content))
    return root


def digest(folder: Path) -> str:
    h = hashlib.md5()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode() + (p.read_bytes() if p.is_file() else b"/"))
    return h.hexdigest()


@pytest.fixture()
def no_model(monkeypatch):
    """Fail loudly if the model would load: these errors must come first."""

    def refuse(model_dir):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(apply_module, "load_scorer", refuse)


# ----------------------------------------------------------------------------- 1. inputs are never outputs


@pytest.mark.parametrize("where", ["parent", "same", "dot", "inside", "symlink"])
def test_prepare_never_deletes_its_raw_data(tmp_path, monkeypatch, capsys, where):
    raw = make_raw(tmp_path / "data" / "raw")
    before = digest(tmp_path / "data")
    (tmp_path / "link").symlink_to(raw)
    monkeypatch.chdir(tmp_path)
    out = {
        "parent": "data",
        "same": "data/raw",
        "dot": ".",
        "inside": "data/raw/prepared",
        "symlink": "link",
    }[where]
    code, err = run(capsys, "prepare", "--raw", "data/raw", "--out", out)
    assert_one_line(code, err, f"--out {out}", "--raw data/raw")
    assert digest(tmp_path / "data") == before


def test_filter_never_overwrites_its_detections(tmp_path, capsys, champion, no_model, monkeypatch):
    detections = tmp_path / "x.csv"
    detections.write_bytes(GLITCH_CSV.read_bytes())
    os.link(detections, tmp_path / "hardlink.csv")
    read = []
    monkeypatch.setattr(apply_module, "open_detections", lambda *a, **k: read.append(a))
    base = ["filter", "--model", str(champion), "--detections", str(detections), "--scripts", str(SCRIPTS)]
    for out, needle in (
        (detections, "is the input --detections"),
        (tmp_path / "hardlink.csv", "is the input"),
        (tmp_path / "." / "x.csv", "is the input"),
        (champion / "out.csv", "inside the input --model"),
    ):
        code, err = run(capsys, *base, "--out", str(out))
        assert_one_line(code, err, needle)
    assert detections.read_bytes() == GLITCH_CSV.read_bytes() and not read  # refused before reading anything


def test_filter_never_writes_over_a_script(tmp_path, capsys, champion, no_model):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "x.pp").write_text("$password = 'x'\n")
    (tmp_path / "d.csv").write_text("x.pp,1,sec_hard_secr,x\n")
    code, err = run(
        capsys,
        "filter",
        "--model",
        str(champion),
        "--detections",
        str(tmp_path / "d.csv"),
        "--scripts",
        str(scripts),
        "--out",
        str(scripts / "x.pp"),
        "--format",
        "csv",
    )
    assert_one_line(code, err, "existing IaC script")
    assert (scripts / "x.pp").read_text() == "$password = 'x'\n"


def test_other_commands_refuse_to_overwrite_their_inputs(tmp_path, capsys, prepared_small):
    data = tmp_path / "prepared"
    data.symlink_to(prepared_small)
    before = digest(prepared_small)
    selection = tmp_path / "sel" / "selection.json"
    selection.parent.mkdir()
    selection.write_text("{}")
    for args in (
        ["step", "train", "--family", "classical", "--data", str(data), "--out", str(prepared_small / "run")],
        ["ablate", "--data", str(data), "--out", str(data / "ablation")],
        ["step", "freeze", str(selection), "--out", str(selection.parent), "--data", str(data)],
        ["step", "evaluate", str(tmp_path / "run"), "--results", str(tmp_path)],
    ):
        code, err = run(capsys, *args)
        assert_one_line(code, err, "--")
    assert digest(prepared_small) == before and selection.read_text() == "{}"


# ----------------------------------------------------------------------------- 2. limits


def test_a_very_long_path_is_refused_at_once(tmp_path, capsys, champion, no_model):
    detections = tmp_path / "d.csv"
    detections.write_text("a/" * 500_000 + "x.pp,1,sec_hard_secr,$password = 'x'\n")
    start = time.perf_counter()
    code, err = run(
        capsys,
        "filter",
        "--model",
        str(champion),
        "--detections",
        str(detections),
        "--scripts",
        str(SCRIPTS),
        "--out",
        str(tmp_path / "o.csv"),
    )
    assert_one_line(code, err, "d.csv:1: field 'path'", "--max-path-length")
    assert time.perf_counter() - start < 5


def test_path_resolution_is_linear_when_the_limit_is_raised(tmp_path):
    """Before: every leading part dropped built a new full-length path (quadratic time and memory)."""
    from iacsieve.filtering.scripts import ScriptFolder, ScriptProblem

    (tmp_path / "a" / "a").mkdir(parents=True)
    folder = ScriptFolder(tmp_path)
    start = time.perf_counter()
    with pytest.raises(ScriptProblem, match="not found"):
        folder.resolve("a/" * 20_000 + "x.pp")
    assert time.perf_counter() - start < 5


def test_a_long_script_line_is_cut_before_the_model_and_said(tmp_path, capsys, champion, monkeypatch):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "x.pp").write_text("$password = '" + "s" * 100_000 + "'\n")
    detections = tmp_path / "d.csv"
    detections.write_text("x.pp,1,sec_hard_secr,$password\n")
    seen = []
    real = load_scorer(champion)

    class Recording:
        family, use_context = real.family, real.use_context

        def predict_proba(self, records, batch_size=32):
            seen.extend(records)
            return real.predict_proba(records, batch_size=batch_size)

    monkeypatch.setattr(apply_module, "load_scorer", lambda model_dir: Recording())
    code, err = run(
        capsys,
        "filter",
        "--model",
        str(champion),
        "--detections",
        str(detections),
        "--scripts",
        str(scripts),
        "--out",
        str(tmp_path / "o.csv"),
        "--max-line-length",
        "200",
    )
    assert code == 0 and "cut: 1 model inputs" in err and "--max-line-length" in err
    assert len(seen) == 1 and len(seen[0].content) <= 200


@pytest.mark.parametrize(
    "flag,value,needle",
    [("--max-file-size", "1K", "larger than 1024 bytes"), ("--max-rows", "10", "more than 10 rows")],
)
def test_file_size_and_row_limits(tmp_path, capsys, champion, no_model, flag, value, needle):
    code, err = run(
        capsys,
        "filter",
        "--model",
        str(champion),
        "--detections",
        str(GLITCH_CSV),
        "--scripts",
        str(SCRIPTS),
        "--out",
        str(tmp_path / "o.csv"),
        flag,
        value,
    )
    assert_one_line(code, err, needle, flag)
    raw = make_raw(tmp_path / "raw", {("chef", "train"): [dict(ROW, line=n) for n in range(1, 13)]})
    code, err = run(capsys, "prepare", "--raw", str(raw), "--out", str(tmp_path / "p"), flag, value)
    assert_one_line(code, err, needle, "chef_train.jsonl" if flag == "--max-rows" else "", flag)


def _within(seconds: float, call):
    """Run `call` in a thread; fail (instead of hanging the suite) if it blocks, as reading a FIFO did."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(_outcome(call)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked"
    return result[0]


def _outcome(call):
    try:
        return call()
    except BaseException as exc:
        return exc


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "link_to_dev_zero"])
def test_only_regular_files_are_read(tmp_path, champion, kind):
    path = tmp_path / "d.csv"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero") if kind == "link_to_dev_zero" else None
    target = Path("/dev/zero") if kind == "dev_zero" else path
    outcome = _within(10, lambda: read_detections(target))
    assert isinstance(outcome, IacsieveError) and "not a regular file" in str(outcome)

    model = tmp_path / "model"
    model.mkdir()
    for f in champion.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    (model / "classical_plain.npz").unlink()
    if kind == "fifo":
        os.mkfifo(model / "classical_plain.npz")
    else:
        (model / "classical_plain.npz").symlink_to("/dev/zero")
    outcome = _within(10, lambda: load_scorer(model))
    assert isinstance(outcome, IacsieveError) and "not a regular file" in str(outcome)
    (model / "champion.json").unlink()
    (model / "champion.json").symlink_to("/dev/zero")
    outcome = _within(10, lambda: read_champion(model))
    assert isinstance(outcome, IacsieveError) and "not a regular file" in str(outcome)


# ----------------------------------------------------------------------------- 3. one-line parse errors

GOOD_GLITCH = "x.pp,1,sec_hard_secr,x\n"
HOSTILE_DETECTIONS = {
    "long_int": (GOOD_GLITCH + "x.pp," + "9" * 5000 + ",sec_hard_secr,x\n", "d.csv:2: field 'line'"),
    "superscript_digit": (GOOD_GLITCH + "x.pp,\u00b2,sec_hard_secr,x\n", "d.csv:2: field 'line'"),
    "arabic_digit": (GOOD_GLITCH + "x.pp,\u0661,sec_hard_secr,x\n", "d.csv:2: field 'line'"),
    "cr_in_quoted_csv": ("PATH,LINE,ERROR\nx.pp,1\r,hardcoded-secret\n", "d.csv:2: field '<csv>'"),
    "nested_jsonl": (
        '{"file": "x.pp", "line": 1, "smell": "x"}\n{"file": ' + "[" * 100_000 + "\n",
        "d.csv:2: field '<json>'",
    ),
    "jsonl_long_int": (
        '{"file": "x.pp", "line": 1, "smell": "x"}\n{"file": "x.pp", "smell": "x", "line": '
        + "9" * 5000
        + "}\n",
        "d.csv:2: field '<json>'",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_DETECTIONS))
def test_hostile_detections_are_one_line_exit_2(tmp_path, capsys, champion, no_model, case):
    text, needle = HOSTILE_DETECTIONS[case]
    (tmp_path / "d.csv").write_text(text, newline="")
    code, err = run(
        capsys,
        "filter",
        "--model",
        str(champion),
        "--detections",
        str(tmp_path / "d.csv"),
        "--scripts",
        str(SCRIPTS),
        "--out",
        str(tmp_path / "o.csv"),
    )
    assert_one_line(code, err, needle)


def test_a_bare_carriage_return_in_a_glitch_snippet_is_kept(tmp_path):
    (tmp_path / "d.csv").write_text("x.pp,1,sec_hard_secr,a\rb\n", newline="")
    parsed = read_detections(tmp_path / "d.csv")
    assert parsed.format == "glitch" and parsed.rows[0].values["snippet"] == "a\rb"


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("model_meta.json", b"\xff\xfe garbage", "model_meta.json: model metadata is not UTF-8"),
        ("model_meta.json", b"[1, 2]", "model_meta.json: expected a JSON object"),
        (
            "model_meta.json",
            b'{"kind": "classical", "family": "classical", "use_context": "yes"}',
            "key 'use_context'",
        ),
        ("model_meta.json", b'{"kind": "classical"}', "key 'family': missing"),
        ("champion.json", b"[1]", "champion.json: expected a JSON object"),
        ("champion.json", b'{"threshold": "high"}', "champion.json: missing key"),
        ("champion.json", b'{"a": ' * 100_000, "champion.json: unreadable JSON: nested too deeply"),
    ],
)
def test_bad_model_metadata_is_one_line_exit_2(tmp_path, capsys, champion, no_model, name, content, needle):
    model = tmp_path / "model"
    model.mkdir()
    for f in champion.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    (model / name).write_bytes(content)
    code, err = run(
        capsys,
        "filter",
        "--model",
        str(model),
        "--detections",
        str(GLITCH_CSV),
        "--scripts",
        str(SCRIPTS),
        "--out",
        str(tmp_path / "o.csv"),
    )
    assert_one_line(code, err, needle)


# ----------------------------------------------------------------------------- 4. output hygiene


def test_outputs_respect_the_umask_and_keep_an_existing_mode(tmp_path):
    old = os.umask(0o077)
    try:
        atomic_write_text(tmp_path / "secret.csv", "x\n")
        with atomic_directory(tmp_path / "folder") as tmp:
            (tmp / "a").write_text("a")
    finally:
        os.umask(old)
    assert (tmp_path / "secret.csv").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o700
    (tmp_path / "shared.csv").write_text("old\n")
    os.chmod(tmp_path / "shared.csv", 0o640)
    atomic_write_text(tmp_path / "shared.csv", "new\n")
    assert (tmp_path / "shared.csv").stat().st_mode & 0o777 == 0o640


SLOW_PREPARE = """
import os, sys, time
real = os.replace
os.replace = lambda src, dst: (time.sleep(60), real(src, dst))  # hold the first temp file open
from iacsieve.cli.app import main
sys.exit(main(["prepare", "--raw", sys.argv[1], "--out", sys.argv[2]]))
"""


def test_sigterm_cleans_up_temp_files_like_ctrl_c(tmp_path):
    raw = make_raw(tmp_path / "raw")
    out = tmp_path / "out" / "prepared"
    out.parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_PREPARE, str(raw), str(out)], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".combined.jsonl.tmp-") for p in out.parent.rglob("*")):
            assert time.monotonic() < deadline and process.poll() is None, "no temp file appeared"
            time.sleep(0.05)
        process.terminate()  # SIGTERM
        code = process.wait(30)
    finally:
        process.kill()
    assert code == 143, process.stderr.read().decode()
    assert list(out.parent.iterdir()) == []  # neither the temp folder nor the temp file is left


@pytest.mark.parametrize("problem", ["scripts", "extension", "folder"])
def test_arguments_are_checked_before_the_model_loads(tmp_path, capsys, champion, no_model, problem):
    (tmp_path / "file").write_text("")
    scripts = tmp_path / "nope" if problem == "scripts" else SCRIPTS
    out = {
        "scripts": tmp_path / "o.csv",
        "extension": tmp_path / "kept.txt",
        "folder": tmp_path / "file" / "o.csv",
    }
    code, err = run(
        capsys,
        "filter",
        "--model",
        str(champion),
        "--detections",
        str(GLITCH_CSV),
        "--scripts",
        str(scripts),
        "--out",
        str(out[problem]),
    )
    needle = {
        "scripts": "scripts folder not found",
        "extension": "unknown output extension",
        "folder": "is not a folder",
    }[problem]
    assert_one_line(code, err, needle)
    assert not (tmp_path / "kept.txt").exists()


# ----------------------------------------------------------------------------- 5. prepare's data checks


def test_prepare_reports_duplicates_and_empty_splits(tmp_path, capsys):
    raw = make_raw(
        tmp_path / "raw", {("chef", "train"): [dict(ROW, file="t.pp")] * 3, ("puppet", "test"): []}
    )
    code = main(["prepare", "--raw", str(raw), "--out", str(tmp_path / "p")])
    captured = capsys.readouterr()
    assert code == 0
    assert "train: 2 duplicate rows" in captured.err and "test/puppet is empty" in captured.err
    warnings = json.loads((tmp_path / "p" / "stats.json").read_text())["warnings"]
    assert warnings["duplicate_rows"]["train"] == 2 and warnings["empty"] == ["test/puppet"]
    assert warnings["count"] == 3


def test_prepare_refuses_overlap_across_splits_unless_allowed(tmp_path, capsys):
    leaked = dict(ROW, file="leak.pp")
    raw = make_raw(tmp_path / "raw", {("ansible", "train"): [leaked], ("ansible", "test"): [leaked]})
    code, err = run(capsys, "prepare", "--raw", str(raw), "--out", str(tmp_path / "p"))
    assert_one_line(code, err, "both train and test", "leak.pp:1", "--allow-overlap")
    assert not (tmp_path / "p").exists()
    assert main(["prepare", "--raw", str(raw), "--out", str(tmp_path / "p"), "--allow-overlap"]) == 0
    warnings = json.loads((tmp_path / "p" / "stats.json").read_text())["warnings"]
    assert warnings["overlap"] == {"train&val": 0, "train&test": 1, "val&test": 0}


# ----------------------------------------------------------------------------- 6. one output policy (issue #22)
#
# Every writing command x every kind of bad target: exit 2 with one line, and the whole tree of its
# inputs (and the bad target itself) byte-identical afterwards.


@pytest.fixture(scope="module")
def world(tmp_path_factory, prepared_small, champion) -> dict[str, Path]:
    """A repo-like tree holding every command's inputs."""
    import shutil

    from worktree import repo_copy

    from iacsieve.core.run_config import TrainConfig
    from iacsieve.data.sheet import SheetRow, write_sheet
    from iacsieve.release.archive import pack
    from iacsieve.steps.evaluate import evaluate
    from iacsieve.steps.selection import select_runs
    from iacsieve.steps.train import train

    root = tmp_path_factory.mktemp("world")
    w = {
        "root": root,
        "raw": make_raw(root / "data" / "raw"),
        "prepared": root / "data" / "prepared",
        "human": root / "data" / "human",
        "model": root / "models" / "champion",
        "detections": root / "det.csv",
        "scripts": root / "scripts",
        "params": root / "params.yaml",
        "results": root / "results",
        "sheet": root / "sheet.csv",
        "notes": root / "notes",
        "fifo": root / "fifo",
        "selection": root / "selection" / "selection.json",
        "run": root / "runs" / "classical",
        "evaluation": root / "evaluations" / "classical",
        "archive": root / "champion.tar.gz",
    }
    shutil.copytree(prepared_small, w["prepared"])
    w["human"].mkdir(parents=True)
    (w["human"] / "labels.jsonl").write_text("")
    shutil.copytree(champion, w["model"])
    w["detections"].write_bytes(GLITCH_CSV.read_bytes())
    shutil.copytree(SCRIPTS, w["scripts"])
    shutil.copy(repo_copy("params.yaml"), w["params"])
    w["results"].mkdir()
    write_sheet(w["sheet"], [SheetRow("puppet", "hard_coded_secret", "a.pp", 3, "$password = 'x'")])
    w["notes"].mkdir()
    (w["notes"] / "notes.txt").write_text("my notes\n")
    os.mkfifo(w["fifo"])
    # a real selection, so that a freeze that ignored its --out would go on and write there
    run = train(TrainConfig(family="classical"), w["prepared"], root / "runs" / "classical")
    evaluate(run, root / "evaluations" / "classical", bootstrap_samples=20)
    select_runs([root / "evaluations" / "classical"], root / "selection")
    pack(w["model"], w["archive"])
    # scan's GLITCH: the stand-in replaying the world's detections (tests/fixtures/glitch-standin)
    w["glitch"] = root / "glitch"
    standin = Path(__file__).resolve().parent / "fixtures" / "glitch-standin" / "glitch"
    w["glitch"].write_text(
        f'#!/bin/sh\nGLITCH_STANDIN_CSV="{w["detections"]}" exec "{sys.executable}" "{standin}" "$@"\n'
    )
    w["glitch"].chmod(0o755)
    return w


def _commands(w: dict[str, Path]) -> dict[str, tuple[str, str, object]]:
    """command -> (kind of output, its main input, argv for an output X)."""
    m, d, s, p, h = (str(w[k]) for k in ("model", "detections", "scripts", "prepared", "human"))
    params, raw = str(w["params"]), str(w["raw"])
    return {
        "filter": ("file", d, lambda x: ["filter", "--model", m, "--detections", d, "--scripts", s, "--out", x, "--format", "csv"]),
        "scan": ("file", s, lambda x: ["scan", "--tech", "puppet", s, "--model", m, "--glitch", str(w["glitch"]), "--out", x, "--format", "csv"]),
        "review": ("file", d, lambda x: ["review", "--model", m, "--detections", d, "--scripts", s, "--budget", "3", "--out", x, "--human", h]),
        "labels add": ("store", str(w["sheet"]), lambda x: ["labels", "add", str(w["sheet"]), "--reviewer", "alice", "--human", x, "--raw", raw, "--no-dvc"]),
        "labels apply": ("folder", p, lambda x: ["labels", "apply", "--prepared", p, "--human", h, "--out", x]),
        "prepare": ("folder", raw, lambda x: ["prepare", "--raw", raw, "--out", x]),
        "kfp compile": ("file", params, lambda x: ["kfp", "compile", "--stage", "1", "--params", params, "-o", x]),
        "kfp specs": ("root", params, lambda x: ["kfp", "specs", "--root", x, "--params", params]),
        "report": ("file", params, lambda x: ["report", "--results", str(w["results"]), "--champion", m, "--out", x, "--metrics", "", "--params", params]),
        "plots": ("plots", p, lambda x: ["plots", "--results", str(w["results"]), "--champion", m, "--data", p, "--out", x]),
        "step train": ("folder", p, lambda x: ["step", "train", "--family", "classical", "--data", p, "--out", x]),
        "step freeze": ("champion", str(w["selection"]), lambda x: ["step", "freeze", str(w["selection"]), "--data", p, "--out", x]),
        "kfp pull-champion": ("champion", m, lambda x: ["kfp", "pull-champion", m, "--out", x, "--no-dvc-add"]),
        "step evaluate": ("plots", str(w["run"]), lambda x: ["step", "evaluate", str(w["run"]), "--results", x, "--bootstrap-samples", "5"]),
        "step select": ("plots", str(w["evaluation"]), lambda x: ["step", "select", str(w["evaluation"]), "--out", x]),
        "step sweep-threshold": ("run-file", str(w["run"]), lambda x: ["step", "sweep-threshold", str(w["run"]), "--out", x]),
        "ablate": ("plots", p, lambda x: ["ablate", "--data", p, "--out", x, "--cv-folds", "0", "--timings", str(w["root"] / "t.json")]),
        "experiment learning-curve": ("plots", p, lambda x: ["experiment", "learning-curve", "--data", p, "--champion", m, "--out", x, "--sizes", "0", "--folds", "2", "--repeats", "1"]),
        "champion pack": ("file", m, lambda x: ["champion", "pack", "--champion", m, "--out", x]),
        "champion unpack": ("folder", str(w["archive"]), lambda x: ["champion", "unpack", str(w["archive"]), "--out", x]),
    }  # fmt: skip


def _target(w: dict[str, Path], kind: str, main_input: str, bad: str) -> Path | None:
    """The bad output of kind `bad` for a command writing `kind`; None where it does not apply."""
    file_like = kind in ("file", "run-file")
    folder_input = {str(w["detections"]): w["model"], str(w["sheet"]): w["raw"]}.get(
        main_input, Path(main_input)
    )
    if bad == "input":
        return Path(main_input)
    if bad == "folder_holding_inputs":
        return None if kind == "root" else w["root"]  # specs only adds files beside the inputs
    if bad == "inside_an_input":  # (a run's sweep goes beside its scores: that is its place; a scan's
        # report into the folder it scanned is CI's usual place: only its scripts are protected)
        return (
            None
            if kind == "run-file" or main_input == str(w["scripts"])
            else folder_input / ("inside.csv" if file_like else "inside")
        )
    if bad == "labels_store":
        return None if kind == "store" else (w["human"] / "labels.jsonl" if file_like else w["human"])
    if bad == "model_directory":  # a command that makes champions replaces one, never writes inside one
        return (
            w["model"] / "champion.json"
            if file_like
            else w["model"] / ("inside" if kind == "champion" else "")
        )
    if bad == "device":
        return Path("/dev/null")
    if bad == "fifo":
        return w["fifo"]
    if bad == "symlink_to_an_input":
        link = w["root"] / f"link-{abs(hash(main_input))}"
        if not link.is_symlink():
            link.symlink_to(main_input)
        return link
    if bad == "folder_not_made_by_iacsieve":
        return w["notes"] if kind in ("folder", "file", "champion") else None
    if bad == "script_under_scripts":
        return (
            w["scripts"] / next(p.name for p in SCRIPTS.iterdir())
            if main_input in (str(w["detections"]), str(w["scripts"]))
            else None
        )
    raise AssertionError(bad)


BAD_TARGETS = (
    "input",
    "folder_holding_inputs",
    "inside_an_input",
    "labels_store",
    "model_directory",
    "device",
    "fifo",
    "symlink_to_an_input",
    "folder_not_made_by_iacsieve",
    "script_under_scripts",
)
WRITING_COMMANDS = (
    "filter",
    "scan",
    "review",
    "labels add",
    "labels apply",
    "prepare",
    "kfp compile",
    "kfp specs",
    "report",
    "plots",
    "step train",
    "step freeze",
    "kfp pull-champion",
    "step evaluate",
    "step select",
    "step sweep-threshold",
    "ablate",
    "experiment learning-curve",
    "champion pack",
    "champion unpack",
)


# Commands with an output flag that the table above does not drive, and why.
NOT_IN_THE_TABLE = {
    "stage run": "DVC's entry point: writes the layout's paths under --root (dvc.yaml owns them)",
    "stage select": "DVC's entry point: writes the layout's paths under --root (dvc.yaml owns them)",
    "stage freeze": "DVC's entry point: writes the layout's paths under --root (dvc.yaml owns them)",
    "repair-dvc-lock": "rewrites DVC's own .dvc/tmp/rwlock and dvc.lock under --root, nothing else",
    "kfp run-local": "kfp.local writes under --pipeline-root; --champion-out is pull-champion's check",
}
OUTPUT_FLAGS = ("--out", "--results", "--output", "--root", "--champion-out")


def test_every_command_with_an_output_is_in_the_table():
    """A new writing command cannot skip the output policy unnoticed."""
    import argparse

    from iacsieve.cli.app import build_parser

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, (*words, name))
        if words and any(o in OUTPUT_FLAGS for a in parser._actions for o in a.option_strings):
            yield " ".join(words)

    writers = set(walk(build_parser()))
    assert writers - NOT_IN_THE_TABLE.keys() == set(WRITING_COMMANDS) - {"labels add"}  # (--human: its store)


@pytest.mark.parametrize("command", WRITING_COMMANDS)
def test_no_command_writes_over_a_bad_target(world, capsys, no_model, monkeypatch, command):
    import stat

    monkeypatch.chdir(world["root"])  # the default labels store (data/human) is the world's
    kind, main_input, argv = _commands(world)[command]
    checked = 0
    for bad in BAD_TARGETS:
        target = _target(world, kind, main_input, bad)
        if target is None:
            continue
        before = digest(world["root"])
        code, err = run(capsys, *argv(str(target)))
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (command, bad, err)
        assert digest(world["root"]) == before, (command, bad)
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and stat.S_ISFIFO(os.lstat(world["fifo"]).st_mode)
        checked += 1
    assert checked >= 7


def test_scan_in_the_world_writes_a_good_target(world, tmp_path, capsys, monkeypatch):
    """The control for scan's row above: with a good target its GLITCH runs and the output is written."""
    monkeypatch.chdir(world["root"])
    _, _, argv = _commands(world)["scan"]
    code, err = run(capsys, *argv(str(tmp_path / "kept.csv")))
    assert code == 0 and (tmp_path / "kept.csv").is_file(), err


def test_train_and_freeze_replace_what_they_made_before(world, tmp_path, capsys):
    """The policy's other half: a rerun over the command's own older output goes through."""
    data, selection = str(world["prepared"]), str(world["selection"])
    run_dir, champion = tmp_path / "run", tmp_path / "champion"
    for _ in range(2):  # the second time over a run dir train wrote (no marker: only its own files)
        assert main(["step", "train", "--family", "classical", "--data", data, "--out", str(run_dir)]) == 0
        assert main(["step", "freeze", selection, "--data", data, "--out", str(champion)]) == 0  # a champion
    assert (run_dir / "model" / "model_meta.json").is_file() and (champion / "champion.json").is_file()
    (run_dir / "notes.txt").write_text("mine")
    code, err = run(capsys, "step", "train", "--family", "classical", "--data", data, "--out", str(run_dir))
    assert_one_line(code, err, "iacsieve did not create")
    assert (run_dir / "notes.txt").read_text() == "mine"


def _second_outputs(w: dict[str, Path]) -> dict[str, object]:
    """A command's second output flag -> argv for that output X (the main output a fresh path)."""
    m, d, s, p, h = (str(w[k]) for k in ("model", "detections", "scripts", "prepared", "human"))
    fresh = str(w["root"] / "fresh")
    filter_argv = ["filter", "--model", m, "--detections", d, "--scripts", s, "--out", fresh + ".csv"]
    scan_argv = [
        "scan",
        "--tech",
        "puppet",
        s,
        "--model",
        m,
        "--glitch",
        str(w["glitch"]),
        "--out",
        fresh + ".csv",
    ]
    return {
        "filter --json-summary": lambda x: [*filter_argv, "--json-summary", x],
        "filter --explain": lambda x: [*filter_argv, "--explain", x],
        "scan --json-summary": lambda x: [*scan_argv, "--json-summary", x],
        "scan --explain": lambda x: [*scan_argv, "--explain", x],
        "ablate --timings": lambda x: ["ablate", "--data", p, "--out", fresh, "--timings", x],
        "kfp pull-champion --reports": lambda x: ["kfp", "pull-champion", m, "--out", fresh, "--reports", x],
        "report --metrics": lambda x: ["report", "--results", str(w["results"]), "--champion", m, "--out", fresh + ".md", "--metrics", x, "--params", str(w["params"])],
    }  # fmt: skip


@pytest.mark.parametrize("output", ["filter --json-summary", "filter --explain", "scan --json-summary", "scan --explain", "ablate --timings", "kfp pull-champion --reports", "report --metrics"])  # fmt: skip
def test_second_outputs_follow_the_same_policy(world, capsys, no_model, monkeypatch, output):
    monkeypatch.chdir(world["root"])
    argv = _second_outputs(world)[output]
    bad = {
        "an input": {
            "filter": world["detections"],
            "scan": world["scripts"] / next(p.name for p in SCRIPTS.iterdir()),  # a script it scans
            "ablate": world["prepared"] / "train" / "combined.jsonl",
        }.get(output.split()[0], world["params"]),
        "the labels store": world["human"] / "labels.jsonl",
        "a model": world["model"] / "champion.json",
        "a device": Path("/dev/null"),
    }  # fmt: skip
    if output.endswith("--reports"):  # a folder output
        bad = {
            "the source": world["model"],
            "the labels store": world["human"],
            "a user's file": world["sheet"],
        }
    for why, target in bad.items():
        before = digest(world["root"])
        code, err = run(capsys, *argv(str(target)))
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (output, why, err)
        assert digest(world["root"]) == before, (output, why)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


def test_a_folder_is_swapped_in_one_step_and_a_killed_swap_is_undone(tmp_path, monkeypatch):
    import iacsieve.io.atomic as atomic

    final = tmp_path / "out"
    with atomic.atomic_directory(final) as tmp:
        (tmp / "a").write_text("old")
    swaps = []
    real = atomic.exchange
    monkeypatch.setattr(atomic, "exchange", lambda a, b: swaps.append(b) or real(a, b))
    with atomic.atomic_directory(final) as tmp:
        (tmp / "a").write_text("new")
    assert swaps == [final] and (final / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the old folder is gone, nothing left

    # The two-rename fallback killed between its renames: no `out`, the old one aside. The next run puts
    # it back before anything else, and removes dead runs' temp files; a live run's are left alone.
    dead = _dead_pid()
    os.rename(final, tmp_path / f".out.old-{dead}")
    (tmp_path / f".out.tmp-{dead}-x1").mkdir()
    (tmp_path / f".out.tmp-{os.getpid()}-x2").mkdir()
    (tmp_path / f".out.tmp-{dead}-x3").mkdir()  # too young to be sure its writer is gone
    for name in (f".out.tmp-{dead}-x1", f".out.tmp-{os.getpid()}-x2"):
        os.utime(tmp_path / name, (time.time() - 3600,) * 2)
    assert atomic.clean_leftovers(final) and (final / "a").read_text() == "new"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([f".out.tmp-{dead}-x3", f".out.tmp-{os.getpid()}-x2", "out"])


def test_the_fallback_swap_keeps_the_old_folder_until_the_new_one_is_in(tmp_path, monkeypatch):
    import iacsieve.io.atomic as atomic

    monkeypatch.setattr(atomic, "exchange", lambda a, b: False)  # e.g. not Linux
    final = tmp_path / "out"
    for text in ("old", "new"):
        with atomic.atomic_directory(final) as tmp:
            (tmp / "a").write_text(text)
    assert (final / "a").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_folder_the_tool_made_is_replaced_on_a_rerun(tmp_path, capsys):
    raw = make_raw(tmp_path / "raw")
    out = tmp_path / "prepared"
    out.mkdir()  # an empty folder is fine
    assert main(["prepare", "--raw", str(raw), "--out", str(out)]) == 0
    assert (out / ".iacsieve-output").is_file()
    (out / "stale.jsonl").write_text("x")
    assert main(["prepare", "--raw", str(raw), "--out", str(out)]) == 0
    assert not (out / "stale.jsonl").exists()
    (out / ".iacsieve-output").unlink()  # an older run's output (no marker yet) and DVC's .gitignore: ours
    (out / ".gitignore").write_text("/train\n/val\n/test\n")
    assert main(["prepare", "--raw", str(raw), "--out", str(out)]) == 0
    (out / ".iacsieve-output").unlink()
    (out / "notes.txt").write_text("mine")  # anything else: without the proof, the folder is the user's
    code, err = run(capsys, "prepare", "--raw", str(raw), "--out", str(out))
    assert_one_line(code, err, "iacsieve did not create")
    assert (out / "notes.txt").read_text() == "mine"


def test_kfp_compile_to_stdout(capsys):
    from worktree import repo_copy

    params = str(repo_copy("params.yaml"))
    assert (
        main(["kfp", "compile", "--stage", "3", "--params", params, "--image", "ghcr.io/a/i:1", "-o", "-"])
        == 0
    )
    spec = capsys.readouterr().out
    assert spec.startswith(("# PIPELINE DEFINITION", "components:", "pipelineInfo:")) and "iacsieve" in spec
    assert not Path("-").exists()


@pytest.mark.parametrize(
    "error, needle",
    [
        (OSError(28, "No space left on device"), "No space left on device"),  # full disk
        (OSError(30, "Read-only file system"), "Read-only file system"),
        (PermissionError(13, "Permission denied"), "Permission denied"),
    ],
)
def test_an_oserror_while_writing_is_one_line_naming_the_path(tmp_path, capsys, monkeypatch, error, needle):
    import tempfile

    raw = make_raw(tmp_path / "raw")
    before = digest(raw)

    def failing(*args, dir=None, **kwargs):
        error.filename = str(dir)
        raise error

    monkeypatch.setattr(tempfile, "mkstemp", failing)
    monkeypatch.setattr(tempfile, "mkdtemp", failing)
    code, err = run(capsys, "prepare", "--raw", str(raw), "--out", str(tmp_path / "p"))
    assert_one_line(code, err, needle, str(tmp_path))
    assert digest(raw) == before and not (tmp_path / "p").exists()


def test_careless_paths_are_one_line(tmp_path, capsys, champion, no_model, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.chdir(tmp_path)
    code, err = run(
        capsys,
        "filter",
        "--model",
        str(champion),
        "--detections",
        str(GLITCH_CSV),
        "--scripts",
        str(SCRIPTS),
        "--out",
        ".",
        "--format",
        "csv",
    )
    assert_one_line(code, err, "is a directory")
    code, err = run(capsys, "labels", "stats", "--human", str(tmp_path / "file"))
    assert_one_line(code, err, "not a folder")
    (tmp_path / "sub").mkdir()
    code, err = run(capsys, "kfp", "compile", "--stage", "1", "-o", "sub")
    assert_one_line(code, err, "is a directory")


def test_names_that_are_not_utf8_or_hold_escapes_print_safely(tmp_path):
    """A strict UTF-8 terminal (a UTF-8 locale) and a file name that is not UTF-8 and carries an escape
    sequence: printed escaped, never a traceback, never a raw ESC."""
    import pty

    raw = make_raw(tmp_path / "raw")
    out = os.fsencode(tmp_path) + b"/p\xe9\x1b]0;pwned\x07"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "PYTHONPATH": os.pathsep.join(sys.path)}
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "iacsieve", "prepare", "--raw", str(raw), "--out", out],
            stdout=secondary,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
        )
        shown = os.read(primary, 65536)
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    assert b"p\\udce9\\x1b]0;pwned\\x07" in shown and b"\x1b" not in shown and b"\x07" not in shown


# ----------------------------------------------------------------------------- 7. DVC's lock (issue #22)


@pytest.mark.parametrize("content", [b"", b'{"read": {}, "wri', b"[]", b"\xff\xfe"])
def test_a_corrupt_dvc_rwlock_is_repaired_only_when_no_dvc_holds_the_repo(tmp_path, capsys, content):
    import fcntl

    tmp = tmp_path / ".dvc" / "tmp"
    tmp.mkdir(parents=True)
    rwlock = tmp / "rwlock"
    rwlock.write_bytes(content)
    (tmp / "lock").write_text("")
    holder = os.open(tmp / "lock", os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a running dvc holds the repository: hands off
    try:
        assert main(["repair-dvc-lock", "--root", str(tmp_path)]) == 0
        assert rwlock.read_bytes() == content
    finally:
        os.close(holder)
    assert main(["repair-dvc-lock", "--root", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert not rwlock.exists() and "repaired" in err and "#7615" in err
    assert err.count("\n") == 2  # one line when left alone, one when repaired


def test_a_sound_dvc_rwlock_is_left_alone(tmp_path, capsys):
    from iacsieve.repo.dvc_lock import repair_rwlock

    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    rwlock = tmp_path / ".dvc" / "tmp" / "rwlock"
    rwlock.write_text('{"read": {}, "write": {"a": {"pid": 1, "cmd": "dvc repro"}}}')
    assert repair_rwlock(tmp_path) is None and rwlock.exists()
    assert repair_rwlock(tmp_path / "no-repo") is None


# ----------------------------------------------------------------------------- 8. params that would fail later (issue #22)


def _bomb(levels: int = 9) -> str:
    """A "billion laughs": each level nine aliases of the one before (9**9 items if expanded)."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


BOMB = _bomb()


@pytest.mark.parametrize(
    "old, new, needle",
    [
        ("  step: 0.01\n", "  step: 0.01\n  step: 0.02\n", "threshold_sweep.step: duplicate key"),
        (
            "learning_rates: [0.001]",
            "learning_rates: [.inf]",
            "stage1.learning_rates[0]: must be a finite number",
        ),
        (
            "  bootstrap_seed: 0",
            "  bootstrap_seed: .nan",
            "evaluation.bootstrap_seed: must be a finite number",
        ),
        ("  step: 0.01", "  step: 1e-12", "threshold_sweep.step: must be >= 0.0001, got 1e-12"),
        (
            "classical: {options: {}}",
            "classical: {options: {bogus: 1}}",
            "families.classical.options.bogus: unknown",
        ),
        (
            "tiny-t5: {max_length: 64}",
            "tiny-t5: {options: {hidden: 3}}",
            "families.tiny-t5.options.hidden: unknown",
        ),
        (
            "codebert: {",
            "codebert: {options: {x: 1}, ",
            "families.codebert.options.x: the codebert family takes no",
        ),
        ("threshold_sweep:\n", BOMB + "threshold_sweep:\n", "YAML aliases (*name) are not accepted"),
        (
            "threshold_sweep:\n",
            "base: &b {x: 1}\nother: {<<: *b}\nthreshold_sweep:\n",
            "other.<<: YAML merge keys (<<) are not",
        ),
        (  # libyaml's composer recurses in C: this deep it would crash the process, not raise
            "learning_rates: [0.001]",
            "learning_rates: " + "[" * 200_000 + "0.001" + "]" * 200_000,
            "<yaml>: invalid YAML: nested too deeply",
        ),
        (
            "threshold_sweep:\n",
            "deep:\n" + "".join(f"{'  ' * n}- \n" for n in range(1, 400)) + "threshold_sweep:\n",
            "<yaml>: invalid YAML: nested too deeply",
        ),
    ],
    ids=[
        "duplicate",
        "inf",
        "nan",
        "sweep",
        "classical",
        "tiny",
        "hf",
        "billion-laughs",
        "merge",
        "deep-flow",
        "deep-block",
    ],
)
def test_params_refuses_what_would_fail_later(tmp_path, capsys, old, new, needle):
    from worktree import repo_copy

    text = repo_copy("params.yaml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "params.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    start = time.perf_counter()
    code, err = run(capsys, "params", "--params", str(tmp_path / "params.yaml"))
    assert_one_line(code, err, needle)
    assert time.perf_counter() - start < 10


def test_a_link_to_a_plain_file_is_replaced_not_its_target(tmp_path):
    from iacsieve.io.output_policy import check_file_output

    target = tmp_path / "elsewhere.csv"
    target.write_text("keep me\n")
    (tmp_path / "out.csv").symlink_to(target)
    path = check_file_output(tmp_path / "out.csv")
    assert path is not None
    atomic_write_text(path, "new\n")
    assert target.read_text() == "keep me\n" and (tmp_path / "out.csv").read_text() == "new\n"
    assert not (tmp_path / "out.csv").is_symlink()
