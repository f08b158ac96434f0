"""`make kfp-specs`: the checked-in, loadable KFP specs at the top of the repo.

- `components/<step>/component.yaml`: each step component (`kfp.components.load_component_from_file`
  loads it), so a KFP user can compose the steps into pipelines of their own;
- `pipelines/stage{1..4}.yaml`, `pipelines/all-stages.yaml`: the method's pipelines as compiled
  from params.yaml's cluster profile, checked by `iacsieve.kfp.check` (reference mode); to run one,
  compile it with your image (`iacsieve kfp compile`), or replace the placeholder image.

Both name the placeholder image `registry.example.org/iacsieve:<version>` (`REFERENCE_IMAGE`), never
a source-hash tag, so they change only when the graph does (a comment under src/ changes none of
them); `kfp compile` / `submit` bind your registry's image, by its source tag, for a cluster.

They are generated, never hand-edited: a test regenerates them into a temp dir and fails with
"stale: run make kfp-specs" when the checked-in copies differ.
"""

from __future__ import annotations

import tempfile
from dataclasses import fields
from pathlib import Path

from iacsieve.core.image import REFERENCE_IMAGE
from iacsieve.core.layout import PARAMS_FILE
from iacsieve.io.atomic import atomic_write_text
from iacsieve.method.plan import STAGES

SPEC_PROFILE = "cluster"
SPEC_IMAGE = REFERENCE_IMAGE  # a placeholder; compile and submit bind your image by its source tag


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
    from iacsieve.method.params import load_params

    root = Path(root)
    components = build_components(image)  # as given: the reference image, bound when compiling
    targets: list[tuple[object, Path]] = [
        (getattr(components, f.name), root / "components" / step_dir_name(f.name) / "component.yaml")
        for f in fields(StepComponents)
        if f.name != "image"
    ]
    stages: tuple[int | str, ...] = (*STAGES, ALL)
    for stage in stages:
        name = "all-stages" if stage == ALL else f"stage{stage}"
        targets.append(
            (
                build_pipeline(stage, params_path, profile, image=image, pin_image=False),
                root / "pipelines" / f"{name}.yaml",
            )
        )
    written = []
    with tempfile.TemporaryDirectory(prefix="iacsieve-specs-") as tmp:
        cluster = load_params(params_path, profile=profile).cluster
        budget = cluster.parallelism * max(1, cluster.pods.resources["train"].gpu)
        for i, (component, path) in enumerate(targets):
            scratch = Path(tmp) / f"{i}.yaml"
            compiler.Compiler().compile(component, str(scratch))
            if path.parent.name == "pipelines":
                refuse_violations(
                    scratch,
                    budget,
                    name=str(path),
                    train_time_budget=cluster.pods.retry.train_time_budget,
                    cluster=False,
                )
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
