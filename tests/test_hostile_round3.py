"""Hostile round 3 (issue #31): folders that are not ours, archives that stall, races with DVC, and
inputs that reach users' commands. One test per case, each failing before the fix.

A test's name starts with its class, so the closing note counts them: `dataloss`, `wrong` (silent
wrong result), `injection`, `hang`, `unbounded` (memory or disk), `traceback`, `unclear` (message).
A traceback anywhere a user's input reaches is a failure of every test here (`assert_one_line`).
Cases that could hang or eat memory on a build without the fix run in a child process with a time
and memory limit, so the suite itself never stalls.
"""

from __future__ import annotations

import errno
import fcntl
import gzip
import hashlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from test_hostile import assert_one_line, run

from iacsieve.cli.app import main

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "glitch-puppet"
GLITCH_CSV = FIXTURE / "glitch-puppet.csv"
SCRIPTS = FIXTURE / "scripts"
MiB = 1 << 20


def digest(folder: Path) -> str:
    h = hashlib.md5()
    for p in sorted(folder.rglob("*")):
        kind = b"L" if p.is_symlink() else b"F" if p.is_file() else b"D"
        h.update(str(p.relative_to(folder)).encode() + kind + (p.read_bytes() if kind == b"F" else b""))
    return h.hexdigest()


def child(
    *argv: str,
    timeout: float = 60,
    memory: int | None = None,
    env: dict | None = None,
    cwd: Path | None = None,
):
    """`iacsieve ARGV` in a child process, killed after `timeout` s, its address space capped at `memory`."""

    def cap() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "iacsieve", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
        cwd=cwd,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", **(env or {})},
    )
    return proc.returncode, proc.stderr, time.perf_counter() - started


@pytest.fixture(scope="module")
def archive(champion, tmp_path_factory) -> Path:
    from iacsieve.release.archive import pack

    out = tmp_path_factory.mktemp("round3") / "champion.tar.gz"
    pack(champion, out)
    return out


# ----------------------------------------------------------------------------- 1. folders that are not ours


def _project_with_a_card(root: Path, champion: Path) -> Path:
    """A user's project folder that happens to hold a champion.json (and model_meta.json) at its top."""
    project = root / "project"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("print('mine')\n")
    for name in ("champion.json", "model_meta.json"):
        shutil.copy(champion / name, project / name)
    return project


def test_dataloss_pull_champion_never_wipes_a_project_holding_a_champion_json(tmp_path, capsys, champion):
    project = _project_with_a_card(tmp_path, champion)
    before = digest(project)
    code, err = run(capsys, "kfp", "pull-champion", str(champion), "--out", str(project), "--no-dvc-add")
    assert_one_line(code, err, "--out", ".git/", "refusing to replace it")
    assert digest(project) == before


@pytest.fixture(scope="module")
def selection(prepared_small, tmp_path_factory) -> Path:
    """A real stage selection, so that a freeze that ignored the policy would go on and replace."""
    from iacsieve.core.run_config import TrainConfig
    from iacsieve.steps.evaluate import evaluate
    from iacsieve.steps.selection import select_runs
    from iacsieve.steps.train import train

    root = tmp_path_factory.mktemp("selection")
    run_dir = train(TrainConfig(family="classical"), prepared_small, root / "runs" / "classical")
    evaluate(run_dir, root / "evaluations" / "classical", bootstrap_samples=5)
    select_runs([root / "evaluations" / "classical"], root / "selection")
    return root / "selection" / "selection.json"


def test_dataloss_freeze_never_deletes_notes_beside_a_champion(
    tmp_path, capsys, champion, selection, prepared_small
):
    model = tmp_path / "model"
    shutil.copytree(champion, model)
    (model / "NOTES.md").write_text("why this model\n")
    (model / "analysis").mkdir()
    (model / "analysis" / "errors.csv").write_text("a,b\n")
    before = digest(model)
    code, err = run(
        capsys, "step", "freeze", str(selection), "--data", str(prepared_small), "--out", str(model)
    )
    assert_one_line(code, err, "--out", "NOTES.md", "no champion holds")
    assert digest(model) == before


