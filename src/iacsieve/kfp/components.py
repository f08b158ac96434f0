"""KFP components: the library's steps as lightweight Python components with typed artifacts.

`build_components(image)` turns the functions in `step_functions.py` into components running in `image`
(the project image, docker/Dockerfile). The image is a parameter, not a constant, because it is a
setting (`cluster.image` in params.yaml, overridable on the command line). Components never pip
install at run time: the image (or, for kfp.local, this venv) already holds iacsieve and kfp.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kfp import dsl

from iacsieve.core.image import DEFAULT_IMAGE
from iacsieve.kfp import step_functions as steps


@dataclass(frozen=True)
class StepComponents:
    """The step components, built for one image (`resolve` turns a previous stage's output into a
    run's settings, so train tasks take nothing but their settings and the data)."""

    image: str
    prepare: dsl.base_component.BaseComponent
    training_data: dsl.base_component.BaseComponent
    resolve: dsl.base_component.BaseComponent
    train: dsl.base_component.BaseComponent
    threshold_sweep: dsl.base_component.BaseComponent
    evaluate: dsl.base_component.BaseComponent
    select: dsl.base_component.BaseComponent
    freeze: dsl.base_component.BaseComponent


@functools.lru_cache(maxsize=8)
def build_components(image: str = DEFAULT_IMAGE) -> StepComponents:
    """Wrap every step function as a lightweight component whose base image is `image`."""

    def make(func: Callable[..., Any]) -> dsl.base_component.BaseComponent:
        return dsl.component(func, base_image=image, install_kfp_package=False)

    return StepComponents(  # field order = the order of components/<step>/ (make kfp-specs)
        image=image,
        prepare=make(steps.prepare),
        training_data=make(steps.training_data),
        resolve=make(steps.resolve),
        train=make(steps.train),
        threshold_sweep=make(steps.threshold_sweep),
        evaluate=make(steps.evaluate),
        select=make(steps.select),
        freeze=make(steps.freeze),
    )


__all__ = ["DEFAULT_IMAGE", "StepComponents", "build_components"]
