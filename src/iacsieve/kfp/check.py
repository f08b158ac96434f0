"""`iacsieve kfp check SPEC.yaml...`: does a compiled pipeline spec do what a real KFP backend runs?

kfp.local accepts specs that the backend (KFP v2: driver + launcher on Argo) fails or runs
differently. Each rule below encodes one backend behaviour of docs/kfp-backend-rules.md (its section
number in the rule's name) and its docstring names the backend source file it reads. `kfp compile`
and `kfp submit` run the same rules on what they compile, and refuse with one line per violation.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from iacsieve.core.errors import IacsieveError
from iacsieve.core.image import REFERENCE_IMAGE, registry_host
from iacsieve.core.json_values import is_number
from iacsieve.io.yaml_file import load_all
from iacsieve.kfp.image_ref import is_pinned
from iacsieve.method.cluster import (
    QUANTITY,
    Retry,
    duration_seconds,
    label_key_ok,
    label_value_ok,
    quantity_value,
)

RULES_DOC = "docs/kfp-backend-rules.md"
IMPORTER_SCHEMES = ("gs://", "s3://", "minio://")
MODEL_SCHEMES = ("oci://",)
SCHEMA_VERSION = "2.1.0"
RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
RFC1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
MAX_SPEC_BYTES = 64 * 2**20  # a compiled spec is well under 1 MiB
# A parameter's type in the IR -> whether a JSON value fits it.
PARAMETER_TYPES: dict[str, Callable[[Any], bool]] = {
    "STRING": lambda v: isinstance(v, str),
    "BOOLEAN": lambda v: isinstance(v, bool),
    "NUMBER_INTEGER": lambda v: is_number(v) and float(v).is_integer(),
    "NUMBER_DOUBLE": is_number,
    "LIST": lambda v: isinstance(v, list),
    "STRUCT": lambda v: isinstance(v, dict),
}


class SpecViolations(IacsieveError):
    """A compiled spec a real backend would fail or run otherwise; `lines`: one per violation."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Violation:
    """One place a spec breaks one rule: the task (its key, and the DAG holding it) and input at fault."""

    rule: str
    dag: str
    task: str
    input: str
    message: str

    def line(self, spec: str) -> str:
        where = self.task if self.dag == "root" else f"{self.dag}/{self.task}"
        return f"{spec}: task {where} input {self.input}: {self.message} [{self.rule}; {RULES_DOC}]"