def test_a_champion_folder_is_still_replaced_by_freeze_and_pull(
    tmp_path, capsys, champion, selection, prepared_small
):
    """The policy's other half: a folder holding only a champion's files (the command's own output,
    with or without the marker) is replaced."""
    out = tmp_path / "champion"
    for _ in range(2):
        assert main(["step", "freeze", str(selection), "--data", str(prepared_small), "--out", str(out)]) == 0
    for _ in range(2):
        assert main(["kfp", "pull-champion", str(champion), "--out", str(out), "--no-dvc-add"]) == 0
    assert (out / "origin.json").is_file()


def test_an_unpacked_champion_is_replaced_by_pull_champion(tmp_path, capsys, champion, archive):
    out = tmp_path / "champion"
    assert main(["champion", "unpack", str(archive), "--out", str(out)]) == 0
    assert main(["kfp", "pull-champion", str(champion), "--out", str(out), "--no-dvc-add"]) == 0


@pytest.mark.parametrize("where", ["inside_a_model", "inside_the_labels_store"])
def test_wrong_unpack_never_writes_into_a_model_or_the_labels_store(
    tmp_path, capsys, champion, archive, monkeypatch, where
):
    model = tmp_path / "models" / "champion"
    shutil.copytree(champion, model)
    (tmp_path / "data" / "human").mkdir(parents=True)
    (tmp_path / "data" / "human" / "labels.jsonl").write_text("")
    monkeypatch.chdir(tmp_path)
    before = digest(tmp_path)
    out = {"inside_a_model": "models/champion/unpacked", "inside_the_labels_store": "data/human/unpacked"}[
        where
    ]
    code, err = run(capsys, "champion", "unpack", str(archive), "--out", out)
    assert_one_line(code, err, out)
    assert digest(tmp_path) == before


def test_dataloss_unpack_never_replaces_a_link_with_a_folder(tmp_path, capsys, archive):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    code, err = run(capsys, "champion", "unpack", str(archive), "--out", str(link))
    assert_one_line(code, err, "is a link")
    assert link.is_symlink() and not any(target.iterdir())


# ----------------------------------------------------------------------------- 2. archives bounded before parsing


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def _header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _repeated(block: bytes, times: int) -> bytes:
    """`times` copies of `block`, as a multi-member gzip stream made by compressing it once."""
    return _gz(block) * times


END = _gz(b"\0" * 1024)


def test_hang_a_million_digit_pax_header_is_refused_at_once(tmp_path):
    bad = tmp_path / "digits.tar.gz"
    digits = b"1" * 1_000_000
    bad.write_bytes(_gz(_header("././@PaxHeader", len(digits), tarfile.XHDTYPE) + digits) + END)
    assert bad.stat().st_size < 4096
    code, err, took = child("champion", "verify", str(bad), timeout=30)
    assert_one_line(code, err, "extended tar header of 1000000 bytes")
    assert took < 15


def test_unbounded_a_3_gib_pax_header_is_refused_before_it_is_read(tmp_path):
    bad = tmp_path / "huge-header.tar.gz"
    size = 3 << 30
    bad.write_bytes(_gz(_header("././@PaxHeader", size, tarfile.XHDTYPE)) + _repeated(b"1" * MiB, 3072) + END)
    assert bad.stat().st_size < 8 * MiB
    code, err, took = child("champion", "verify", str(bad), timeout=60, memory=2 << 30)
    assert_one_line(code, err, f"extended tar header of {size} bytes")
    assert took < 30


def test_unbounded_a_gzip_bomb_is_refused_before_anything_is_extracted(tmp_path, archive):
    """A 4 MB archive holding a 2 GiB member of zeros: refused on the decompressed size, not after
    2 GiB went to $TMPDIR (or through SHA-256)."""
    with tarfile.open(archive, "r:gz") as tar:
        first = [(m, tar.extractfile(m).read()) for m in list(tar)[:2]]  # SHA256SUMS, archive.json
    head = b"".join(
        m.tobuf(format=tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512) for m, data in first
    )
    bomb = tmp_path / "bomb.tar.gz"
    size = 2 << 30
    bomb.write_bytes(
        _gz(head + _header("champion/classical_plain.npz", size)) + _repeated(b"\0" * MiB, 2048) + END
    )
    assert bomb.stat().st_size < 8 * MiB
    code, err, took = child("champion", "verify", str(bomb), timeout=60, memory=2 << 30)
    assert_one_line(code, err, "gzip bomb")
    assert took < 20


