"""`iacsieve kfp check SPEC.yaml...`: does a compiled pipeline spec do what a real KFP backend runs?

kfp.local accepts specs that the backend (KFP v2: driver + launcher on Argo) fails or runs
differently. Each rule below encodes one backend behaviour of docs/kfp-backend-rules.md (its section
number in the rule's name) and its docstring names the backend source file it reads. `kfp compile`
and `kfp submit` run the same rules on what they compile, and refuse with one line per violation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from iacsieve.core.errors import IacsieveError
from iacsieve.kfp.image_ref import is_pinned
from iacsieve.method.cluster import duration_seconds

RULES_DOC = "docs/kfp-backend-rules.md"
IMPORTER_SCHEMES = ("gs://", "s3://", "minio://")
MODEL_SCHEMES = ("oci://",)


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
    """A compiled pipeline spec (IR YAML): its tasks per DAG, components and executors."""

    doc: dict[str, Any]
    gpu_budget: int | None = None  # cluster.parallelism; None: the largest loop's parallelismLimit

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

    def uses_gpu(self, component_name: str) -> bool:
        """Whether a component's container, or any task inside its DAG (loops nest), asks for a GPU."""
        component = self.components.get(component_name, {})
        if "dag" in component:
            return any(
                self.uses_gpu(t.get("componentRef", {}).get("name", ""))
                for t in (component["dag"].get("tasks") or {}).values()
            )
        container = self.executor({"componentRef": {"name": component_name}}).get("container", {})
        accelerator = (container.get("resources") or {}).get("accelerator") or {}
        return int(accelerator.get("resourceCount") or accelerator.get("count") or 0) > 0


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


def retry_deadline(spec: Spec) -> Iterator[Violation]:
    """3b. `backoffMaxDuration` is a deadline from the first attempt's start (Argo
    workflow/controller/operator.go `processNodeRetries`, passed through by
    backend/src/v2/compiler/argocompiler/container.go `getTaskRetryStrategyFromInput`): when the waits
    alone reach it, the last retries never happen."""
    for dag, key, task in spec.tasks():
        policy = task.get("retryPolicy") or {}
        retries = int(policy.get("maxRetryCount") or 0)
        if not retries:
            continue
        try:
            first = duration_seconds(str(policy.get("backoffDuration", "0s")))
            deadline = duration_seconds(str(policy.get("backoffMaxDuration", "3600s")))
        except ValueError as exc:
            yield Violation("3b-retry-deadline", dag, key, "retryPolicy", str(exc))
            continue
        factor = float(policy.get("backoffFactor") or 1)
        waits = sum(first * factor**i for i in range(retries))
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
    tasks needs a limit within the budget, and two such loops must never run at once."""
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
            loops.append((dag, key, task))
    limits = [int((t.get("iteratorPolicy") or {}).get("parallelismLimit") or 0) for _, _, t in loops]
    budget = spec.gpu_budget or max(limits, default=0)
    for (dag, key, _), limit in zip(loops, limits, strict=True):
        if limit <= 0 or (budget and limit > budget):
            yield Violation(
                "4a-gpu-parallelism",
                dag,
                key,
                "iteratorPolicy.parallelismLimit",
                f"{limit or 'no limit'}: a loop of GPU tasks needs a limit within the budget of {budget or '?'}",
            )
    for i, (dag, key, _) in enumerate(loops):
        for j in range(i + 1, len(loops)):
            other_dag, other, _ = loops[j]
            if dag == other_dag and not _ordered(spec, dag, key, other):
                yield Violation(
                    "4a-gpu-parallelism",
                    dag,
                    other,
                    "dependentTasks",
                    f"may run beside {key}: GPU loops add up (up to {limits[i] + limits[j]} GPU pods, "
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
    served stale results, so every image is named by digest or by a source-hash tag."""
    for dag, key, task in spec.tasks():
        image = spec.executor(task).get("container", {}).get("image")
        if image is not None and not is_pinned(image):
            yield Violation(
                "4b-image",
                dag,
                key,
                "image",
                f"{image}: name it by digest (@sha256:...) or by its source tag "
                "(<version>-src.<hash>, what make image tags)",
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
)


def check_doc(doc: dict[str, Any], gpu_budget: int | None = None) -> list[Violation]:
    """Every violation of every rule in one compiled spec (its first YAML document)."""
    spec = Spec(doc, gpu_budget)
    return [v for rule in RULES for v in rule(spec)]


def load_spec(path: str | Path) -> dict[str, Any]:
    """The pipeline spec in a compiled YAML file; a file that is not one is a one-line error."""
    try:
        with open(path, encoding="utf-8") as handle:
            doc = next(yaml.safe_load_all(handle), None)
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise IacsieveError(f"{path}: cannot read a pipeline spec ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or "root" not in doc:
        raise IacsieveError(f"{path}: not a compiled pipeline spec (no `root`)")
    return doc


def check_files(paths: Iterable[str | Path], gpu_budget: int | None = None) -> list[str]:
    """One line per violation across `paths` (empty: they all conform)."""
    return [v.line(str(p)) for p in paths for v in check_doc(load_spec(p), gpu_budget)]


def refuse_violations(path: str | Path, gpu_budget: int | None = None, *, name: str | None = None) -> None:
    """For compile and submit: SpecViolations listing every violation (one line each), or nothing."""
    lines = [v.line(name or str(path)) for v in check_doc(load_spec(path), gpu_budget)]
    if lines:
        raise SpecViolations(lines)
