"""Wheels without a network: repack distributions installed in this venv, and build iacsieve's own.

The install test needs the base dependencies as wheels for `pip install --no-index --find-links`.
The pip cache may be empty and tests never download, but this venv holds exactly the pinned versions:
an installed distribution's files (its RECORD) plus its dist-info (WHEEL keeps the original tags) are
what the wheel unpacked, so zipping them back gives an installable wheel of the same version.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

SKIP_DIST_INFO = {"INSTALLER", "REQUESTED", "direct_url.json"}  # written by the installer, not the wheel


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(requirements: list[str]) -> list[str]:
    """Names of the installed distributions `requirements` need (no extras), transitively."""
    todo, seen = [Requirement(r) for r in requirements], {}
    while todo:
        req = todo.pop()
        key = _norm(req.name)
        if key in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        dist = metadata.distribution(req.name)
        seen[key] = dist.metadata["Name"]
        todo += [Requirement(r) for r in dist.requires or []]
    return sorted(seen.values(), key=_norm)


def repack(name: str, dest: Path) -> Path:
    """A wheel of the installed distribution `name`, written into `dest`."""
    dist = metadata.distribution(name)
    wheel_info = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_info.splitlines() if line.startswith("Tag:")]
    if not tags:
        raise RuntimeError(f"{name}: no wheel tag in its dist-info (not installed from a wheel)")
    stem = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    path = dest / f"{stem}-{dist.version}-{tags[0]}.whl"
    root = Path(dist.locate_file(""))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:  # local only: speed over size
        for file in dist.files or []:
            parts = Path(file).parts
            if parts[0] == ".." or "__pycache__" in parts or file.name in SKIP_DIST_INFO:
                continue  # scripts outside site-packages: pip regenerates them from entry_points.txt
            if (root / file).is_file():
                archive.write(root / file, str(file))
    return path


def base_wheelhouse(requirements: list[str], dest: Path) -> list[Path]:
    """Every distribution `requirements` need, repacked from this venv into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    return [repack(name, dest) for name in dependency_closure(requirements)]


def build_own_wheel(repo: Path, dest: Path) -> Path:
    """iacsieve's wheel, built from a copy of the sources (the build writes nothing into the repo)."""
    source = dest / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / name, source / name)
    shutil.copytree(repo / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--disable-pip-version-check", "--wheel-dir", str(dest), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return next(dest.glob("iacsieve-*.whl"))
