"""dvc.lock holds only the stages dvc.yaml defines: `repair-dvc-lock` drops the entries DVC leaves
behind when a stage is removed or renamed (treeverse/dvc#5293), and the committed dvc.lock has none."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from worktree import repo_copy

from iacsieve.cli.app import main
from iacsieve.repo.stale_lock import prune_stale_stages

REPO = Path(__file__).resolve().parents[1]

STALE = """\
  select1:
    cmd: iacsieve select --stage 1
    deps:
    - path: results/stage1
      hash: md5
      md5: 0123456789abcdef0123456789abcdef.dir
"""


@pytest.fixture
def project(tmp_path) -> Path:
    from dvc.repo import Repo

    for name in ("dvc.yaml", "dvc.lock", "params.yaml"):
        shutil.copy(repo_copy(name), tmp_path / name)
    Repo.init(str(tmp_path), no_scm=True).close()
    return tmp_path


def test_the_committed_dvc_lock_holds_only_current_stages(project):
    assert prune_stale_stages(project) == []


def test_stale_stages_are_removed_and_nothing_else(project, capsys):
    lock = project / "dvc.lock"
    committed = lock.read_text(encoding="utf-8")
    first, rest = committed.split("\n  prepare:\n", 1)  # a stale entry first, one among the others
    middle = rest.index("\n  training-data:\n") + 1
    lock.write_text(
        f"{first}\n{STALE.replace('select1', 'stage9')}  prepare:\n{rest[:middle]}{STALE}{rest[middle:]}",
        encoding="utf-8",
    )
    assert main(["repair-dvc-lock", "--root", str(project)]) == 0
    assert lock.read_text(encoding="utf-8") == committed  # DVC's own format: only the entries went
    err = capsys.readouterr().err
    assert err == "iacsieve: removed 2 stale stage(s) from dvc.lock: stage9, select1\n"
    assert main(["repair-dvc-lock", "--root", str(project)]) == 0
    assert capsys.readouterr().err == "" and lock.read_text(encoding="utf-8") == committed


def test_a_broken_dvc_yaml_is_one_line_and_leaves_dvc_lock_alone(project, capsys):
    lock = project / "dvc.lock"
    before = lock.read_bytes()
    (project / "dvc.yaml").write_text("stages:\n  prepare: [\n", encoding="utf-8")
    assert main(["repair-dvc-lock", "--root", str(project)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "dvc.lock" in err and "Traceback" not in err
    assert lock.read_bytes() == before
