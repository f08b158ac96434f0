"""Tests and the user's working tree: tests read private copies and must leave the tree as they found it.

A user may run any README command before `make test` (`dvc exp run -S ...` edits params.yaml,
`make repro` rewrites dvc.lock, models/ and results/). So tests never read those working files:
`repo_copy(name)` hands out a private copy of the file *as staged in git* (the index: in a fresh
clone, the committed file; `git add` an intentional edit to test it). And `WorktreeGuard` fails the
session when a project file under the repository was added, removed or changed while the tests ran:
a tracked file, or one the project itself writes (git-ignored outputs such as models/, results/).
A file that is neither (the user's own: `make test > test.log`) is theirs to change at any time.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Caches and tool state that running tests (or the interpreter) legitimately touch.
# Caches, not working files: the venv, tool caches, and build/ (make image-local's git-ignored wheelhouse,
# which the container test fills on its first run).
SKIP_DIRS = frozenset(
    {".git", ".venv", ".pytest_cache", "__pycache__", ".mypy_cache", ".ruff_cache", "build"}
)
SKIP_PATHS = frozenset({".dvc/tmp"})

_copies: dict[tuple[Path, str], Path] = {}


def repo_copy(name: str, root: Path = REPO) -> Path:
    """A private copy of `root/name` as staged in git (the working file outside a git checkout)."""
    key = (root.resolve(), name)
    if key not in _copies:
        folder = Path(tempfile.mkdtemp(prefix="iacsieve-test-copy-"))
        atexit.register(shutil.rmtree, folder, True)
        target = folder / Path(name).name
        staged = staged_text(name, root)
        if staged is None:
            shutil.copy(root / name, target)
        else:
            target.write_bytes(staged)
        _copies[key] = target
    return _copies[key]


def staged_text(name: str, root: Path = REPO) -> bytes | None:
    """`name` as staged in git's index, or None when `root` is no git checkout or `name` is untracked."""
    try:
        proc = subprocess.run(["git", "-C", str(root), "show", f":{name}"], capture_output=True, check=False)
    except FileNotFoundError:  # no git on PATH
        return None
    return proc.stdout if proc.returncode == 0 else None


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` (outside caches): relative path -> (size, mtime in ns)."""
    state: dict[str, tuple[int, int]] = {}
    for current, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(current, root)
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.endswith(".egg-info")
            and os.path.normpath(os.path.join(rel_dir, d)) not in SKIP_PATHS
        ]
        for name in files:
            path = os.path.join(current, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:  # removed while we walked
                continue
            state[os.path.normpath(os.path.join(rel_dir, name))] = (info.st_size, info.st_mtime_ns)
    return state


def changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """`A path` / `D path` / `M path` lines, sorted by path."""
    lines = [f"A {p}" for p in after.keys() - before.keys()]
    lines += [f"D {p}" for p in before.keys() - after.keys()]
    lines += [f"M {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted(lines, key=lambda line: line[2:])


def users_own_files(root: Path) -> set[str] | None:
    """Untracked files git does not ignore (the user's own, not the project's); None outside git."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--others", "--exclude-standard"],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:  # no git on PATH: watch everything
        return None
    if proc.returncode != 0:  # not a git checkout: watch everything
        return None
    return {os.path.normpath(p) for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p}


def project_changes(
    root: Path, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> list[str]:
    """`changes`, less the user's own files (untracked and not ignored, before or after)."""
    lines = changes(before, after)
    own = users_own_files(root)
    if own is None:
        return lines
    return [line for line in lines if line[2:] not in own]


class WorktreeGuard:
    """A pytest plugin: the session fails when the tests added, removed or changed a file under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.before: dict[str, tuple[int, int]] = {}

    def pytest_sessionstart(self, session) -> None:
        self.before = snapshot(self.root)

    def pytest_sessionfinish(self, session, exitstatus) -> None:
        changed = project_changes(self.root, self.before, snapshot(self.root))
        if not changed:
            return
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "the tests changed the working tree", red=True)
            for line in changed[:50]:
                reporter.write_line(line)
            if len(changed) > 50:
                reporter.write_line(f"... and {len(changed) - 50} more")
            reporter.write_line(
                "Tests must work on copies (tests/worktree.py: repo_copy, tmp_path). If you edited "
                "these files yourself while the tests ran, run them again."
            )
        session.exitstatus = 1
