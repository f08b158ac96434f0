"""Hashed n-gram TF-IDF with numpy and `mmh3`: what scikit-learn's HashingVectorizer + TfidfTransformer
compute, without importing scikit-learn or scipy.

Why: the filter scores a classical champion on every push; importing scikit-learn, scipy and skops was
~90 % of a run. These few functions reproduce scikit-learn 1.9.1 exactly for the settings a champion
uses (tests/test_classical_plain.py checks them against it):

- analyzers: `char_wb`, `char` and `word` (a token pattern), lowercasing, runs of whitespace collapsed
  to one space for the character analyzers, n-grams in scikit-learn's order;
- the column of an n-gram: signed MurmurHash3 (32 bit, seed 0) of its UTF-8 bytes, `abs(h) % n_features`
  (Python's `abs` covers scikit-learn's -2**31 case: both give 2**31 % n_features); with
  `alternate_sign` the count's sign is that of h (h >= 0: +1);
- counts summed per column, columns sorted (`sum_duplicates`); sublinear tf `log(count) + 1`, times the
  idf, then each row divided by its l2 norm, the squares summed in column order as scikit-learn does
  (`np.bincount` adds its weights one by one, in order: the same sums to the last bit).

A batch is kept as flat arrays (`Rows`: row number, column, value; rows in order, columns sorted within
a row), the layout of a CSR matrix without scipy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import mmh3
import numpy as np

ANALYZERS: tuple[str, ...] = ("char", "char_wb", "word")
_WHITE_SPACES = re.compile(r"\s\s+")


@dataclass(frozen=True)
class NgramSpec:
    """How one view turns a text into hashed n-grams (the HashingVectorizer settings that matter)."""

    analyzer: str
    ngram_min: int
    ngram_max: int
    n_features: int
    lowercase: bool = True
    token_pattern: str | None = None  # word analyzer only
    alternate_sign: bool = False

    def grams(self, doc: str) -> list[str]:
        """The n-grams of `doc`, in scikit-learn's order (duplicates kept: they are counts)."""
        if self.lowercase:
            doc = doc.lower()
        if self.analyzer == "char_wb":
            return _char_wb_ngrams(doc, self.ngram_min, self.ngram_max)
        if self.analyzer == "char":
            return _char_ngrams(doc, self.ngram_min, self.ngram_max)
        tokens = re.findall(self.token_pattern or r"(?u)\b\w\w+\b", doc)
        return _word_ngrams(tokens, self.ngram_min, self.ngram_max)


def _char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text)
    out: list[str] = []
    append = out.append
    for word in text.split():
        w = " " + word + " "
        w_len = len(w)
        for n in range(lo, hi + 1):
            offset = 0
            append(w[offset : offset + n])
            while offset + n < w_len:
                offset += 1
                append(w[offset : offset + n])
            if offset == 0:  # a short word (w_len < n) counts once
                break
    return out


def _char_ngrams(text: str, lo: int, hi: int) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text)
    size = len(text)
    out: list[str] = []
    if lo == 1:
        out = list(text)
        lo += 1
    for n in range(lo, min(hi + 1, size + 1)):
        out.extend(text[i : i + n] for i in range(size - n + 1))
    return out


def _word_ngrams(tokens: list[str], lo: int, hi: int) -> list[str]:
    if hi == 1:
        return tokens
    out: list[str] = []
    if lo == 1:
        out = list(tokens)
        lo += 1
    count = len(tokens)
    for n in range(lo, min(hi + 1, count + 1)):
        out.extend(" ".join(tokens[i : i + n]) for i in range(count - n + 1))
    return out


def gram_hash(gram: str) -> int:
    """scikit-learn's `murmurhash3_bytes_s32(gram.encode('utf-8'), 0)` (mmh3 hashes a str as its UTF-8
    bytes; signed, seed 0)."""
    return _MMH3(gram, 0, True)


_MMH3 = mmh3.hash


def gram_column(gram: str, n_features: int) -> int:
    """The column HashingVectorizer puts `gram` in."""
    return abs(gram_hash(gram)) % n_features


@dataclass(frozen=True)
class Rows:
    """A batch of sparse rows as flat arrays: `row` ascending, `column` sorted within a row."""

    n_rows: int
    row: np.ndarray  # int64
    column: np.ndarray  # int64
    value: np.ndarray  # float64


def hashed_counts(spec: NgramSpec, docs: Sequence[str]) -> Rows:
    """Per doc, the hashed n-gram counts (HashingVectorizer with norm=None, after sum_duplicates)."""
    grams: list[str] = []
    lengths: list[int] = []
    for doc in docs:
        found = spec.grams(doc)
        grams.extend(found)
        lengths.append(len(found))
    n = spec.n_features
    ids = {gram: i for i, gram in enumerate(dict.fromkeys(grams))}  # each distinct n-gram hashed once
    hashes = np.fromiter((gram_hash(gram) for gram in ids), np.int64, len(ids))
    gram_ids = np.fromiter(map(ids.__getitem__, grams), np.int64, len(grams))
    column = (np.abs(hashes) % n)[gram_ids]
    row = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    signs = np.where(hashes >= 0, 1.0, -1.0)[gram_ids] if spec.alternate_sign else np.ones(len(grams))
    return _sum_duplicates(len(docs), row, column, signs, n)


def _sum_duplicates(n_rows: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, width: int) -> Rows:
    if not len(rows):
        empty = np.zeros(0, np.int64)
        return Rows(n_rows, empty, empty, np.zeros(0, np.float64))
    keys = rows * width + cols
    unique, inverse = np.unique(keys, return_inverse=True)
    summed = np.bincount(inverse, weights=vals, minlength=len(unique))
    keep = summed != 0  # alternate signs may cancel (scikit-learn drops those too)
    unique, summed = unique[keep], summed[keep]
    return Rows(n_rows, unique // width, unique % width, summed)


def sublinear_tfidf(counts: Rows, idf: np.ndarray) -> Rows:
    """TfidfTransformer(sublinear_tf=True, norm='l2') with a fitted `idf` on hashed counts."""
    data = np.log(counts.value)
    data += 1.0
    data *= idf[counts.column]
    return Rows(counts.n_rows, counts.row, counts.column, l2_normalise(counts.row, data, counts.n_rows))


def l2_normalise(row: np.ndarray, data: np.ndarray, n_rows: int) -> np.ndarray:
    """Each row's values divided by its l2 norm (rows of zeros left as they are), summed in order."""
    squares = np.bincount(row, weights=data * data, minlength=n_rows)
    norms = np.sqrt(squares)
    norms[norms == 0.0] = 1.0
    return data / norms[row]


def row_sums(rows: Sequence[Rows], weights: Sequence[np.ndarray], n_rows: int) -> np.ndarray:
    """Per row, the sum of value * weight[column] over the views in order: scipy's CSR product order."""
    if not rows:
        return np.zeros(n_rows)
    row = np.concatenate([r.row for r in rows])
    products = np.concatenate([r.value * w[r.column] for r, w in zip(rows, weights)])
    return np.bincount(row, weights=products, minlength=n_rows)
