"""`iacsieve filter`: run a frozen champion over a detector's output and drop its false alarms.

detections (the three input formats), scripts (confined reading under --scripts), champion (what a
model dir says), apply (the filter itself), output (CSV / JSONL / SARIF writing), sarif, uri_base
(where SARIF URIs start), summary, evidence (why each warning was kept or dropped), explain_page
(`iacsieve explain`: one warning's evidence as a terminal page).
"""

from iacsieve.filtering.apply import ON_MISSING, filter_detections
from iacsieve.filtering.champion import DATASET_SMELLS, Champion, read_champion
from iacsieve.filtering.explain_page import explain_warning, render_page
from iacsieve.filtering.output import OUTPUT_FORMATS, output_format
from iacsieve.filtering.summary import format_summary

__all__ = [
    "DATASET_SMELLS",
    "ON_MISSING",
    "OUTPUT_FORMATS",
    "Champion",
    "explain_warning",
    "filter_detections",
    "format_summary",
    "output_format",
    "read_champion",
    "render_page",
]
