"""The one place that decides which champion a command uses when `--model` is not given: the archive the
package ships (`layout.BUNDLED_CHAMPION`, package data), so a fresh `pip install` can filter at once.

The archive is verified like any other (`iacsieve.release.archive`); its SHA-256 is what SARIF and the
summary record, the same `iacsieve champion verify` prints.
"""

from __future__ import annotations

from pathlib import Path

from iacsieve import __version__
from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import BUNDLED_CHAMPION

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # src/iacsieve (or site-packages/iacsieve)
SOURCES: tuple[str, ...] = ("bundled", "archive", "folder")  # where a run's champion came from


def bundled_archive() -> Path:
    """The champion archive this install carries; IacsieveError when it carries none."""
    path = PACKAGE_ROOT / BUNDLED_CHAMPION
    if not path.is_file():
        raise IacsieveError(
            f"this iacsieve {__version__} carries no bundled champion ({path}); pass --model DIR|ARCHIVE "
            f"(a champion folder or archive: docs/champion.md)"
        )
    return path


def default_model(model: str | None) -> tuple[str, str]:
    """(the model to use, where it came from: one of SOURCES) for a `--model` value or None."""
    if model is None:
        return str(bundled_archive()), "bundled"
    return model, "folder" if Path(model).is_dir() else "archive"
