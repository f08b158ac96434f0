"""The working-tree guard and the staged copies that keep tests off a user's working files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from worktree import changes, repo_copy, snapshot

TESTS = Path(__file__).resolve().parent


def test_snapshot_sees_added_removed_and_changed_files_but_not_caches(tmp_path):
    (tmp_path / "params.yaml").write_text("a: 1\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "old.bin").write_bytes(b"x")
    before = snapshot(tmp_path)
    (tmp_path / "params.yaml").write_text("a: 22\n")
    (tmp_path / "models" / "old.bin").unlink()
    (tmp_path / "dvc_plots").mkdir()
    (tmp_path / "dvc_plots" / "index.html").write_text("<html/>")
    for cache in ("__pycache__", ".pytest_cache", ".dvc/tmp"):
        (tmp_path / cache).mkdir(parents=True)
        (tmp_path / cache / "f").write_text("cache")
    assert changes(before, snapshot(tmp_path)) == [
        "A dvc_plots/index.html",
        "D models/old.bin",
        "M params.yaml",
    ]


def test_repo_copy_is_the_staged_file_not_the_working_one(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "params.yaml").write_text("seeds: [1]\n")
    git("add", "params.yaml")
    (tmp_path / "params.yaml").write_text("seeds: [1, 2]  # dvc exp run -S left this behind\n")
    (tmp_path / "untracked.yaml").write_text("x: 1\n")
    copy = repo_copy("params.yaml", tmp_path)
    assert copy.read_text() == "seeds: [1]\n" and tmp_path not in copy.parents
    assert repo_copy("untracked.yaml", tmp_path).read_text() == "x: 1\n"  # not in git: the file as it is


def _pytest_in(project: Path, test_body: str) -> subprocess.CompletedProcess:
    """A pytest session in `project` with the guard watching `project`."""
    (project / "conftest.py").write_text(
        "from pathlib import Path\nfrom worktree import WorktreeGuard\n\n"
        "def pytest_configure(config):\n"
        "    config.pluginmanager.register(WorktreeGuard(Path(__file__).parent), 'guard')\n"
    )
    (project / "test_it.py").write_text("from pathlib import Path\n\ndef test_it():\n" + test_body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_guard_fails_a_session_that_writes_into_the_tree(tmp_path):
    (tmp_path / "params.yaml").write_text("a: 1\n")
    clean = _pytest_in(
        tmp_path, "    assert Path(__file__).with_name('params.yaml').read_text() == 'a: 1\\n'\n"
    )
    assert clean.returncode == 0, clean.stdout
    dirty = _pytest_in(tmp_path, "    Path(__file__).with_name('params.yaml').write_text('a: 2\\n')\n")
    assert dirty.returncode == 1, dirty.stdout
    assert "1 passed" in dirty.stdout and "the tests changed the working tree" in dirty.stdout
    assert "M params.yaml" in dirty.stdout


def test_guard_ignores_the_users_own_files_but_not_the_projects_outputs(tmp_path):
    """`make test > test.log` inside the repo passes; a test writing a git-ignored output still fails."""
    subprocess.run(["git", "-C", str(tmp_path), "init", "-q"], check=True)
    (tmp_path / ".gitignore").write_text("/models/\n")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", ".gitignore", "params.yaml"], check=True)
    own = _pytest_in(
        tmp_path, "    Path(__file__).with_name('test.log').write_text('the user redirects output here')\n"
    )
    assert own.returncode == 0, own.stdout
    output = _pytest_in(
        tmp_path,
        "    (Path(__file__).parent / 'models').mkdir(exist_ok=True)\n"
        "    (Path(__file__).parent / 'models' / 'm.bin').write_text('x')\n",
    )
    assert output.returncode == 1 and "A models/m.bin" in output.stdout, output.stdout
