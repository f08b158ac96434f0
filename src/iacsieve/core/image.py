"""The component image's name: its default (`iacsieve:<package version>`, what `make image` tags) and
the check that keeps a placeholder out of a compiled or submitted pipeline.

Why refuse: a spec naming `ghcr.io/OWNER/iacsieve:TAG` compiles fine and fails only when a pod
cannot pull it; `latest` (or no tag) defeats KFP's caching, which keys tasks by image name.
"""

from __future__ import annotations

import re

from iacsieve import __version__
from iacsieve.core.errors import IacsieveError

DEFAULT_IMAGE = f"iacsieve:{__version__}"
PLACEHOLDERS = ("OWNER", "TAG")


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; a registry port (`host:5000/x`) is no tag."""
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        return name, tag, digest or None
    return name, None, digest or None


def check_image(ref: str) -> str:
    """`ref` if a cluster can pull exactly it; else IacsieveError saying what to change."""
    if not ref or any(c.isspace() for c in ref):
        raise IacsieveError(f"image {ref!r}: empty or contains white space")
    found = [p for p in PLACEHOLDERS if re.search(rf"(?<![A-Za-z0-9]){p}(?![A-Za-z0-9])", ref)]
    if found:
        raise IacsieveError(
            f"image {ref}: replace the placeholder {' and '.join(found)} with your registry path "
            f"and a version tag (build it: make image; docker/README.md)"
        )
    repository, tag, digest = split_image(ref)
    if repository != repository.lower():
        raise IacsieveError(f"image {ref}: the repository name must be lower case")
    if digest is None and tag in (None, "latest"):
        raise IacsieveError(
            f"image {ref}: name a version or commit tag, not {'latest' if tag else 'no tag (latest)'} "
            f"(KFP caches tasks by image name), e.g. {repository}:{__version__}"
        )
    return ref
