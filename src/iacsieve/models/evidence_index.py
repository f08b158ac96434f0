"""The evidence index: a champion's labelled training warnings, searchable by how alike their lines are.

Why: "why did the filter drop this warning?" is best answered by the labelled warnings it resembles
("like 3 reviewed false alarms"). The index is built at freeze time from the training rows (their
labels as trained on: the LLM's, or a named reviewer's where `iacsieve labels apply` put one) and
saved inside the champion, so `filter` stays offline. It serves every family alike because it reads
only what every family reads: the flagged line of the model input text (`build_input_text`'s `line:`).
The search is within one smell, so the `smell:` part of that text would add the same n-grams to every
comparison (inflating short lines and costing time) and is left out; so is the context window, so
that boilerplate around a line does not decide which warnings are alike.

Representation: sublinear TF-IDF of hashed character n-grams (2-4, word-bounded), l2-normalised;
similarity = cosine. Hashing leaves only integer and float arrays to save (no vocabulary). Search is
brute force within the same smell: one product of queries and postings per batch (numpy only: the
filter imports neither scipy nor scikit-learn), exact and deterministic
(ties go to the earlier training row).

Saved without pickle, beside the model files: `evidence_vectors.npz` (a zip of .npy arrays with fixed
timestamps, loaded with `allow_pickle=False`) and `evidence_rows.json` (sorted keys): the same rows give the same bytes. `save_index`
returns their SHA-256 for `champion.json`; `load_index` refuses a file whose hash differs.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import CHAMPION_FILE
from iacsieve.data.records import WarningRecord, build_input_text
from iacsieve.io.atomic import atomic_write_bytes
from iacsieve.models.classical_hashing import NgramSpec, Rows, hashed_counts, l2_normalise
from iacsieve.models.classical_plain import npz_bytes

VECTORS_FILE = layout.EVIDENCE_VECTORS_FILE  # beside the model files in the champion directory
ROWS_FILE = layout.EVIDENCE_ROWS_FILE
CARD_KEY = "evidence_index"  # champion.json's key for `save_index`'s card
FORMAT = 1
HASH_BITS = 18
NGRAM_RANGE = (2, 4)
BATCH = 128  # queries per product (bounds the postings expanded at once)
_ROW_KEYS = ("file", "line", "smell", "tech", "label", "source", "content", "with_context")
SPEC = NgramSpec(
    analyzer="char_wb", ngram_min=NGRAM_RANGE[0], ngram_max=NGRAM_RANGE[1], n_features=2**HASH_BITS
)


@dataclass(frozen=True)
class IndexedWarning:
    """One labelled training warning as the index keeps it (enough to show and cite it)."""

    file: str
    line: int
    smell: str
    tech: str
    label: int  # 1 = real smell (TP), 0 = false alarm (FP)
    source: str  # who labelled it: "human:<reviewer>" or the LLM's name ("llm" when unrecorded)
    content: str
    with_context: str = ""

    @property
    def label_source(self) -> str:
        """Who the label came from, in words: `reviewer alice` or `LLM (claude-sonnet-4-0)`."""
        if self.source.startswith("human:"):
            return f"reviewer {self.source.split(':', 1)[1]}"
        return "LLM" if self.source in ("", "llm") else f"LLM ({self.source})"

    @property
    def reviewed(self) -> bool:
        return self.source.startswith("human:")


def index_text(smell: str, content: str) -> str:
    """The text the index compares: the flagged line as the model input text holds it (the smell is
    the same for every candidate: the search stays within it)."""
    return build_input_text(smell, content).split("\nline: ", 1)[1]


def _idf(df_columns: np.ndarray, df_counts: np.ndarray, n_rows: int) -> np.ndarray:
    """scikit-learn's smooth idf, log((1 + n) / (1 + df)) + 1, for every hashed column."""
    idf = np.full(2**HASH_BITS, math.log(1.0 + n_rows) + 1.0)
    idf[df_columns] = np.log((1.0 + n_rows) / (1.0 + df_counts)) + 1.0
    return idf


def _weigh(counts: Rows, idf: np.ndarray) -> Rows:
    """Sublinear tf (1 + log count) times idf, each row l2-normalised."""
    data = (1.0 + np.log(counts.value)) * idf[counts.column]
    return Rows(counts.n_rows, counts.row, counts.column, l2_normalise(counts.row, data, counts.n_rows))


