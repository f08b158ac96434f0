"""The one adapter over a private part of kfp.local: how many tasks it runs at once here.

Upstream limitation: kfp.local runs a ParallelFor's iterations on a thread pool whose size is fixed
at 2 (`kfp/local/orchestrator/enhanced_dag_orchestrator.py`, `ParallelExecutor.conservative_max`,
added with kfp.local's ParallelFor support, kubeflow/pipelines#11901), capped again by the spec's
`parallelism` (sized for cluster GPUs); `kfp.local.init` offers no setting for either (kfp 2.17).
Here each train task is a CPU process whose torch would take every core, so two of them on 2 cores
fight over the CPU. `core_workers` runs as many tasks as there are cores and gives each task one
intra-op thread (OMP/MKL/torch read these variables when the task's process starts).

Nothing else in iacsieve touches kfp.local's internals. Where a kfp release no longer has the class,
the adapter steps aside (kfp.local's own pool, one warning line) instead of failing the run; remove
this module once kfp.local takes a worker count.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

THREAD_VARIABLES: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPU cores this process may use, at least 1: its affinity mask (a cpuset), capped by a cgroup v2
    CPU quota (`cpu.max`, how containers are usually limited: "200000 100000" = 2 cores)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text(encoding="utf-8").split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return max(1, cores)


@contextlib.contextmanager
def core_workers(workers: int | None = None) -> Iterator[int]:
    """Within this, kfp.local runs up to `workers` (default: the available cores) tasks at once."""
    workers = workers or available_cores()
    try:
        from kfp.local.orchestrator import enhanced_dag_orchestrator as orchestrator

        base = orchestrator.ParallelExecutor
    except (ImportError, AttributeError):
        log.warning("kfp.local: no ParallelExecutor to size (a newer kfp?); running with its own pool")
        yield workers
        return

    class CoreExecutor(base):  # type: ignore[misc, valid-type]
        def __init__(self, max_workers: int | None = None) -> None:
            super().__init__(max_workers)
            self.conservative_max = self.max_workers = workers

        def execute_parallel_tasks(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["parallelism_limit"] = workers
            return super().execute_parallel_tasks(*args, **kwargs)

    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    orchestrator.ParallelExecutor = CoreExecutor
    log.debug("kfp.local: up to %d tasks at once, one thread each", workers)
    try:
        yield workers
    finally:
        orchestrator.ParallelExecutor = base
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
