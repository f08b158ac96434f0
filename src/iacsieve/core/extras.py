"""Which pip extra brings a missing module: a light install (`pip install iacsieve`) holds only what
`filter`, `review`, `explain` and `labels` need for a classical champion (numpy, PyYAML, mmh3); a command that reaches further says
which extra to add, in one line, instead of a traceback (pyproject.toml lists the extras)."""

from __future__ import annotations

# Top-level module (or dotted prefix) -> the extra that installs it. Longest prefix wins.
EXTRA_OF_MODULE: dict[str, str] = {
    "torch": "hf",
    "transformers": "hf",
    "tokenizers": "hf",
    "safetensors": "hf",
    "accelerate": "hf",
    "datasets": "train",
    "sklearn": "train",
    "scipy": "train",
    "skops": "train",
    "dvc": "pipeline",
    "dvclive": "pipeline",
    "kfp": "pipeline",
    "kfp.kubernetes": "pipeline",
    "matplotlib": "pipeline",
    "docker": "pipeline",
    "s3fs": "cluster",
    "gcsfs": "cluster",
    "dvc_s3": "cluster",
    "dvc_gs": "cluster",
}


def extra_for(module: str | None) -> str | None:
    """The extra that installs `module` (a ModuleNotFoundError's `name`), or None if not ours to name."""
    if not module:
        return None
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        extra = EXTRA_OF_MODULE.get(".".join(parts[:n]))
        if extra is not None:
            return extra
    return None


def missing_extra_message(module: str, extra: str) -> str:
    """The one line a user sees: what is missing and the pip command that brings it."""
    return (
        f"this command needs {module}, which the light install leaves out: pip install '.[{extra}]' in a "
        f"clone of iacsieve (docs/champion.md; never by bare name from an index)"
    )


def require(*modules: str) -> None:
    """Raise the ModuleNotFoundError the first missing module would, without importing any: a command
    whose heavy imports come late (plots checks its inputs before it imports matplotlib) still names
    the extra it needs before anything else."""
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