def _pax(records: dict[str, str], kind: bytes = tarfile.XHDTYPE) -> bytes:
    body = b""
    for key, value in records.items():
        record = f" {key}={value}\n".encode()
        length = len(record) + len(str(len(record)))
        length += len(str(length)) - len(str(len(record)))
        body += str(length).encode() + record
    return _header("././@PaxHeader", len(body), kind) + body + b"\0" * (-len(body) % 512)


@pytest.mark.parametrize(
    "head, needle",
    [
        (_pax({"path": "champion/x"}, tarfile.XGLTYPE), "global pax header"),
        (_pax({"size": str(1 << 40)}), "too large"),
        (_pax({"GNU.sparse.size": "10"}), "pax keyword"),
        (_header("././@LongLink", 1 << 20, tarfile.GNUTYPE_LONGNAME), "extended tar header"),
        # an old-style folder ("x/", type NUL) has no data for tarfile: what follows is a header, and
        # the walk must read it as tarfile will (here a million-digit pax header)
        (
            _header("champion/x/", 1 << 20, b"\0") + _header("./@PaxHeader", 1_000_000, tarfile.XHDTYPE),
            "extended tar header of 1000000",
        ),
    ],
)
def test_extended_headers_are_bounded_and_checked_before_tarfile(tmp_path, head, needle):
    from iacsieve.core.errors import IacsieveError
    from iacsieve.release.archive import verify

    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(_gz(head + _header("champion/SHA256SUMS", 0)) + END)
    with pytest.raises(IacsieveError, match=needle):
        verify(bad)


def test_a_real_champion_archive_is_far_below_the_bomb_ratio(archive):
    from iacsieve.release.archive import MAX_RATIO

    with gzip.open(archive) as gz:
        inflated = len(gz.read())
    assert inflated < MAX_RATIO / 5 * archive.stat().st_size


def _repacked(archive: Path, out: Path, change) -> Path:
    """The archive with its members passed through `change(name, data)`, SHA256SUMS recomputed (a
    consistent forgery: only the cross-check can catch it)."""
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}
    members = {name: change(name, data) for name, data in members.items()}
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name.split('/', 1)[1]}\n"
        for name, data in sorted(members.items())
        if not name.endswith("SHA256SUMS")
    ).encode()
    members["champion/SHA256SUMS"] = sums
    order = ["champion/SHA256SUMS", *sorted(n for n in members if not n.endswith("SHA256SUMS"))]
    with gzip.open(out, "wb") as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in order:
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            tar.addfile(info, io.BytesIO(members[name]))
    return out


def test_wrong_verify_refuses_a_card_that_is_not_the_champions(tmp_path, capsys, archive):
    def claim(name: str, data: bytes) -> bytes:
        if name.endswith("archive.json"):
            card = json.loads(data)
            card.update(family="codet5p-770m", threshold=0.05)
            return (json.dumps(card, indent=2, sort_keys=True) + "\n").encode()
        return data

    forged = _repacked(archive, tmp_path / "forged.tar.gz", claim)
    code, err = run(capsys, "champion", "verify", str(forged))
    assert_one_line(code, err, "archive.json", "family", "codet5p-770m")


def test_wrong_verify_refuses_a_card_naming_another_model_kind(tmp_path, capsys, archive):
    def claim(name: str, data: bytes) -> bytes:
        if name.endswith("archive.json"):
            card = json.loads(data)
            card.update(kind="hf")
            return (json.dumps(card, indent=2, sort_keys=True) + "\n").encode()
        return data

    forged = _repacked(archive, tmp_path / "forged.tar.gz", claim)
    code, err = run(capsys, "champion", "verify", str(forged))
    assert_one_line(code, err, "archive.json", "kind", "model_meta.json")


