"""Where SARIF URIs start: the repository a code-scanning UI shows, not the folder that was scanned.

A code-scanning UI (GitHub, GitLab, an IDE's SARIF viewer) opens `artifactLocation.uri` relative to the
repository's root, so by default URIs are relative to the nearest folder at or above `--scripts` that
holds a `.git` entry (a folder, or the file a worktree or a submodule has), else to `--scripts` itself.
`--uri-base` overrides it and must contain `--scripts`.
"""

from __future__ import annotations

import os
from pathlib import Path

from iacsieve.core.errors import IacsieveError


def repository_root(path: str | Path) -> Path | None:
    """The nearest folder at or above `path` (symlinks resolved) with a `.git` entry, or None."""
    real = Path(os.path.realpath(path))
    for folder in (real, *real.parents):
        if os.path.lexists(folder / ".git"):
            return folder
    return None


def resolve_uri_base(scripts_dir: str | Path, uri_base: str | Path | None = None) -> Path:
    """The real folder SARIF URIs are relative to: `uri_base` when given (it must hold `scripts_dir`),
    else the repository root containing `scripts_dir`, else `scripts_dir`."""
    scripts = Path(os.path.realpath(scripts_dir))
    if uri_base is None:
        return repository_root(scripts) or scripts
    base = Path(os.path.realpath(uri_base))
    if not base.is_dir():
        raise IacsieveError(f"--uri-base {uri_base}: not a folder")
    if base != scripts and base not in scripts.parents:
        raise IacsieveError(
            f"--uri-base {uri_base} does not contain --scripts {scripts_dir}; URIs relative to it "
            f"would leave it (give a folder at or above --scripts)"
        )
    return base
