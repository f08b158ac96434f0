"""The container/ build scripts as modules and the container engine that answers here, for the tests that
build and run the images (tests/test_container.py, tests/test_filter_image.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

DOCKER = Path(__file__).resolve().parents[1] / "container"


def build_script(name: str) -> ModuleType:
    """container/<name>.py as a module (a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location(f"iacsieve_{name}", DOCKER / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answering_engine() -> str | None:
    """podman or docker, as `make image` picks it (build_image.find_engine); None where none answers."""
    script = build_script("build_image")
    try:
        return script.find_engine()
    except script.BuildError:
        return None
