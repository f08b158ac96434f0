"""The component image's names, and the check that keeps a placeholder out of a cluster's pipeline.

- `DEFAULT_IMAGE` (`iacsieve:<package version>`): what `make image` tags on this machine, the image
  `kfp run-local --runner docker` runs. A cluster never pulls it: it names no registry, so the
  kubelet would pull `docker.io/library/iacsieve:…` (ImagePullBackOff, or a stranger's image).
- `REFERENCE_IMAGE` (`registry.example.org/iacsieve:<version>`, a reserved domain no one can own):
  what the checked-in specs name; `kfp compile` / `submit` bind your image (params.yaml's
  `cluster.image` or `--image`, which has no default: refused until set) by its source tag.

Why refuse: a spec naming `ghcr.io/OWNER/iacsieve:TAG` compiles fine and fails only when a pod
cannot pull it; `latest` (or no tag) defeats KFP's caching, which keys tasks by image name.
"""

from __future__ import annotations

import re

from iacsieve import __version__
from iacsieve.core.errors import IacsieveError

DEFAULT_IMAGE = f"iacsieve:{__version__}"
REFERENCE_REGISTRY = "registry.example.org"  # RFC 2606: reserved, never a real registry
REFERENCE_IMAGE = f"{REFERENCE_REGISTRY}/iacsieve:{__version__}"
PLACEHOLDERS = ("OWNER", "TAG")
# The container runtime's grammar of a reference (distribution/reference, regexp.go), host required:
# host[:port]/path[/path...][:tag][@digest]. A pod naming anything else fails with InvalidImageName.
_HOST_PART = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"\w[\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(
    rf"{_HOST_PART}(?:\.{_HOST_PART})*(?::[0-9]+)?/{_PATH_PART}(?:/{_PATH_PART})*(?::{_TAG})?(?:@{_DIGEST})?"
)
SET_IT = "set params.yaml's cluster.image (or pass --image) to your registry's copy, e.g. ghcr.io/you/iacsieve:{version}"


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; a registry port (`host:5000/x`) is no tag."""
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        return name, tag, digest or None
    return name, None, digest or None


def registry_host(ref: str) -> str | None:
    """The registry host an image reference names (`host[:port]/path`), or None when it names none.

    The container runtime's rule (distribution/reference): the first path component is a host only
    when it holds a `.` or a `:` or is `localhost`; otherwise the name is Docker Hub's.
    """
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def check_image(ref: str) -> str:
    """`ref` if a cluster can pull exactly it; else IacsieveError saying what to change."""
    set_it = SET_IT.format(version=__version__)
    if not ref:
        raise IacsieveError(f"image not set: {set_it}")
    if any(c.isspace() for c in ref):
        raise IacsieveError(f"image {ref!r}: contains white space")
    if registry_host(ref) == REFERENCE_REGISTRY:
        raise IacsieveError(f"image {ref}: the checked-in specs' placeholder; {set_it}")
    found = [p for p in PLACEHOLDERS if re.search(rf"(?<![A-Za-z0-9]){p}(?![A-Za-z0-9])", ref)]
    if found:
        raise IacsieveError(
            f"image {ref}: replace the placeholder {' and '.join(found)} with your registry path "
            f"and a version tag (build it: make image; container/README.md)"
        )
    if registry_host(ref) is None:
        raise IacsieveError(
            f"image {ref}: names no registry host (a cluster would pull docker.io/library/...); "
            f"name it host[:port]/path:tag, e.g. ghcr.io/you/{ref}"
        )
    repository, tag, digest = split_image(ref)
    if repository != repository.lower():
        raise IacsieveError(f"image {ref}: the repository name must be lower case")
    if not REFERENCE.fullmatch(ref):
        raise IacsieveError(
            f"image {ref}: not an image reference a container runtime reads: host[:port]/path[:tag][@digest], "
            f"a tag of letters, digits, '_', '.' and '-' (at most 128), e.g. ghcr.io/you/iacsieve:{__version__}"
        )
    if digest is None and tag in (None, "latest"):
        raise IacsieveError(
            f"image {ref}: name a version or commit tag, not {'latest' if tag else 'no tag (latest)'} "
            f"(KFP caches tasks by image name), e.g. {repository}:{__version__}"
        )
    return ref
