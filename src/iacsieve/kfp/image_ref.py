"""How a compiled spec names the component image: by digest, or by a tag holding a hash of the source.

Why: KFP's cache key holds the image *string* (docs/kfp-backend-rules.md, 4b), so an image rebuilt
under the same tag (`iacsieve:0.1.0`) would be served the old image's cached results. A tag that
changes whenever what goes into the image changes (`iacsieve:0.1.0-src.<12 hex>`) cannot be.
`container/build_image.py` tags every build with `source_tag()` too, from this same module (stdlib only:
the build script loads it by path, without the package installed).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

SRC_ROOT = Path(__file__).resolve().parents[2]  # src/ of a checkout (site-packages when installed)
SOURCE_TAG = re.compile(r"-src\.[0-9a-f]{12}$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def source_files(repo: Path) -> list[Path]:
    """What the image is built from that changes its behaviour: pyproject.toml, the Dockerfile, src/."""
    files = [p for p in (repo / "pyproject.toml", repo / "container" / "Dockerfile") if p.is_file()]
    files += sorted(
        p
        for p in (repo / "src").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)
    )
    return files


def source_hash(repo: Path | None = None) -> str:
    """16 hex digits of sha256 over `source_files` (names and bytes): the image's label."""
    repo = repo or SRC_ROOT.parent
    digest = hashlib.sha256()
    for path in source_files(repo):
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def source_tag(version: str, repo: Path | None = None) -> str:
    """The tag of an image built from this source: `<version>-src.<12 hex>`."""
    return f"{version}-src.{source_hash(repo)[:12]}"


def is_pinned(ref: str) -> bool:
    """Whether `ref` names one build: a digest, or a source tag."""
    return bool(DIGEST.search(ref) or SOURCE_TAG.search(ref))


def pinned(ref: str, repo: Path | None = None) -> str:
    """`ref` as a spec should name it: a digest or source tag stays; `repo:TAG` becomes
    `repo:TAG-src.<hash>` (the tag `make image` gives this source's build; push that one)."""
    if is_pinned(ref):
        return ref
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:  # no tag (a registry port is not one): check_image refuses it earlier
        return ref
    return f"{name}:{source_tag(tag, repo)}"