@pytest.mark.parametrize("name", ["new\nline.json", "back\\slash.json", "tab\there.json"])
def test_wrong_pack_refuses_names_that_verify_would_refuse(tmp_path, capsys, champion, name):
    folder = tmp_path / "champion"
    shutil.copytree(champion, folder)
    (folder / name).write_text("{}")
    code, err = run(
        capsys, "champion", "pack", "--champion", str(folder), "--out", str(tmp_path / "c.tar.gz")
    )
    assert_one_line(code, err, "rename it")
    assert not (tmp_path / "c.tar.gz").exists()


def test_traceback_pack_refuses_a_name_that_is_not_utf8(tmp_path, capsys, champion):
    folder = tmp_path / "champion"
    shutil.copytree(champion, folder)
    with open(os.fsencode(folder) + b"/caf\xe9.json", "w") as handle:  # a Latin-1 name
        handle.write("{}")
    code, err = run(
        capsys, "champion", "pack", "--champion", str(folder), "--out", str(tmp_path / "c.tar.gz")
    )
    assert_one_line(code, err, "not UTF-8")


def test_unbounded_temp_folders_of_killed_runs_are_cleaned_by_the_next_run(tmp_path, archive, monkeypatch):
    import tempfile

    from iacsieve.release.archive import opened

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = time.time() - 3600
    killed = temp / f"iacsieve-champion-{dead.pid}-abc"  # a killed run's (its pid is gone)
    ancient = temp / "iacsieve-champion-x1y2z3"  # from before pids were in the name, days old
    young = temp / f"iacsieve-champion-{dead.pid}-new"  # pid gone, but seconds old: maybe another container's
    live = temp / f"iacsieve-champion-{os.getpid()}-run"  # a running process's
    for folder in (killed, ancient, young, live):
        (folder / "champion").mkdir(parents=True)
        (folder / "champion" / "model.skops").write_bytes(b"x" * 1000)
    os.utime(killed, (old, old))
    os.utime(ancient, (old - 5 * 86400, old - 5 * 86400))
    os.utime(live, (old, old))
    with opened(archive) as folder:
        assert (folder / "classical_plain.npz").is_file()
    assert not killed.exists() and not ancient.exists()
    assert young.exists() and live.exists()


# ----------------------------------------------------------------------------- 3. races with DVC


def _sheet_in(repo: Path) -> Path:
    from iacsieve.data.sheet import SheetRow, write_sheet

    sheet = repo / "sheet.csv"
    write_sheet(sheet, [SheetRow("puppet", "hard_coded_secret", "a.pp", 3, "$password = 'x'")])
    text = sheet.read_text().splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    row[header.index("label")] = "TP"
    sheet.write_text("\n".join([text[0], ",".join(row)]) + "\n")
    return sheet


def _labels_add(repo: Path, *extra: str, reviewer: str = "alice", human: object = None) -> list[str]:
    """`labels add` of a one-row sheet (`_sheet_in`) into `human` (default: the repo's store), then `extra`."""
    store = repo / "data" / "human" if human is None else human
    sheet = _sheet_in(repo)
    return [
        "labels",
        "add",
        str(sheet),
        "--reviewer",
        reviewer,
        "--human",
        str(store),
        "--raw",
        str(repo / "raw"),
        *extra,
    ]


@pytest.fixture()
def repo(tmp_path) -> Path:
    """A folder DVC would call a repository (its .dvc/tmp), holding a labels store."""
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    (tmp_path / "data" / "human").mkdir(parents=True)
    (tmp_path / "data" / "human" / "labels.jsonl").write_text("")
    row = {
        "smell": "hard_coded_secret",
        "file": "test.pp",
        "line": 1,
        "content": "$password = 'x'",
        "label": "TP",
    }
    for tech in ("ansible", "chef", "puppet"):  # raw data: its test split is what labels add refuses
        (tmp_path / "raw" / tech).mkdir(parents=True)
        for split in ("train", "val", "test"):
            (tmp_path / "raw" / tech / f"{tech}_{split}.jsonl").write_text(json.dumps(row) + "\n")
    return tmp_path


