"""Which input features moved a classical model's score most, named in words a reviewer reads.

The classical family is linear in its features: logit = intercept + sum(x_j * w_j), so x_j * w_j is
feature j's signed contribution (positive: towards "real smell"). Columns are named by their view:
the reviewer and definition columns by `features.FEATURE_NAMES` / `DEFINITION_NAMES`, n-gram columns
by the n-grams of *this* input that land in them (hashed views: each n-gram of the input is hashed
again to find its column; a learned vocabulary names its own). A bagged model contributes the mean
of its members' weights (its probability is a mean of probabilities, so the sum is an approximation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

VIEW_WORDS = {"char": "chars", "word": "words", "context": "context words"}


def _identity(doc: str) -> list[str]:
    return [doc]


def linear_weights(classifier: Any, width: int) -> np.ndarray:
    """The weight vector of a fitted LogisticRegression, or the mean over a bagged ensemble's members."""
    if hasattr(classifier, "coef_"):
        return np.asarray(classifier.coef_, dtype=np.float64).reshape(-1)
    total = np.zeros(width)
    members = list(zip(classifier.estimators_, classifier.estimators_features_))
    for member, columns in members:
        total[np.asarray(columns)] += np.asarray(member.coef_, dtype=np.float64).reshape(-1)
    return total / max(len(members), 1)


def top_features(pipeline: Any, texts: Sequence[str], n: int = 5) -> list[list[tuple[str, float]]]:
    """Per input text (`record_text`), up to `n` (name, signed contribution to the logit), largest |c| first."""
    if not texts or n < 1:
        return [[] for _ in texts]
    union, classifier = pipeline.named_steps["features"], pipeline.named_steps["clf"]
    X = sparse.csr_matrix(union.transform(list(texts)))
    weights = linear_weights(classifier, X.shape[1])
    contributions = sparse.csr_matrix(X.multiply(weights.reshape(1, -1)))
    views = _views(union, texts[0])
    out = []
    for i, text in enumerate(texts):
        row = contributions.getrow(i)
        order = np.lexsort((row.indices, -np.abs(row.data)))[:n]
        named: dict[str, list[int]] = {}
        for j in order:
            if row.data[j] != 0:
                named.setdefault(_view_of(views, int(row.indices[j]))[0], []).append(int(row.indices[j]))
        names = {
            col: name
            for view, cols in named.items()
            for col, name in _column_names(union, view, cols, text, views)
        }
        out.append(
            [(names[int(row.indices[j])], round(float(row.data[j]), 6)) for j in order if row.data[j] != 0]
        )
    return out


def _views(union: Any, text: str) -> list[tuple[str, int, int]]:
    """(view name, first column, width) of each view of the FeatureUnion, in its column order."""
    views, start = [], 0
    for name, transformer in union.transformer_list:
        if transformer in ("drop", None):
            continue
        width = sparse.csr_matrix(transformer.transform([text])).shape[1]
        views.append((name, start, width))
        start += width
    return views


def _view_of(views: list[tuple[str, int, int]], column: int) -> tuple[str, int]:
    for name, start, width in views:
        if start <= column < start + width:
            return name, start
    raise ValueError(f"column {column} is outside the feature union")


def _column_names(
    union: Any, view: str, columns: list[int], text: str, views: list[tuple[str, int, int]]
) -> list[tuple[int, str]]:
    from iacsieve.models import features

    start = next(s for name, s, _ in views if name == view)
    if view in ("reviewer", "definition"):
        names = features.FEATURE_NAMES if view == "reviewer" else features.DEFINITION_NAMES
        return [(c, names[c - start]) for c in columns]
    step = dict(union.transformer_list)[view]
    view_text = step.named_steps["select"].transform([text])[0]
    tfidf = step.named_steps["tfidf"]
    label = VIEW_WORDS.get(view, view)
    if hasattr(tfidf, "vocabulary_"):  # a learned vocabulary names its columns
        vocabulary = tfidf.get_feature_names_out()
        return [(c, f'{label} "{vocabulary[c - start]}"') for c in columns]
    counts = tfidf.named_steps["counts"]
    grams = sorted(set(counts.build_analyzer()(view_text)))
    hashed = _hash_grams(counts, grams)
    found: dict[int, list[str]] = {}
    for gram, column in zip(grams, hashed):
        found.setdefault(int(column) + start, []).append(gram)
    return [(c, f"{label} " + " / ".join(f'"{g}"' for g in found.get(c, ["?"]))) for c in columns]


def _hash_grams(counts: Any, grams: list[str]) -> np.ndarray:
    """The column each n-gram hashes to, with the view's own hashing settings."""
    from sklearn.feature_extraction.text import HashingVectorizer

    if not grams:
        return np.zeros(0, dtype=np.int64)
    single = HashingVectorizer(
        analyzer=_identity, n_features=counts.n_features, alternate_sign=False, norm=None, lowercase=False
    )
    matrix = sparse.csr_matrix(single.transform(grams))
    return matrix.indices[matrix.indptr[:-1]]
