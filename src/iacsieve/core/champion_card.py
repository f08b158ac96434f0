"""`champion.json` read and checked: the one reader for the filter, freeze, the archive and the reports.

Why a module of its own at the bottom layer: the filter (which must not import the training steps) and
the training steps and release (which must not import the filter) all read the same card.
"""

from __future__ import annotations

from pathlib import Path

from iacsieve.core import artifacts
from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import CHAMPION_FILE


def load_champion(champion: str | Path) -> artifacts.ChampionCard:
    """Read and validate `champion.json` (given the champion directory or the file itself)."""
    path = Path(champion)
    if path.is_dir() or path.suffix.lower() != ".json":
        path = path / CHAMPION_FILE
    data = artifacts.read_artifact(
        artifacts.CHAMPION,
        path,
        hint="freeze a champion with `iacsieve step freeze`",
        needs=artifacts.required_keys(artifacts.ChampionCard),
    )
    if not 0.0 <= data["threshold"] <= 1.0:
        raise IacsieveError(f"{path}: 'threshold' must be a number in [0, 1], got {data['threshold']!r}")
    return data