@pytest.fixture()
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_wrong_labels_add_waits_while_a_dvc_stage_reads_the_store(repo, capsys, monkeypatch, sleeper):
    """`dvc repro` between the training-data stage's read of data/human and its hashing: a label
    written then is recorded in dvc.lock as trained on and never is. `labels add` waits, then
    refuses in one line having written nothing."""
    import iacsieve.data.labels as labels_module

    monkeypatch.setattr(labels_module, "DVC_WAIT_S", 0.6, raising=False)
    store = repo / "data" / "human"
    rwlock = {"read": {str(store): [{"pid": sleeper.pid, "cmd": "dvc repro"}]}, "write": {}}
    (repo / ".dvc" / "tmp" / "rwlock").write_text(json.dumps(rwlock))
    argv = _labels_add(repo, human=store)
    code, err = run(capsys, *argv, "--no-dvc")
    assert_one_line(code, err, "a DVC stage that reads the labels store is running", f"pid {sleeper.pid}")
    assert (store / "labels.jsonl").read_text() == ""
    sleeper.kill()
    sleeper.wait()
    assert main([*argv, "--no-dvc"]) == 0  # the stage is over: the label goes in
    assert "alice" in (store / "labels.jsonl").read_text()


def _label_during_repro(repo: Path, prepared: Path, cwd: Path) -> None:
    """The issue's race, with DVC itself: the training-data stage has read data/human and DVC has
    not hashed it yet when `labels add` comes. Before, dvc.lock then recorded the new store for data
    built from the old one (`dvc status` clean: the label was never trained on). Now the label waits
    for the stage, and the next repro sees the store changed."""
    dvc = [str(Path(sys.executable).parent / "dvc")]
    shutil.rmtree(repo / ".dvc")
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=repo, check=True)
    subprocess.run([*dvc, "config", "core.analytics", "false"], cwd=repo, check=True)
    subprocess.run([*dvc, "add", "-q", "data/human"], cwd=repo, check=True)
    shutil.copytree(prepared, repo / "prepared")
    apply = f"{sys.executable} -m iacsieve labels apply --prepared prepared --human data/human --out training"
    sleep = f'{sys.executable} -c "import time; time.sleep(4)"'
    stage = {"cmd": f"{apply} && {sleep}", "deps": ["data/human", "prepared"], "outs": ["training"]}
    (repo / "dvc.yaml").write_text(json.dumps({"stages": {"training-data": stage}}))
    repro = subprocess.Popen([*dvc, "repro", "-q"], cwd=repo, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (repo / "training" / "human.json").is_file():  # the stage has read the store
        assert time.monotonic() < deadline and repro.poll() is None
        time.sleep(0.1)
    code, err, _ = child(*_labels_add(repo), timeout=120, cwd=cwd)
    assert repro.wait(timeout=60) == 0, repro.stderr.read()
    assert code == 0, err
    status = subprocess.run([*dvc, "status", "--json"], cwd=repo, capture_output=True, text=True, check=True)
    assert "data/human" in status.stdout, status.stdout  # the next repro retrains on the new label


@pytest.mark.slow
def test_wrong_a_label_added_during_dvc_repro_reaches_the_next_repro(repo, prepared_small):
    _label_during_repro(repo, prepared_small, cwd=repo)


@pytest.mark.slow
def test_traceback_labels_add_from_outside_the_repository_adds_the_store_given(
    repo, prepared_small, tmp_path_factory
):
    """`--human` inside a DVC repo, run from elsewhere: DVC read the relative target against the cwd."""
    _label_during_repro(repo, prepared_small, cwd=tmp_path_factory.mktemp("elsewhere"))


def test_traceback_labels_add_in_a_dvc_repo_dvc_cannot_open_is_one_line(repo, tmp_path):
    """A `.dvc` folder without git (nor core.no_scm), or with a broken config: one line, nothing written."""
    human = repo / "data" / "human"
    code, err, _ = child(*_labels_add(repo), cwd=tmp_path)
    assert_one_line(code, err, "DVC cannot open this repository", "--no-dvc")
    assert (human / "labels.jsonl").read_text() == ""


def test_wrong_labels_apply_reads_the_store_only_between_writes(
    repo, tmp_path, capsys, monkeypatch, prepared_small
):
    import iacsieve.data.human_store as store_module

    monkeypatch.setattr(store_module, "STORE_WAIT_S", 0.5, raising=False)
    lock = repo / "data" / ".human.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a `labels add` in the middle of its write
    try:
        out = tmp_path / "training"
        code, err = run(
            capsys,
            "labels",
            "apply",
            "--prepared",
            str(prepared_small),
            "--human",
            str(repo / "data" / "human"),
            "--out",
            str(out),
        )
        assert_one_line(code, err, "another `labels add` or `labels apply`")
        assert not out.exists()
    finally:
        os.close(fd)


def _corrupt_rwlock(repo: Path, text: bytes) -> Path:
    rwlock = repo / ".dvc" / "tmp" / "rwlock"
    rwlock.write_bytes(text)
    return rwlock


def test_wrong_repair_leaves_the_rwlock_of_a_running_stage_alone(repo, capsys, sleeper):
    """DVC releases its repository lock while a stage's command runs; the rwlock names the stage's pid."""
    rwlock = _corrupt_rwlock(repo, b'{"read": {"/x": [{"pid": %d, "cmd": "dvc repro"}]}, "wri' % sleeper.pid)
    assert main(["repair-dvc-lock", "--root", str(repo)]) == 0
    assert rwlock.is_file() and "left as is" in capsys.readouterr().err


def test_wrong_repair_leaves_the_rwlock_alone_while_a_dvc_process_runs_in_the_repo(repo, capsys, tmp_path):
    script = tmp_path / "bin" / "dvc"
    script.parent.mkdir()
    script.write_text("import time\ntime.sleep(60)\n")
    dvc = subprocess.Popen([sys.executable, str(script), "repro"], cwd=repo)
    try:
        time.sleep(0.3)
        rwlock = _corrupt_rwlock(repo, b"")
        assert main(["repair-dvc-lock", "--root", str(repo)]) == 0
        assert rwlock.is_file() and "left as is" in capsys.readouterr().err
    finally:
        dvc.kill()
        dvc.wait()
    assert main(["repair-dvc-lock", "--root", str(repo)]) == 0
    assert not rwlock.exists() and "repaired" in capsys.readouterr().err


@pytest.mark.parametrize(
    "shape",
    [
        {"read": {"/x": {"pid": "DEAD", "cmd": "dvc"}}},  # a read entry must be a list
        {"write": {"/x": {"pid": "1", "cmd": "dvc"}}},  # pid must be an integer
        {"write": {"/x": {"pid": "DEAD"}}},  # cmd missing
        {"read": {}, "other": {}},  # a key DVC's schema refuses
        {"read": []},
    ],
)
def test_wrong_repair_fixes_valid_json_of_the_wrong_shape(repo, capsys, shape):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # (a live pid named in it would be a running DVC's: left alone)
    rwlock = _corrupt_rwlock(repo, json.dumps(shape).replace('"DEAD"', str(dead.pid)).encode())
    assert main(["repair-dvc-lock", "--root", str(repo)]) == 0
    assert not rwlock.exists() and "repaired" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["lock", "rwlock"])
