"""What the filter needs to know about a model directory: threshold, covered smells, context use.

Reads `champion.json` (when present) and `model_meta.json`; loads no weights.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from iacsieve import __version__
from iacsieve.core.champion_card import load_champion
from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import CHAMPION_FILE as CHAMPION_FILE  # re-exported for filtering.apply
from iacsieve.core.smells import canonical_smell
from iacsieve.io.limits import shorten
from iacsieve.models import read_meta

# What a champion covers when neither champion.json nor model_meta.json lists `smells`:
# the four smells of the training data (data/README.md).
DATASET_SMELLS: tuple[str, ...] = ("hard_coded_secret", "suspicious_comment", "use_of_http", "weak_crypto")


@dataclass(frozen=True)
class Champion:
    """What the filter needs to know about a model directory."""

    model_dir: Path
    threshold: float | None  # frozen threshold (None: a bare model dir without champion.json)
    covered: frozenset[str]  # canonical smells the model was trained on
    covered_recorded: bool  # False: `covered` is the dataset default, not read from the champion
    use_context: bool
    family: str
    info: dict  # champion.json (empty for a bare model dir)

    def cut(self, given: float | None, label: object) -> float:
        """The decision threshold in force: `given` (--threshold or an operating point), else the
        frozen one; a bare model without one is refused in one line naming `label` (the model)."""
        if given is not None:
            return float(given)
        if self.threshold is None:
            raise IacsieveError(f"{label}: no {CHAMPION_FILE} with a frozen threshold; pass --threshold")
        return self.threshold


def read_champion(model_dir: str | Path) -> Champion:
    """Read champion.json (when present) and model_meta.json; loads no weights."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise IacsieveError(f"{model_dir}: model directory not found")
    meta = read_meta(model_dir)
    info: dict = {}
    if os.path.lexists(model_dir / CHAMPION_FILE):  # a FIFO or a broken link is refused, not skipped
        info = dict(load_champion(model_dir))
    threshold = info.get("threshold")
    smells = info.get("smells", meta.get("smells"))
    if smells is None:
        covered, recorded = frozenset(DATASET_SMELLS), False
    else:
        if not isinstance(smells, list) or not all(isinstance(s, str) and canonical_smell(s) for s in smells):
            raise IacsieveError(
                f"{model_dir}: key 'smells': must be a list of known smell names, got {shorten(smells)}"
            )
        covered, recorded = frozenset(c for s in smells if (c := canonical_smell(s))), True
    return Champion(
        model_dir=model_dir,
        threshold=None if threshold is None else float(threshold),
        covered=covered,
        covered_recorded=recorded,
        use_context=bool(meta.get("use_context", info.get("use_context", False))),
        family=str(info.get("family", meta.get("family", "?"))),
        info=info,
    )


def champion_sha256(model_dir: str | Path) -> str:
    """SHA-256 over a model directory's files (relative names and contents, in name order): what a SARIF
    run records so a reader can tell which champion judged it."""
    root = Path(model_dir)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8", errors="surrogateescape") + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def record_provenance(provenance: dict | None, model_dir: str | Path) -> dict:
    """What a run records about its champion: where it came from, the package version, and a SHA-256: the
    archive's (as `champion verify` prints it) when the champion came as an archive (given or bundled),
    else the folder's own (`champion_sha256`, which no archive hash equals)."""
    given = dict(provenance or {})
    recorded = {
        "champion_source": given.get("champion_source", "folder"),
        "package_version": given.get("package_version", __version__),
    }
    if given.get("champion_sha256"):
        recorded.update(champion_sha256=given["champion_sha256"], champion_sha256_of="archive")
        recorded["champion_archive"] = given.get("champion_archive")
    else:
        recorded.update(champion_sha256=champion_sha256(model_dir), champion_sha256_of="folder")
    return recorded
