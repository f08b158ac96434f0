"""Pod settings for a real cluster, applied to each KFP task by kind (`train`: GPU runs; `light`: the rest).

Every task gets CPU/memory requests and limits (quota'd namespaces reject pods without them) and
retries with exponential backoff (a preempted GPU node or a flaky bucket should not fail the
stage). Train tasks also get the GPU, node selector, tolerations, a memory-backed /dev/shm and,
when `cluster.weights.pvc` names a PersistentVolumeClaim, that volume with HF_HOME on it (and
HF_HUB_OFFLINE=1, so an air-gapped cluster never tries the hub). An object-store secret, when
named, becomes AWS_* / GOOGLE_* environment variables of every task that reads buckets itself.

The settings are parsed by `iacsieve.method.cluster`; `configure_task` is what the graph calls.
"""

from __future__ import annotations

from typing import Any

from iacsieve.method.cluster import KINDS, SHM_VOLUME, PodSettings


def configure_task(task: Any, settings: PodSettings, kind: str) -> Any:
    """Apply `settings` for a task of `kind` ("train" or "light"); returns the task for chaining."""
    from kfp import kubernetes

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    r = settings.resources[kind]
    task.set_cpu_request(r.cpu_request).set_cpu_limit(r.cpu_limit)
    task.set_memory_request(r.memory_request).set_memory_limit(r.memory_limit)
    if r.gpu > 0:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(r.gpu)
    if r.shm_size:  # PyTorch's DataLoader workers share tensors through /dev/shm (64 MiB by default)
        kubernetes.empty_dir_mount(
            task, volume_name=SHM_VOLUME, mount_path="/dev/shm", medium="Memory", size_limit=r.shm_size
        )
    retry = settings.retry
    if retry.num_retries > 0:
        task.set_retry(
            num_retries=retry.num_retries,
            backoff_duration=retry.backoff_duration,
            backoff_factor=int(retry.backoff_factor),
            backoff_max_duration=retry.backoff_max_duration,
        )
    if kind == "train":
        for key, value in settings.node_selector.items():
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
        for toleration in settings.tolerations:
            kubernetes.add_toleration(task, **toleration)
        weights = settings.weights
        if weights.pvc:
            kubernetes.mount_pvc(
                task, pvc_name=weights.pvc, mount_path=weights.mount_path, sub_path=weights.sub_path
            )
            task.set_env_variable("HF_HOME", weights.home)
            if weights.offline:
                task.set_env_variable("HF_HUB_OFFLINE", "1")
                task.set_env_variable("TRANSFORMERS_OFFLINE", "1")
    if settings.credentials.secret:
        kubernetes.use_secret_as_env(
            task, secret_name=settings.credentials.secret, secret_key_to_env=dict(settings.credentials.env)
        )
    return task
