"""The method on Kubeflow Pipelines: components, the graph, compile / submit / run-local / pull.

- `components.py` + `step_functions.py`: the steps as typed lightweight components
- `graph.py`: one pipeline per stage and one for all four, interpreting the stage plan
- `run.py`: compile, submit, run-local; `pull.py`: bring a champion home; `specs.py`: `make kfp-specs`

Imports are lazy: component bodies import `iacsieve.kfp.runtime` inside a task, where importing
the compiler (through this package) would be wasted work and, mid-way through KFP's own executor
start-up, a circular import.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "StageInputs": "run",
    "compile_stage": "run",
    "make_client": "run",
    "run_local": "run",
    "submit_stage": "run",
    "pull_champion": "pull",
    "build_pipeline": "graph",
    "pipeline_name": "graph",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"iacsieve.kfp.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'iacsieve.kfp' has no attribute {name!r}")
