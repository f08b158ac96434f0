"""Where the two champions live, so pull-champion, report, plots and filter agree without importing each other.

`models/champion` is freeze4's output (`dvc repro` writes it). A champion pulled from a cluster run
has its own DVC-tracked folder (`dvc add`), and its small files (metrics.json in the shape of
reports/metrics.json, the stage-4 selection.json, report and plots) live in git beside it.
"""

from __future__ import annotations

from pathlib import Path

LOCAL_CHAMPION = Path("models/champion")
CLUSTER_CHAMPION = Path("models/cluster-champion")
CLUSTER_REPORTS = Path("reports/cluster-champion")
ORIGIN_FILE = "origin.json"  # inside a pulled champion: where it came from (source URI, run id)
