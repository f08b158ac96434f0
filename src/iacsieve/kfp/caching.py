"""`kfp submit --no-cache`: caching off for every task of every DAG of a compiled spec.

kfp.Client's `enable_caching` rewrites the tasks of the root DAG only (kfp/client/client.py
`_override_caching_options`), so tasks inside a ParallelFor body or a sub-pipeline (resolve, train,
the sweep, freeze) would still be served from the cache. This walks the root and every component's
DAG instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from iacsieve.io.atomic import atomic_write_text
from iacsieve.io.yaml_file import load_all


def every_task(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every task of the root DAG and of every component's DAG (loop bodies, sub-pipelines)."""
    holders = [doc.get("root") or {}, *(doc.get("components") or {}).values()]
    for holder in holders:
        yield from ((holder.get("dag") or {}).get("tasks") or {}).values()


def caching_off(path: str | Path) -> Path:
    """Rewrite the compiled spec at `path` (its platform document kept) with caching off everywhere."""
    path = Path(path)
    docs = load_all(path.read_text(encoding="utf-8"))
    for task in every_task(docs[0]):
        task["cachingOptions"] = {**(task.get("cachingOptions") or {}), "enableCache": False}
    return atomic_write_text(path, yaml.safe_dump_all(docs, sort_keys=False))
