"""A detector's format is a plug-in: one `Dialect` registered in `DIALECTS` is detected, parsed and
listed, with nothing else edited (the thought experiment of issue 30, run)."""

from __future__ import annotations

import pytest

from iacsieve.core.errors import IacsieveError
from iacsieve.filtering import detections
from iacsieve.filtering.detections import DIALECTS, Detection, Dialect, open_detections


def _parse_tsv(lines, ctx, first):
    """`file<TAB>line<TAB>smell` rows after a `#tsv` header line."""
    for row_no, raw in lines:
        if not raw.strip() or raw.startswith("#"):
            continue
        ctx.count_row(row_no)
        file, line, smell = raw.split("\t")
        yield Detection(row_no=row_no, file=file, line=int(line), raw_smell=smell, values={"f": file})


TSV = Dialect(
    "tsv", "a #tsv file", -1, lambda first: first.startswith("#tsv"), _parse_tsv, lambda p, f: ("f",)
)


def test_a_registered_dialect_is_detected_and_parsed(tmp_path, monkeypatch):
    monkeypatch.setitem(DIALECTS, "tsv", TSV)
    path = tmp_path / "out.tsv"
    path.write_text("#tsv\nmanifests/init.pp\t3\tsec_hard_secr\n", encoding="utf-8")
    stream = open_detections(path)
    rows = list(stream)
    assert stream.format == "tsv" and stream.columns == ("f",)
    assert [(r.file, r.line, r.smell) for r in rows] == [("manifests/init.pp", 3, "hard_coded_secret")]
    assert open_detections(path, fmt="tsv").format == "tsv"


def test_an_unknown_format_lists_every_registered_dialect(tmp_path, monkeypatch):
    monkeypatch.setitem(DIALECTS, "tsv", TSV)
    path = tmp_path / "x.txt"
    path.write_text("nothing anyone writes\n", encoding="utf-8")
    with pytest.raises(IacsieveError, match="or a #tsv file"):
        open_detections(path)


def test_the_shipped_dialects_are_the_cli_choices():
    assert detections.FORMATS == ("glitch", "replication", "jsonl") == tuple(DIALECTS)