@dataclass
class EvidenceIndex:
    """The labelled training warnings and their vectors; `nearest` finds the most alike per query.

    The vectors are CSR arrays (`indptr`, `indices`, `data`: rows of 2**HASH_BITS columns); the search
    reads them by column (postings: which training rows hold each column, in row order)."""

    rows: list[IndexedWarning]
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    df_columns: np.ndarray  # columns with a non-zero document frequency...
    df_counts: np.ndarray  # ...and that frequency (the idf is rebuilt from these)
    _idf: np.ndarray = field(init=False, repr=False)
    _by_smell: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(
        init=False, repr=False
    )

    def __post_init__(self) -> None:
        self._idf = _idf(self.df_columns, self.df_counts, len(self.rows))
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(self.rows):
            groups.setdefault(row.smell, []).append(i)
        self._by_smell = {
            smell: self._postings(np.asarray(ids, dtype=np.int64)) for smell, ids in groups.items()
        }

    def _postings(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ids, start of each column's postings, member position, value): the group's rows by column,
        rows ascending within a column (the order scipy's product of a CSR query and a CSR transpose
        adds them in). Columns are positions in `df_columns` (the ~30k any training row has)."""
        lengths = self.indptr[ids + 1] - self.indptr[ids]
        take = np.concatenate([np.arange(self.indptr[i], self.indptr[i + 1]) for i in ids])
        member = np.repeat(np.arange(len(ids), dtype=np.int64), lengths)
        column = np.searchsorted(self.df_columns, self.indices[take])
        order = np.lexsort((member, column))
        starts = np.searchsorted(column[order], np.arange(len(self.df_columns) + 1))
        return ids, starts, member[order], self.data[take][order]

    def vectorise(self, texts: Sequence[str]) -> Rows:
        """TF-IDF vectors of `texts` (index_text strings) with the index's idf."""
        return _weigh(hashed_counts(SPEC, texts), self._idf)

    def nearest(
        self, smells: Sequence[str], texts: Sequence[str], k: int = 3
    ) -> list[list[tuple[int, float]]]:
        """For each query, up to `k` (row index, cosine similarity) of the same smell, most alike
        first (ties: the earlier row); rows sharing nothing with the query (similarity 0) are left out."""
        out: list[list[tuple[int, float]]] = [[] for _ in texts]
        if k < 1 or not texts:
            return out
        queries = self.vectorise(texts)
        bounds = np.searchsorted(queries.row, np.arange(len(texts) + 1))
        positions: dict[str, list[int]] = {}
        for i, smell in enumerate(smells):
            positions.setdefault(smell, []).append(i)
        for smell, where in positions.items():
            if smell not in self._by_smell:
                continue
            ids, starts, member, value = self._by_smell[smell]
            take = min(k, len(ids))
            for first in range(0, len(where), BATCH):
                chunk = where[first : first + BATCH]
                sims = self._similarities(
                    queries, bounds, chunk, self.df_columns, (starts, member, value), len(ids)
                )
                order = np.argsort(-sims, axis=1, kind="stable")[:, :take]
                best = np.take_along_axis(sims, order, axis=1)
                for q, row_order, row_sims in zip(chunk, order, best):
                    out[q] = [(int(ids[j]), round(float(s), 6)) for j, s in zip(row_order, row_sims) if s > 0]
        return out

    @staticmethod
    def _similarities(
        queries: Rows,
        bounds: np.ndarray,
        chunk: list[int],
        df_columns: np.ndarray,
        postings: tuple[np.ndarray, np.ndarray, np.ndarray],
        width: int,
    ) -> np.ndarray:
        """(len(chunk), width) cosine similarities: each query's entries in column order, each times the
        postings of its column, summed one by one per (query, member) (`np.bincount`)."""
        starts, member, value = postings
        spans = [np.arange(bounds[q], bounds[q + 1]) for q in chunk]
        entries = np.concatenate(spans) if spans else np.zeros(0, np.int64)
        which = np.repeat(np.arange(len(chunk), dtype=np.int64), [len(s) for s in spans])
        columns = np.searchsorted(df_columns, queries.column[entries])
        known = columns < len(df_columns)
        known[known] = df_columns[columns[known]] == queries.column[entries[known]]
        entries, which, columns = entries[known], which[known], columns[known]  # no posting elsewhere
        lo, hi = starts[columns], starts[columns + 1]
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            return np.zeros((len(chunk), width))
        offsets = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
        products = np.repeat(queries.value[entries], counts) * value[offsets]
        bins = np.repeat(which, counts) * width + member[offsets]
        return np.bincount(bins, weights=products, minlength=len(chunk) * width).reshape(len(chunk), width)


def build_index(records: Sequence[WarningRecord]) -> EvidenceIndex:
    """The index of labelled `records` (the training split), in their order."""

    rows = [
        IndexedWarning(
            file=r.file,
            line=int(r.line),
            smell=r.smell,
            tech=r.tech,
            label=int(r.label if r.label is not None else 0),
            source=r.source or "llm",
            content=r.content.strip(),
            with_context=r.with_context,
        )
        for r in records
        if r.label is not None
    ]
    counts = hashed_counts(SPEC, [index_text(r.smell, r.content) for r in rows])
    df = np.bincount(counts.column, minlength=2**HASH_BITS)
    df_columns = np.flatnonzero(df).astype(np.int64)
    df_counts = df[df_columns].astype(np.int64)
    weighed = _weigh(counts, _idf(df_columns, df_counts, len(rows)))
    indptr = np.searchsorted(weighed.row, np.arange(len(rows) + 1)).astype(np.int64)
    return EvidenceIndex(rows, indptr, weighed.column.astype(np.int32), weighed.value, df_columns, df_counts)


# ----------------------------------------------------------------------------- save / load


def save_index(index: EvidenceIndex, model_dir: str | Path) -> dict:
    """Write the index into `model_dir`; return its card for champion.json (the files' SHA-256)."""
    folder = Path(model_dir)
    vectors = npz_bytes(
        {
            "data": index.data.astype(np.float64),
            "indices": index.indices.astype(np.int32),
            "indptr": index.indptr.astype(np.int64),
            "shape": np.asarray((len(index.rows), 2**HASH_BITS), dtype=np.int64),
            "df_columns": index.df_columns,
            "df_counts": index.df_counts,
        }
    )
    rows = (
        json.dumps([asdict(r) for r in index.rows], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        + "\n"
    ).encode("utf-8")
    atomic_write_bytes(folder / VECTORS_FILE, vectors)
    atomic_write_bytes(folder / ROWS_FILE, rows)
    return {
        "format": FORMAT,
        "rows": len(index.rows),
        "text": "the flagged line (build_input_text's line:), within the same smell",
        "vectors": f"tf-idf of hashed char_wb {NGRAM_RANGE[0]}-{NGRAM_RANGE[1]}-grams (2**{HASH_BITS})",
        "sha256": {
            VECTORS_FILE: hashlib.sha256(vectors).hexdigest(),
            ROWS_FILE: hashlib.sha256(rows).hexdigest(),
        },
    }


def load_index(model_dir: str | Path, card: object, *, where: str = CHAMPION_FILE) -> EvidenceIndex:
    """Load the index `card` (champion.json's `evidence_index`) describes, refusing altered files."""
    if not isinstance(card, dict) or not isinstance(card.get("sha256"), dict):
        raise IacsieveError(f"{where}: key '{CARD_KEY}': must be an object with 'sha256' per file")
    if card.get("format") != FORMAT:
        raise IacsieveError(
            f"{where}: key '{CARD_KEY}.format': {card.get('format')!r} is not {FORMAT}; refreeze the champion"
        )
    folder = Path(model_dir)
    blobs = {
        name: _read_checked(folder / name, card["sha256"].get(name), where)
        for name in (VECTORS_FILE, ROWS_FILE)
    }
    try:
        with np.load(io.BytesIO(blobs[VECTORS_FILE]), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        shape = tuple(int(n) for n in arrays["shape"])
        data, indices, indptr = arrays["data"], arrays["indices"], arrays["indptr"]
        raw_rows = json.loads(blobs[ROWS_FILE].decode("utf-8"))
        rows = [IndexedWarning(**{key: row[key] for key in _ROW_KEYS}) for row in raw_rows]
        df_columns, df_counts = arrays["df_columns"], arrays["df_counts"]
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        raise IacsieveError(
            f"{folder / VECTORS_FILE}: not a readable evidence index: {exc}".splitlines()[0]
        ) from None
    if shape != (len(rows), 2**HASH_BITS) or indptr.shape != (len(rows) + 1,) or indptr[-1] != len(data):
        raise IacsieveError(f"{folder / VECTORS_FILE}: shape {shape} does not match {len(rows)} rows")
    if len(indices) != len(data) or (len(indices) and (indices.min() < 0 or indices.max() >= 2**HASH_BITS)):
        raise IacsieveError(
            f"{folder / VECTORS_FILE}: column indices out of range; not a readable evidence index"
        )
    return EvidenceIndex(rows, indptr, indices, data, df_columns, df_counts)


def _read_checked(path: Path, expected: object, where: str) -> bytes:
    """The bytes of `path`, refused unless a regular file whose SHA-256 is `expected`."""
    if not isinstance(expected, str):
        raise IacsieveError(f"{where}: key '{CARD_KEY}.sha256.{path.name}': missing")
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise IacsieveError(f"{path}: not a regular file; refusing to read the evidence index")
        data = path.read_bytes()
    except OSError as exc:
        raise IacsieveError(f"{path}: cannot read the evidence index: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise IacsieveError(
            f"{path}: SHA-256 {digest[:12]}... differs from {where}'s {expected[:12]}...: the champion "
            f"was altered after it was frozen; restore it or freeze it again"
        )
    return data