def test_hang_repair_never_blocks_on_a_fifo_in_dvc_tmp(repo, which):
    os.mkfifo(repo / ".dvc" / "tmp" / which)
    if which == "lock":
        _corrupt_rwlock(repo, b"")
    code, err, _ = child("repair-dvc-lock", "--root", str(repo), timeout=30)
    assert code == 0 and "Traceback" not in err and "repaired" in err, err
    assert not (repo / ".dvc" / "tmp" / "rwlock").exists()


def test_repair_leaves_a_sound_rwlock_of_dvc_own_shape_alone(repo, capsys):
    sound = {"read": {"/x": [{"pid": 1, "cmd": "dvc"}]}, "write": {"/y": {"pid": 2, "cmd": "dvc"}}}
    rwlock = _corrupt_rwlock(repo, json.dumps(sound).encode())
    assert main(["repair-dvc-lock", "--root", str(repo)]) == 0
    assert rwlock.is_file() and capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- 4. inputs reaching users' commands


def test_injection_a_reviewer_name_with_a_newline_is_refused(repo, capsys):
    human = repo / "data" / "human"
    code, err = run(capsys, *_labels_add(repo, "--no-dvc", reviewer="alice\n"))
    assert_one_line(code, err, "--reviewer", "alice\\n")
    assert (human / "labels.jsonl").read_text() == ""


