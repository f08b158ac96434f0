"""`make kfp-specs`: the checked-in, loadable KFP specs at the top of the repo.

- `components/<step>/component.yaml`: each step component (`kfp.components.load_component_from_file`
  loads it), so a KFP user can compose the steps into pipelines of their own;
- `pipelines/stage{1..4}.yaml`, `pipelines/all-stages.yaml`: the method's pipelines as compiled
  from params.yaml's cluster profile, ready to upload in the KFP UI, checked by `iacsieve.kfp.check`.

Both name the image by its source tag (`iacsieve:<version>-src.<hash>`), so any change to src/,
pyproject.toml or the Dockerfile makes them stale: regenerate them with the change.

They are generated, never hand-edited: a test regenerates them into a temp dir and fails with
"stale: run make kfp-specs" when the checked-in copies differ.
"""

from __future__ import annotations

import tempfile
from dataclasses import fields
from pathlib import Path

from iacsieve import __version__
from iacsieve.core.layout import PARAMS_FILE
from iacsieve.io.atomic import atomic_write_text
from iacsieve.method.plan import STAGES

SPEC_PROFILE = "cluster"
SPEC_IMAGE = f"iacsieve:{__version__}"  # named by its source tag in the specs (what `make image` also tags)


def step_dir_name(field: str) -> str:
    return field.replace("_", "-")


def write_specs(
    root: str | Path = ".",
    params_path: str | Path = PARAMS_FILE,
    *,
    image: str = SPEC_IMAGE,
    profile: str = SPEC_PROFILE,
) -> list[Path]:
    """Compile every component and pipeline spec under `root`; returns the files written."""
    from kfp import compiler

    from iacsieve.kfp.check import refuse_violations
    from iacsieve.kfp.components import StepComponents, build_components
    from iacsieve.kfp.graph import ALL, build_pipeline
    from iacsieve.kfp.image_ref import pinned
    from iacsieve.method.params import load_params

    root = Path(root)
    components = build_components(pinned(image))
    targets: list[tuple[object, Path]] = [
        (getattr(components, f.name), root / "components" / step_dir_name(f.name) / "component.yaml")
        for f in fields(StepComponents)
        if f.name != "image"
    ]
    stages: tuple[int | str, ...] = (*STAGES, ALL)
    for stage in stages:
        name = "all-stages" if stage == ALL else f"stage{stage}"
        targets.append(
            (build_pipeline(stage, params_path, profile, image=image), root / "pipelines" / f"{name}.yaml")
        )
    written = []
    with tempfile.TemporaryDirectory(prefix="iacsieve-specs-") as tmp:
        budget = load_params(params_path, profile=profile).cluster.parallelism
        for i, (component, path) in enumerate(targets):
            scratch = Path(tmp) / f"{i}.yaml"
            compiler.Compiler().compile(component, str(scratch))
            if path.parent.name == "pipelines":
                refuse_violations(scratch, budget, name=str(path))
            written.append(atomic_write_text(path, scratch.read_text(encoding="utf-8")))
    return written


def spec_paths(root: str | Path = ".") -> list[Path]:
    """The files `write_specs` writes under `root` (for the output policy to check first)."""
    from iacsieve.kfp.components import StepComponents
    from iacsieve.kfp.graph import ALL

    root = Path(root)
    paths = [
        root / "components" / step_dir_name(f.name) / "component.yaml"
        for f in fields(StepComponents)
        if f.name != "image"
    ]
    names = ["all-stages" if stage == ALL else f"stage{stage}" for stage in (*STAGES, ALL)]
    return paths + [root / "pipelines" / f"{name}.yaml" for name in names]