@dataclass(frozen=True)
class Spec:
    """A compiled pipeline spec (IR YAML): its tasks per DAG, components and executors, and its
    platform document (the second YAML document: kfp-kubernetes settings per executor).

    `cluster`: a spec about to run (what compile and submit check), where the checked-in specs'
    placeholder image (`iacsieve.core.image.REFERENCE_IMAGE`, bound by compile) is refused too.
    """

    doc: dict[str, Any]
    gpu_budget: int | None = (
        None  # GPUs at once (cluster.parallelism x GPUs per train pod); None: the largest loop's
    )
    platform: dict[str, Any] = field(default_factory=dict)
    train_time_budget: float = duration_seconds(Retry().train_time_budget)
    cluster: bool = False

    @property
    def components(self) -> dict[str, Any]:
        return self.doc.get("components") or {}

    def dags(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield "root", self.doc.get("root") or {}
        for name, component in self.components.items():
            if "dag" in component:
                yield name, component

    def tasks(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(dag, task key, task) for every task of every DAG."""
        for name, dag in self.dags():
            for key, task in ((dag.get("dag") or {}).get("tasks") or {}).items():
                yield name, key, task

    def dag_tasks(self, dag: str) -> dict[str, Any]:
        """The tasks of DAG `dag` ("root" or a component's name)."""
        holder = self.doc.get("root", {}) if dag == "root" else self.components.get(dag, {})
        return (holder.get("dag") or {}).get("tasks") or {}

    def component(self, task: dict[str, Any]) -> dict[str, Any]:
        return self.components.get(task.get("componentRef", {}).get("name", ""), {})

    def executor(self, task: dict[str, Any]) -> dict[str, Any]:
        label = self.component(task).get("executorLabel", "")
        return ((self.doc.get("deploymentSpec") or {}).get("executors") or {}).get(label, {})

    def is_importer(self, task: dict[str, Any]) -> bool:
        return "importer" in self.executor(task)

    def gpus(self, component_name: str) -> int:
        """GPUs one pod of a component asks for; for a DAG (loops nest) the most any task in it asks."""
        component = self.components.get(component_name, {})
        if "dag" in component:
            return max(
                (
                    self.gpus(t.get("componentRef", {}).get("name", ""))
                    for t in (component["dag"].get("tasks") or {}).values()
                ),
                default=0,
            )
        container = self.executor({"componentRef": {"name": component_name}}).get("container", {})
        accelerator = (container.get("resources") or {}).get("accelerator") or {}
        try:
            return int(float(accelerator.get("resourceCount") or accelerator.get("count") or 0))
        except (TypeError, ValueError):
            return 0

    def uses_gpu(self, component_name: str) -> bool:
        """Whether a component's container, or any task inside its DAG (loops nest), asks for a GPU."""
        return self.gpus(component_name) > 0

    def executor_tasks(self, label: str) -> list[tuple[str, str]]:
        """(dag, task key) of every task that runs executor `label`."""
        return [
            (dag, key)
            for dag, key, task in self.tasks()
            if self.component(task).get("executorLabel") == label
        ]

    def dag_inputs(self, dag: str) -> dict[str, Any]:
        """The input parameters DAG `dag` declares (the pipeline's own for the root)."""
        holder = self.doc.get("root", {}) if dag == "root" else self.components.get(dag, {})
        return (holder.get("inputDefinitions") or {}).get("parameters") or {}


def caching_on(task: dict[str, Any]) -> bool:
    return bool((task.get("cachingOptions") or {}).get("enableCache"))


# ----------------------------------------------------------------------------- the rules


def importer_uri_from_task_output(spec: Spec) -> Iterator[Violation]:
    """1. An importer's runtime URI must come from its parent DAG's inputs, never a task output.

    backend/src/v2/component/importer_launcher.go `ImportSpecToMLMDArtifact` looks the input's
    `componentInputParameter` name up in the parent DAG execution (a `taskOutputParameter` has none:
    "parent DAG does not have input parameter"), and backend/src/v2/compiler/argocompiler/importer.go
    `importerTask` gives importers no Argo `depends`.
    """
    for dag, key, task in spec.tasks():
        uri = (task.get("inputs") or {}).get("parameters", {}).get("uri", {})
        if spec.is_importer(task) and "taskOutputParameter" in uri:
            producer = uri["taskOutputParameter"].get("producerTask", "?")
            yield Violation(
                "1-importer-uri",
                dag,
                key,
                "uri",
                f"importer URI from task {producer}'s output; the backend reads it only from the "
                "enclosing DAG's inputs (wrap the importer in a sub-pipeline taking the URI)",
            )


def importer_uri_scheme(spec: Spec) -> Iterator[Violation]:
    """4c. A constant importer URI must name an object store the launcher opens (gs://, s3://, minio://;
    a Model also oci://): local paths fail. backend/src/v2/objectstore/object_store.go `OpenBucket`,
    backend/src/v2/component/importer_launcher.go."""
    for dag, key, task in spec.tasks():
        uri = (task.get("inputs") or {}).get("parameters", {}).get("uri", {})
        constant = (uri.get("runtimeValue") or {}).get("constant")
        if spec.is_importer(task) and isinstance(constant, str):
            schemes = IMPORTER_SCHEMES + (
                MODEL_SCHEMES
                if "Model" in str(spec.executor(task)["importer"].get("typeSchema", {}).get("schemaTitle"))
                else ()
            )
            if not constant.startswith(schemes):
                yield Violation(
                    "4c-importer-scheme",
                    dag,
                    key,
                    "uri",
                    f"{constant!r}: the backend imports only {', '.join(schemes)} URIs",
                )


def collected_from_cache(spec: Spec) -> Iterator[Violation]:
    """2. A `dsl.Collected` input must never mix this run's artifacts with cached ones.

    backend/src/v2/component/launcher_v2.go `fetchNonDefaultBuckets` opens the run's prefix plus one
    bucket chosen from element 0 of an artifact list; a cached element lies under an earlier run's
    prefix (backend/src/v2/driver/cache.go `reuseCachedOutputs`) and fails the download. So the
    consumer and every producer of the list run with caching off.
    """
    for dag, key, task in spec.tasks():
        definitions = spec.component(task).get("inputDefinitions", {}).get("artifacts", {})
        for name, source in ((task.get("inputs") or {}).get("artifacts") or {}).items():
            if not definitions.get(name, {}).get("isArtifactList"):
                continue
            if caching_on(task):
                yield Violation(
                    "2-collected-cache", dag, key, name, "collects artifacts with caching on (set it off)"
                )
            for producer_dag, producer in _producers(spec, dag, source):
                if caching_on(spec.dag_tasks(producer_dag).get(producer, {})):
                    yield Violation(
                        "2-collected-cache",
                        dag,
                        key,
                        name,
                        f"element producer {producer} may come from the cache (an earlier run's "
                        "prefix the launcher does not open): set caching off on it",
                    )


def _producers(spec: Spec, dag: str, source: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """(dag, task) of the tasks whose outputs an artifact input collects, through loop DAG outputs."""
    ref = source.get("taskOutputArtifact")
    if not ref:
        return []
    producer = spec.dag_tasks(dag).get(ref.get("producerTask", ""), {})
    component_name = producer.get("componentRef", {}).get("name", "")
    component = spec.components.get(component_name, {})
    if "dag" not in component:
        return [(dag, ref.get("producerTask", ""))]
    found: list[tuple[str, str]] = []
    selectors = component["dag"].get("outputs", {}).get("artifacts", {}).get(ref.get("outputArtifactKey"), {})
    for selector in selectors.get("artifactSelectors") or []:
        inner = {
            "taskOutputArtifact": {
                "producerTask": selector.get("producerSubtask"),
                "outputArtifactKey": selector.get("outputArtifactKey"),
            }
        }
        found += _producers(spec, component_name, inner)
    return found


def retry_backoff_factor(spec: Spec) -> Iterator[Violation]:
    """3d. A backoff factor must be a whole number: the compiler prints it with `%v` (1.5 stays "1.5")
    and Argo parses it as an integer, erroring the node at its first retry.
    backend/src/v2/compiler/argocompiler/container.go `getTaskRetryParametersWithValues`."""
    for dag, key, task in spec.tasks():
        factor = (task.get("retryPolicy") or {}).get("backoffFactor")
        if factor is not None and not float(factor).is_integer():
            yield Violation(
                "3d-backoff-factor",
                dag,
                key,
                "retryPolicy.backoffFactor",
                f"{factor} is not a whole number (Argo parses an integer)",
            )


def retry_policies(spec: Spec) -> Iterator[tuple[str, str, tuple[int, float, float] | str]]:
    """(dag, task, (retries, the waits between them in s, backoffMaxDuration in s)) of every task that
    retries, or the duration's error text: what rules 3b and 3e read."""
    for dag, key, task in spec.tasks():
        policy = task.get("retryPolicy") or {}
        retries = int(policy.get("maxRetryCount") or 0)
        if not retries:
            continue
        try:
            first = duration_seconds(str(policy.get("backoffDuration", "0s")))
            deadline = duration_seconds(str(policy.get("backoffMaxDuration", "3600s")))
        except ValueError as exc:
            yield dag, key, str(exc)
            continue
        factor = float(policy.get("backoffFactor") or 1)
        yield dag, key, (retries, sum(first * factor**i for i in range(retries)), deadline)


def retry_deadline(spec: Spec) -> Iterator[Violation]:
    """3b. `backoffMaxDuration` is a deadline from the first attempt's start (Argo
    workflow/controller/operator.go `processNodeRetries`, passed through by
    backend/src/v2/compiler/argocompiler/container.go `getTaskRetryStrategyFromInput`): when the waits
    alone reach it, the last retries never happen."""
    for dag, key, retry in retry_policies(spec):
        if isinstance(retry, str):
            yield Violation("3b-retry-deadline", dag, key, "retryPolicy", retry)
            continue
        retries, waits, deadline = retry
        if deadline <= waits:
            yield Violation(
                "3b-retry-deadline",
                dag,
                key,
                "retryPolicy.backoffMaxDuration",
                f"{deadline:.0f}s from the first attempt cannot hold {retries} retries whose waits alone "
                f"take {waits:.0f}s (derive it from the attempts' time budget)",
            )


def retry_on_importer(spec: Spec) -> Iterator[Violation]:
    """3c. Importers (and drivers) get no retryStrategy: a retry policy on one is silently dropped.
    backend/src/v2/compiler/argocompiler/importer.go `importerTask`."""
    for dag, key, task in spec.tasks():
        if spec.is_importer(task) and task.get("retryPolicy"):
            yield Violation(
                "3c-importer-retry", dag, key, "retryPolicy", "the backend never retries an importer"
            )


def gpu_parallelism(spec: Spec) -> Iterator[Violation]:
    """4a. `parallelismLimit` caps one loop only (backend/src/v2/compiler/argocompiler/dag.go
    `iteratorTask`: the Argo `parallelism` of that loop's template; no run-wide cap): a loop with GPU
    tasks may hold its limit times the GPUs each of its pods asks for, which must stay within the
    budget (counted in GPUs, not pods), and two such loops must never run at once."""
    loops = []
    for dag, key, task in spec.tasks():
        name = task.get("componentRef", {}).get("name", "")
        if (
            "iteratorPolicy" not in task
            and "parameterIterator" not in task
            and "artifactIterator" not in task
        ):
            continue
        if spec.uses_gpu(name):
            loops.append((dag, key, task, spec.gpus(name)))
    limits = [int((t.get("iteratorPolicy") or {}).get("parallelismLimit") or 0) for _, _, t, _ in loops]
    held = [limit * gpus for limit, (_, _, _, gpus) in zip(limits, loops, strict=True)]
    budget = spec.gpu_budget or max(held, default=0)
    for (dag, key, _, gpus), limit in zip(loops, limits, strict=True):
        if limit <= 0 or (budget and limit * gpus > budget):
            yield Violation(
                "4a-gpu-parallelism",
                dag,
                key,
                "iteratorPolicy.parallelismLimit",
                f"{limit or 'no limit'}"
                + (f" x {gpus} GPUs per pod" if limit and gpus > 1 else "")
                + f": a loop of GPU tasks needs a limit within the budget of {budget or '?'} GPUs",
            )
    for i, (dag, key, _, _) in enumerate(loops):
        for j in range(i + 1, len(loops)):
            other_dag, other, _, _ = loops[j]
            if dag == other_dag and not _ordered(spec, dag, key, other):
                yield Violation(
                    "4a-gpu-parallelism",
                    dag,
                    other,
                    "dependentTasks",
                    f"may run beside {key}: GPU loops add up (up to {held[i] + held[j]} GPUs, "
                    f"budget {budget}); make it wait for {key}'s stage",
                )


def _ordered(spec: Spec, dag: str, a: str, b: str) -> bool:
    """Whether task `b` (transitively) waits for `a`, or `a` for `b`, in one DAG."""
    tasks = spec.dag_tasks(dag)

    def upstream(key: str) -> set[str]:
        seen: set[str] = set()
        stack = [key]
        while stack:
            for dep in tasks.get(stack.pop(), {}).get("dependentTasks") or []:
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        return seen

    return a in upstream(b) or b in upstream(a)


def resource_requests(spec: Spec) -> Iterator[Violation]:
    """A cluster spec (any container with resources) gives every container CPU and memory requests:
    quota'd namespaces reject pods without them. backend/src/v2/compiler/argocompiler/container.go
    (the IR's resources become the pod's; none given, none asked)."""
    containers = []
    for dag, key, task in spec.tasks():
        container = spec.executor(task).get("container")
        if container is not None:
            containers.append((dag, key, container.get("resources") or {}))
    if not any(resources for _, _, resources in containers):
        return
    for dag, key, resources in containers:
        for name in ("resourceCpuRequest", "resourceMemoryRequest"):
            if not resources.get(name):
                yield Violation("pods-resources", dag, key, f"resources.{name}", "missing on a cluster spec")


def image_pinned(spec: Spec) -> Iterator[Violation]:
    """4b. The cache key holds the image *string* (backend/src/v2/driver/cache.go `getFingerPrint`,
    backend/src/v2/cacheutils/cache.go `GenerateCacheKey`): an image rebuilt under the same tag is
    served stale results, so every image is named by digest or by a source-hash tag. A checked-in
    (reference) spec names the placeholder `REFERENCE_IMAGE`, which compile binds; a cluster spec
    (`--cluster`, compile, submit) may not."""
    for dag, key, task in spec.tasks():
        image = spec.executor(task).get("container", {}).get("image")
        if image is None or (image == REFERENCE_IMAGE and not spec.cluster):
            continue
        if image == REFERENCE_IMAGE:
            message = f"{image}: the checked-in specs' placeholder; compile with your registry's image"
        elif not is_pinned(image):
            message = (
                f"{image}: name it by digest (@sha256:...) or by its source tag "
                "(<version>-src.<hash>, what make image tags)"
            )
        else:
            continue
        yield Violation("4b-image", dag, key, "image", message)


def image_registry(spec: Spec) -> Iterator[Violation]:
    """4d. An image must name its registry host (`host[:port]/path:tag` or a digest): the driver puts
    the string in the pod as is (backend/src/v2/compiler/argocompiler/container.go
    `containerExecutorTemplate`, the `image` of the user container), and the kubelet completes a
    host-less name to docker.io/library/...: ImagePullBackOff, or a stranger's image."""
    for dag, key, task in spec.tasks():
        image = spec.executor(task).get("container", {}).get("image")
        if isinstance(image, str) and registry_host(image) is None:
            yield Violation(
                "4d-image-registry",
                dag,
                key,
                "image",
                f"{image}: names no registry host (the kubelet would pull docker.io/library/...); "
                "name it host[:port]/path:tag",
            )


def importer_input_of_its_dag(spec: Spec) -> Iterator[Violation]:
    """1b. An importer's `componentInputParameter` must be an input of its *own* DAG:
    backend/src/v2/component/importer_launcher.go `ImportSpecToMLMDArtifact` looks the name up among
    the parameters of the DAG execution that encloses the importer ("parent DAG does not have input
    parameter"), not the pipeline's or an outer DAG's."""
    for dag, key, task in spec.tasks():
        uri = (task.get("inputs") or {}).get("parameters", {}).get("uri", {})
        name = uri.get("componentInputParameter")
        if spec.is_importer(task) and name is not None and name not in spec.dag_inputs(dag):
            yield Violation(
                "1b-importer-input",
                dag,
                key,
                "uri",
                f"{name!r} is not an input of its own DAG {dag!r}; the backend resolves it only there",
            )


def importer_condition(spec: Spec) -> Iterator[Violation]:
    """1c. An importer runs with no driver and no `when` (backend/src/v2/compiler/argocompiler/importer.go
    `importerTask`, backend/src/v2/compiler/argocompiler/dag.go): a condition (`triggerPolicy`) on it
    is never evaluated, so it imports whether the branch is taken or not; put it inside the branch's
    sub-DAG instead."""
    for dag, key, task in spec.tasks():
        if spec.is_importer(task) and (task.get("triggerPolicy") or {}).get("condition"):
            yield Violation(
                "1c-importer-condition",
                dag,
                key,
                "triggerPolicy",
                "a condition on an importer is ignored by the backend (it always imports)",
            )


def platform_settings(spec: Spec) -> Iterator[Violation]:
    """5a. The platform document (kfp-kubernetes) is applied by the driver to each pod
    (backend/src/v2/driver/driver.go `extendPodSpecPatch`): node-selector labels are a
    map<string, string> (a YAML boolean fails to parse), an emptyDir `sizeLimit` goes through
    `k8sres.MustParse` (not a quantity: the driver panics), and a PVC name must be an RFC 1123
    subdomain or the pod is refused."""
    executors = (
        ((spec.platform.get("platforms") or {}).get("kubernetes") or {}).get("deploymentSpec") or {}
    ).get("executors") or {}
    for label, config in executors.items():
        where = spec.executor_tasks(label) or [("root", label)]
        for problem, field_name in _platform_problems(config or {}):
            for dag, key in where:
                yield Violation("5a-platform", dag, key, field_name, problem)


TOLERATION_OPERATORS = ("", "Exists", "Equal")
TAINT_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")


def _constant_names(mount: dict[str, Any], name_key: str, parameter_key: str) -> list[Any]:
    """The constant names a kfp-kubernetes mount gives (it writes both the plain and the parameter form)."""
    parameter = ((mount.get(parameter_key) or {}).get("runtimeValue") or {}).get("constant")
    return [n for n in (mount.get(name_key), parameter) if n is not None]


def _platform_problems(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    labels = (config.get("nodeSelector") or {}).get("labels") or {}
    for name, value in labels.items():
        if not label_key_ok(name):
            yield f"{name!r} is not a Kubernetes label key", "nodeSelector.labels"
        elif not label_value_ok(value):
            yield (
                f"{name}: {value!r} is not a label value (a string: quote true/false and numbers)",
                "nodeSelector.labels",
            )
    for toleration in config.get("tolerations") or []:
        toleration = toleration or {}
        operator, effect = toleration.get("operator", ""), toleration.get("effect", "")
        if operator not in TOLERATION_OPERATORS or effect not in TAINT_EFFECTS:
            yield (
                f"toleration operator {operator!r} / effect {effect!r} is not one Kubernetes takes",
                "tolerations",
            )
        elif operator == "Exists" and toleration.get("value"):
            yield "a toleration with operator Exists takes no value", "tolerations"
    for mount in config.get("emptyDirMounts") or []:
        mount = mount or {}
        size = mount.get("sizeLimit")
        if size not in (None, "") and not (isinstance(size, str) and QUANTITY.match(size)):
            yield f"sizeLimit {size!r} is not a Kubernetes quantity (e.g. 8Gi)", "emptyDirMounts.sizeLimit"
        medium = mount.get("medium") or ""
        if not (medium in ("", "Memory") or str(medium).startswith("HugePages")):
            yield f'medium {medium!r} is not an emptyDir medium ("" or Memory)', "emptyDirMounts.medium"
    for mount in config.get("pvcMount") or []:
        for name in _constant_names(mount or {}, "constant", "pvcNameParameter"):
            if not (isinstance(name, str) and RFC1123_SUBDOMAIN.match(name)):
                yield f"PVC name {name!r} is not an RFC 1123 name (lower case, digits, -, .)", "pvcMount"
    for kind in ("secretAsEnv", "secretAsVolume"):
        for mount in config.get(kind) or []:
            for name in _constant_names(mount or {}, "secretName", "secretNameParameter"):
                if not (isinstance(name, str) and RFC1123_SUBDOMAIN.match(name)):
                    yield f"secret name {name!r} is not an RFC 1123 name", kind


def schema_version(spec: Spec) -> Iterator[Violation]:
    """5b. The API server takes IR `schemaVersion` 2.1.0 only (backend/src/apiserver/template/template.go
    and v2_template.go; its test data keeps a 2.0.0 spec as the refused case)."""
    version = spec.doc.get("schemaVersion")
    if version != SCHEMA_VERSION:
        yield Violation(
            "5b-schema-version",
            "root",
            "(pipeline)",
            "schemaVersion",
            f"{version!r}: the backend takes {SCHEMA_VERSION}",
        )


def pipeline_name_label(spec: Spec) -> Iterator[Violation]:
    """5c. The pipeline's name becomes the Argo Workflow's `generateName`
    (backend/src/v2/compiler/argocompiler/argo.go `Compile`), which Kubernetes refuses unless it is a
    lower-case RFC 1123 label (letters, digits, `-`; at most 63)."""
    name = (spec.doc.get("pipelineInfo") or {}).get("name")
    if not (isinstance(name, str) and RFC1123_LABEL.match(name)):
        yield Violation(
            "5c-pipeline-name",
            "root",
            "(pipeline)",
            "pipelineInfo.name",
            f"{name!r} is not a lower-case RFC 1123 label (the Workflow's generateName)",
        )


RESOURCE_PAIRS = (
    ("resourceCpuRequest", "resourceCpuLimit"),
    ("resourceMemoryRequest", "resourceMemoryLimit"),
)


def resource_quantities(spec: Spec) -> Iterator[Violation]:
    """5d. The driver parses each container's resource strings as Kubernetes quantities
    (backend/src/v2/driver/driver.go `initPodSpecPatch`, `k8sres.ParseQuantity`: `2GB` fails the
    task) and the API server refuses a pod whose request exceeds its limit."""
    for dag, key, task in spec.tasks():
        resources = spec.executor(task).get("container", {}).get("resources") or {}
        values: dict[str, float] = {}
        for name in (n for pair in RESOURCE_PAIRS for n in pair):
            text = resources.get(name)
            if text in (None, ""):
                continue
            try:
                values[name] = quantity_value(str(text))
            except ValueError:
                yield Violation(
                    "5d-resources", dag, key, f"resources.{name}", f"{text!r} is not a Kubernetes quantity"
                )
        accelerator = resources.get("accelerator") or {}
        count = accelerator.get("resourceCount", accelerator.get("count"))
        if count not in (None, "") and not re.fullmatch(r"[0-9]+", str(count).removesuffix(".0")):
            yield Violation(
                "5d-resources", dag, key, "resources.accelerator", f"{count!r} GPUs is not a whole number"
            )
        elif count not in (None, "", 0, "0") and not accelerator.get("resourceType", accelerator.get("type")):
            yield Violation(
                "5d-resources", dag, key, "resources.accelerator", "a GPU count with no resource type"
            )
        for request, limit in RESOURCE_PAIRS:
            if request in values and limit in values and values[request] > values[limit]:
                yield Violation(
                    "5d-resources",
                    dag,
                    key,
                    f"resources.{request}",
                    f"{resources[request]} is above the limit {resources[limit]}",
                )


def parameter_types(spec: Spec) -> Iterator[Violation]:
    """5e. Constants, defaults and loop items must match the consuming input's `parameterType`: the
    driver checks every resolved value against it (backend/src/v2/driver/resolve.go `resolveInputs`,
    the parameter type check) and fails the task on a mismatch."""
    for dag in ("root", *spec.components):
        for name, definition in spec.dag_inputs(dag).items():
            kind = (definition or {}).get("parameterType", "")
            default = (definition or {}).get("defaultValue")
            if default is not None and kind in PARAMETER_TYPES and not PARAMETER_TYPES[kind](default):
                yield Violation(
                    "5e-parameter-type",
                    dag,
                    "(inputs)",
                    name,
                    f"default {default!r} is not a {kind}",
                )
    for dag, key, task in spec.tasks():
        definitions = spec.component(task).get("inputDefinitions", {}).get("parameters") or {}
        for name, source in ((task.get("inputs") or {}).get("parameters") or {}).items():
            if "runtimeValue" not in (source or {}) or name not in definitions:
                continue
            kind = definitions[name].get("parameterType", "")
            value = (source["runtimeValue"] or {}).get("constant")
            if kind in PARAMETER_TYPES and not PARAMETER_TYPES[kind](value):
                yield Violation("5e-parameter-type", dag, key, name, f"constant {value!r} is not a {kind}")
        yield from _loop_item_types(spec, dag, key, task)


def _loop_item_types(spec: Spec, dag: str, key: str, task: dict[str, Any]) -> Iterator[Violation]:
    iterator = task.get("parameterIterator") or {}
    raw = (iterator.get("items") or {}).get("raw")
    if raw is None:
        return
    try:
        items = json.loads(raw)
    except (TypeError, ValueError):
        yield Violation("5e-parameter-type", dag, key, "parameterIterator.items", "raw items are not JSON")
        return
    if not isinstance(items, list):
        yield Violation("5e-parameter-type", dag, key, "parameterIterator.items", "raw items are not a list")
        return
    body = task.get("componentRef", {}).get("name", "")
    for inner, consumer in spec.dag_tasks(body).items():
        definitions = spec.component(consumer).get("inputDefinitions", {}).get("parameters") or {}
        for name, source in ((consumer.get("inputs") or {}).get("parameters") or {}).items():
            if (source or {}).get("componentInputParameter") != iterator.get("itemInput"):
                continue
            kind = (definitions.get(name) or {}).get("parameterType", "")
            bad = [item for item in items if kind in PARAMETER_TYPES and not PARAMETER_TYPES[kind](item)]
            if bad:
                yield Violation(
                    "5e-parameter-type",
                    dag,
                    key,
                    "parameterIterator.items",
                    f"item {bad[0]!r} is not a {kind} (task {inner} input {name})",
                )


def retry_budget(spec: Spec) -> Iterator[Violation]:
    """3e. Argo's `backoffMaxDuration` is a deadline from the first attempt's start (Argo
    workflow/controller/operator.go, passed through by backend/src/v2/compiler/argocompiler/container.go
    `getTaskRetryStrategyFromInput`): below (retries + 1) x the time one attempt may take
    (`cluster.retry.train_time_budget`), a slow attempt is killed and the later retries never run."""
    for dag, key, retry in retry_policies(spec):
        if isinstance(retry, str):
            continue  # 3b says so
        retries, waits, deadline = retry
        needed = (retries + 1) * spec.train_time_budget
        if deadline <= waits:
            continue  # 3b says so: not even the waits fit
        if deadline < needed:
            yield Violation(
                "3e-retry-budget",
                dag,
                key,
                "retryPolicy.backoffMaxDuration",
                f"{deadline:.0f}s is below {retries + 1} attempts x {spec.train_time_budget:.0f}s "
                "(the train time budget): later attempts would be killed",
            )


Rule = Callable[[Spec], Iterator[Violation]]
RULES: tuple[Rule, ...] = (
    importer_uri_from_task_output,
    importer_uri_scheme,
    collected_from_cache,
    retry_backoff_factor,
    retry_deadline,
    retry_on_importer,
    gpu_parallelism,
    resource_requests,
    image_pinned,
    image_registry,
    importer_input_of_its_dag,
    importer_condition,
    platform_settings,
    schema_version,
    pipeline_name_label,
    resource_quantities,
    parameter_types,
    retry_budget,
)


def check_doc(
    doc: dict[str, Any],
    gpu_budget: int | None = None,
    *,
    platform: dict[str, Any] | None = None,
    train_time_budget: str | None = None,
    cluster: bool = False,
) -> list[Violation]:
    """Every violation of every rule in one compiled spec (and its platform document)."""
    budget = duration_seconds(train_time_budget or Retry().train_time_budget)
    spec = Spec(doc, gpu_budget, platform or {}, budget, cluster)
    return [v for rule in RULES for v in rule(spec)]


def load_documents(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pipeline spec and its platform document (or {}) in a compiled YAML file; a file that is not
    one (a FIFO or device included: never opened, so never blocking) is a one-line error."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise IacsieveError(
                f"{path}: not a regular file (a FIFO, device or folder); give a compiled spec"
            )
        if os.stat(path).st_size > MAX_SPEC_BYTES:
            raise IacsieveError(f"{path}: over {MAX_SPEC_BYTES // 2**20} MiB; not a compiled pipeline spec")
        with open(path, encoding="utf-8") as handle:
            docs = load_all(handle.read())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise IacsieveError(f"{path}: cannot read a pipeline spec ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise IacsieveError(f"{path}: nested too deeply to be a compiled pipeline spec") from None
    doc = docs[0] if docs else None
    if not isinstance(doc, dict) or "root" not in doc:
        raise IacsieveError(f"{path}: not a compiled pipeline spec (no `root`)")
    platform = docs[1] if len(docs) > 1 and isinstance(docs[1], dict) else {}
    return doc, platform


def load_spec(path: str | Path) -> dict[str, Any]:
    """The pipeline spec (first document) in a compiled YAML file."""
    return load_documents(path)[0]


def check_files(
    paths: Iterable[str | Path],
    gpu_budget: int | None = None,
    *,
    train_time_budget: str | None = None,
    cluster: bool = False,
) -> list[str]:
    """One line per violation across `paths` (empty: they all conform)."""
    lines = []
    for path in paths:
        doc, platform = load_documents(path)
        found = check_doc(
            doc, gpu_budget, platform=platform, train_time_budget=train_time_budget, cluster=cluster
        )
        lines += [v.line(str(path)) for v in found]
    return lines


def refuse_violations(
    path: str | Path,
    gpu_budget: int | None = None,
    *,
    name: str | None = None,
    train_time_budget: str | None = None,
    cluster: bool = True,
) -> None:
    """For compile and submit (cluster specs) and make kfp-specs (`cluster=False`): SpecViolations
    listing every violation (one line each), or nothing."""
    doc, platform = load_documents(path)
    found = check_doc(
        doc, gpu_budget, platform=platform, train_time_budget=train_time_budget, cluster=cluster
    )
    lines = [v.line(name or str(path)) for v in found]
    if lines:
        raise SpecViolations(lines)