def test_wrong_a_date_no_calendar_has_is_refused(repo, capsys):
    human = repo / "data" / "human"
    code, err = run(capsys, *_labels_add(repo, "--date", "2024-99-99", "--no-dvc"))
    assert_one_line(code, err, "--date", "2024-99-99")
    assert (human / "labels.jsonl").read_text() == ""


def test_wrong_a_date_in_other_digits_is_refused(repo, capsys):
    human = repo / "data" / "human"
    code, err = run(capsys, *_labels_add(repo, "--date", "\uff12\uff10\uff12\uff14-01-01", "--no-dvc"))
    assert_one_line(code, err, "--date")
    assert (human / "labels.jsonl").read_text() == ""


def _filter_with_baseline(capsys, champion: Path, baseline: Path, out: Path) -> tuple[int, str]:
    return run(
        capsys,
        "filter",
        "--model",
        str(champion),
        "--detections",
        str(GLITCH_CSV),
        "--scripts",
        str(SCRIPTS),
        "--out",
        str(out),
        "--baseline",
        str(baseline),
    )


@pytest.mark.parametrize(
    "runs", [[1], {"a": {}}, "runs", [{"results": {"x": 1}}], [{"results": [{"partialFingerprints": []}]}]]
)
def test_traceback_a_sarif_baseline_of_the_wrong_shape_is_one_line(tmp_path, capsys, champion, runs):
    baseline = tmp_path / "base.sarif"
    baseline.write_text(json.dumps({"version": "2.1.0", "runs": runs}))
    code, err = _filter_with_baseline(capsys, champion, baseline, tmp_path / "o.csv")
    assert_one_line(code, err, str(baseline))
    assert not (tmp_path / "o.csv").exists()


def test_wrong_a_jsonl_baseline_keep_that_is_a_string_is_refused(tmp_path, capsys, champion):
    baseline = tmp_path / "base.jsonl"
    baseline.write_text(json.dumps({"keep": "false", "fingerprint": "abc"}) + "\n")
    code, err = _filter_with_baseline(capsys, champion, baseline, tmp_path / "o.csv")
    assert_one_line(code, err, f"{baseline}:1", "keep")


def test_wrong_a_csv_baseline_keep_that_is_not_true_or_false_is_refused(tmp_path, capsys, champion):
    baseline = tmp_path / "base.csv"
    baseline.write_text("path,keep,fingerprint\na.pp,TRUE,abc\n")
    code, err = _filter_with_baseline(capsys, champion, baseline, tmp_path / "o.csv")
    assert_one_line(code, err, f"{baseline}:2", "keep")


@pytest.mark.parametrize(
    "summary",
    [
        {
            "run": "r",
            "val": {"f1": "high"},
            "test": {"combined": {"f1": 0.5, "fp_reduction": 0.1, "tp_retention": 0.9}},
        },
        {"run": "r", "val": {"f1": 0.5}, "test": [1, 2]},
        {"run": "r", "val": None, "test": {}},
        ["not", "an", "object"],
    ],
)
def test_traceback_report_on_a_malformed_summary_is_one_line(tmp_path, capsys, summary):
    run_dir = tmp_path / "results" / "stage1" / "classical"
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    code, err = run(
        capsys,
        "report",
        "--results",
        str(tmp_path / "results"),
        "--champion",
        str(tmp_path / "none"),
        "--out",
        str(tmp_path / "r.md"),
        "--metrics",
        "",
    )
    assert_one_line(code, err, "summary.json")
    assert not (tmp_path / "r.md").exists()


