"""KFP components: the library's steps as lightweight Python components with typed artifacts.

`build_components(image)` turns the functions in `step_functions.py` into components running in `image`
(the project image, container/Dockerfile). The image is a parameter, not a constant, because it is a
setting (`cluster.image` in params.yaml, overridable on the command line). Components never pip
install at run time: the image (or, for kfp.local, this venv) already holds iacsieve and kfp.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
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
        return without_comments(dsl.component(func, base_image=image, install_kfp_package=False))

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


def without_comments(component: dsl.base_component.BaseComponent) -> dsl.base_component.BaseComponent:
    """`component` with the Python program KFP embeds in its command (the function's source) in a
    canonical form (`ast.unparse`: no comments, one layout), so a comment or formatting edit of a
    step function changes no compiled spec; only a change of what the code does can."""
    command = component.component_spec.implementation.container.command
    command[-1] = "\n" + ast.unparse(ast.parse(command[-1])) + "\n"
    return component


def named(component: dsl.base_component.BaseComponent, name: str) -> dsl.base_component.BaseComponent:
    """`component` under another name: KFP keys a task by its component's name (made unique within
    one DAG only), and the launcher's output path holds that key (`iacsieve.kfp.task_keys`). The
    body, image and interface are the same; only the spec's name (and so the task key) differs."""
    renamed = copy.copy(component)
    renamed.component_spec = dataclasses.replace(component.component_spec, name=name)
    renamed.name = name
    return renamed


__all__ = ["DEFAULT_IMAGE", "StepComponents", "build_components", "named"]
