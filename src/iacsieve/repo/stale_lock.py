"""dvc.lock without the entries of stages that dvc.yaml no longer defines.

Why: DVC rewrites a stage's entry in dvc.lock when it runs the stage, and never removes the entry of
a stage that dvc.yaml dropped or renamed (treeverse/dvc#5293, closed unfixed). Nothing reads such an
entry, but every DVC command parses it. This repository's dvc.lock had grown to 3,363 lines, 1,923 of
them from stages renamed long ago; `dvc status` took 2.7 s, 2.0 s without them.

The current stage names are DVC's own (its resolver expands `foreach` and `matrix`). The file is
rewritten with DVC's round-trip YAML, the way `dvc remove` drops an entry, under DVC's repository
lock, and atomically, so a kill never leaves half a dvc.lock.
"""

from __future__ import annotations

import os
from pathlib import Path

from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import DVC_FILE, DVC_LOCK_FILE
from iacsieve.io.atomic import atomic_write_text


def prune_stale_stages(root: str | os.PathLike = ".") -> list[str]:
    """Remove from `root`/dvc.lock every stage dvc.yaml does not define; returns the names removed."""
    root = Path(root)
    lockfile = root / DVC_LOCK_FILE
    if not (root / DVC_FILE).is_file() or not lockfile.is_file() or not (root / ".dvc").is_dir():
        return []
    from dvc.dvcfile import ProjectFile
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc.utils.serialize import dumps_yaml, parse_yaml_for_update

    try:
        with Repo(os.fspath(root)) as repo, repo.lock:
            current = set(ProjectFile(repo, os.path.join(repo.root_dir, DVC_FILE)).resolver.get_keys())
            data = parse_yaml_for_update(lockfile.read_text(encoding="utf-8"), os.fspath(lockfile))
            stages = data.get("stages") if isinstance(data, dict) else None
            stale = [name for name in stages or {} if name not in current]
            if not stale:
                return []
            for name in stale:
                del data["stages"][name]
            atomic_write_text(lockfile, dumps_yaml(data))
    except (OSError, UnicodeDecodeError) as exc:
        raise IacsieveError(f"{lockfile}: unreadable: {exc}") from None
    except DvcException as exc:
        raise IacsieveError(f"{lockfile}: cannot prune stale stages: {exc}") from None
    return stale