@pytest.mark.parametrize(
    "name, content",
    [
        (
            "champion.json",
            {"threshold": "high", "family": "classical", "run": "r", "test": {"combined": {"f1": "x"}}},
        ),
        ("champion.json", ["a", "list"]),
        ("origin.json", "a string"),
    ],
)
def test_traceback_report_on_a_malformed_champion_is_one_line(tmp_path, capsys, name, content):
    champion = tmp_path / "champion"
    champion.mkdir()
    if name != "champion.json":
        (champion / "champion.json").write_text(json.dumps({"threshold": 0.5}))
    (champion / name).write_text(json.dumps(content))
    (tmp_path / "results").mkdir()
    code, err = run(
        capsys,
        "report",
        "--results",
        str(tmp_path / "results"),
        "--champion",
        str(champion),
        "--out",
        str(tmp_path / "r.md"),
        "--metrics",
        "",
    )
    assert_one_line(code, err)
    assert not (tmp_path / "r.md").exists()


def test_unclear_an_input_past_path_max_is_named_as_given_and_short(tmp_path, capsys):
    results = "c/" * 2100
    code, err = run(
        capsys,
        "report",
        "--results",
        results,
        "--champion",
        str(tmp_path / "none"),
        "--out",
        str(tmp_path / "r.md"),
        "--metrics",
        "",
    )
    assert_one_line(code, err, "'c/c/c/", "too long")
    assert "selection" not in err and len(err) < 300


def test_unclear_a_full_temp_folder_is_named_not_the_output(tmp_path, capsys, archive, monkeypatch):
    import iacsieve.release.archive as archive_module

    real = archive_module._copy_hashing

    def full(source, sink, limit):
        if sink is not None and not isinstance(sink, io.BytesIO):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(source, sink, limit)

    monkeypatch.setattr(archive_module, "_copy_hashing", full)
    out = tmp_path / "kept.csv"
    code, err = run(
        capsys,
        "filter",
        "--model",
        str(archive),
        "--detections",
        str(GLITCH_CSV),
        "--scripts",
        str(SCRIPTS),
        "--out",
        str(out),
    )
    assert_one_line(code, err, "temporary folder", "No space left on device", "TMPDIR")
    assert "<output>" not in err and str(out) not in err


def test_unclear_a_full_disk_names_the_output_being_written(tmp_path):
    from iacsieve.io.atomic import atomic_write_stream

    def fill(handle):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        atomic_write_stream(tmp_path / "out.bin", fill)
    assert caught.value.filename == str(tmp_path / "out.bin")
    assert list(tmp_path.iterdir()) == []


def test_unclear_a_deleted_current_folder_is_said_as_such(tmp_path, champion):
    gone = tmp_path / "gone"
    gone.mkdir()
    code = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
            "from iacsieve.cli.app import main; sys.exit(main(['filter', '--model', 'm', '--detections', 'd.csv', '--scripts', 's', '--out', 'o.csv']))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert code.returncode == 2 and code.stderr.count("\n") == 1 and "Traceback" not in code.stderr, (
        code.stderr
    )
    assert "current folder no longer exists" in code.stderr and "<output>" not in code.stderr


@pytest.mark.parametrize("flag", ["--human", "--out"])
def test_unclear_a_name_past_the_systems_limit_names_what_was_given(
    tmp_path, capsys, repo, prepared_small, flag
):
    long_name = str(tmp_path / ("a" * 300))
    if flag == "--human":
        argv = _labels_add(repo, "--no-dvc", reviewer="bob", human=long_name)
    else:
        argv = [
            "labels",
            "apply",
            "--prepared",
            str(prepared_small),
            "--human",
            str(repo / "data" / "human"),
            "--out",
            long_name,
        ]
    code, err = run(capsys, *argv)
    assert_one_line(code, err, flag, "too long")
    assert "model_meta.json" not in err and len(err) < 400
