"""One filter context: what `filter`, `review`, `explain` (and `scan`) are asked, as two objects, and the
filter's single entry taking them.

Why: the three commands each rebuilt the champion, threshold, scripts folder and scorer from long
keyword lists that drifted apart. `FilterOptions` is what judges a warning (model, detections, scripts
and limits, threshold or operating point); `OutputOptions` is where and how the verdicts are written.
`cli.filter_context` declares each flag group once and builds `FilterOptions` from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from iacsieve.filtering.analysed import NotAnalysed
from iacsieve.filtering.apply import filter_detections
from iacsieve.filtering.sarif import DEFAULT_CATEGORY
from iacsieve.io.limits import DEFAULT, Limits
from iacsieve.models import Scorer


@dataclass(frozen=True)
class FilterOptions:
    """What judges the warnings (None where the command's flag group was not added)."""

    model: str
    model_label: str | None = None  # the archive `--model` named when it was unpacked to a temp folder
    scripts: str | None = None
    detections: str | None = None
    detections_format: str | None = None
    tech: str | None = None
    on_missing: str = "error"
    limits: Limits = DEFAULT
    path_prefix_strip: str | None = None
    threshold: float | None = None
    threshold_source: str | None = None  # how `threshold` was chosen (an operating point); None: as given
    provenance: dict | None = None  # where the champion came from (cli.app: bundled or given, its SHA-256)

    @property
    def label(self) -> str:
        """The model's name in summaries and errors: the archive given, else the folder."""
        return self.model_label or str(Path(self.model))


@dataclass(frozen=True)
class OutputOptions:
    """Where and how `filter` writes its verdicts."""

    out: str
    fmt: str | None = None
    batch_size: int = 64
    sarif_all: bool = False
    uri_base: str | None = None
    baseline: str | None = None
    sarif_category: str = DEFAULT_CATEGORY
    evidence: bool = True
    explain: str | None = None
    sarif_suppressed: bool = False


def run_filter(
    options: FilterOptions,
    output: OutputOptions,
    scorer: Scorer | None = None,
    not_analysed: Sequence[NotAnalysed] | None = None,
) -> dict:
    """Filter `options.detections` as `output` says; return the summary (`filter_detections`'s).
    `not_analysed`: the files the detector could not read (`scan`), named in the summary and SARIF."""
    if options.detections is None or options.scripts is None:
        raise ValueError("run_filter needs FilterOptions with detections and scripts")
    return filter_detections(
        options.model,
        options.detections,
        options.scripts,
        output.out,
        fmt=output.fmt,
        tech=options.tech,
        threshold=options.threshold,
        on_missing=options.on_missing,
        batch_size=output.batch_size,
        detections_format=options.detections_format,
        scorer=scorer,
        limits=options.limits,
        sarif_all=output.sarif_all,
        uri_base=output.uri_base,
        path_prefix_strip=options.path_prefix_strip,
        baseline=output.baseline,
        sarif_category=output.sarif_category,
        threshold_source=options.threshold_source,
        evidence=output.evidence,
        explain=output.explain,
        sarif_suppressed=output.sarif_suppressed,
        model_label=options.model_label,
        provenance=options.provenance,
        not_analysed=not_analysed,
    )
