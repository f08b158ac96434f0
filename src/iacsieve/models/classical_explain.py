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


def top_features(
    pipeline: Any, texts: Sequence[str], n: int = 5, features: Any = None
) -> list[list[tuple[str, float]]]:
    """Per input text (`record_text`), up to `n` (name, signed contribution to the logit), largest |c| first.

    `features`: the pipeline's feature matrix of `texts` when the caller has it (scoring just made it).
    Vectorised: one matrix product for all contributions, one hashing pass per view to name them.
    """
    if not texts or n < 1:
        return [[] for _ in texts]
    union, classifier = pipeline.named_steps["features"], pipeline.named_steps["clf"]
    X = sparse.csr_matrix(union.transform(list(texts)) if features is None else features)
    contributions = sparse.csr_matrix(X.multiply(linear_weights(classifier, X.shape[1]).reshape(1, -1)))
    picks: list[list[tuple[int, float]]] = []
    for i in range(len(texts)):
        lo, hi = contributions.indptr[i], contributions.indptr[i + 1]
        values, columns = contributions.data[lo:hi], contributions.indices[lo:hi]
        order = np.lexsort((columns, -np.abs(values)))[:n]
        picks.append([(int(columns[j]), round(float(values[j]), 6)) for j in order if values[j] != 0])
    names = _name_columns(union, _views(union, texts[0]), texts, picks)
    return [[(names[i][c], v) for c, v in row] for i, row in enumerate(picks)]


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


def _name_columns(
    union: Any, views: list[tuple[str, int, int]], texts: Sequence[str], picks: list[list[tuple[int, float]]]
) -> list[dict[int, str]]:
    """Per row, a name for each picked column."""
    from iacsieve.models import features

    names: list[dict[int, str]] = [{} for _ in texts]
    steps = dict(union.transformer_list)
    for view, start, width in views:
        wanted = {i: [c for c, _ in row if start <= c < start + width] for i, row in enumerate(picks)}
        wanted = {i: cols for i, cols in wanted.items() if cols}
        if not wanted:
            continue
        if view in ("reviewer", "definition"):
            table = features.FEATURE_NAMES if view == "reviewer" else features.DEFINITION_NAMES
            for i, cols in wanted.items():
                names[i].update({c: table[c - start] for c in cols})
            continue
        label = VIEW_WORDS.get(view, view)
        rows = sorted(wanted)
        view_texts = steps[view].named_steps["select"].transform([texts[i] for i in rows])
        tfidf = steps[view].named_steps["tfidf"]
        if hasattr(tfidf, "vocabulary_"):  # a learned vocabulary names its columns
            vocabulary = tfidf.get_feature_names_out()
            for i in rows:
                names[i].update({c: f'{label} "{vocabulary[c - start]}"' for c in wanted[i]})
            continue
        counts = tfidf.named_steps["counts"]
        analyzer = counts.build_analyzer()
        grams = {i: set(analyzer(t)) for i, t in zip(rows, view_texts)}
        every = sorted(set().union(*grams.values()))
        column_of = dict(zip(every, (int(c) + start for c in _hash_grams(counts, every))))
        for i in rows:
            found: dict[int, list[str]] = {}
            for gram in sorted(grams[i]):
                found.setdefault(column_of[gram], []).append(gram)
            names[i].update(
                {c: f"{label} " + " / ".join(f'"{g}"' for g in found.get(c, ["?"])) for c in wanted[i]}
            )
    return names


def _hash_grams(counts: Any, grams: list[str]) -> np.ndarray:
    """The column each n-gram hashes to, with the view's own hashing settings (one pass for all)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    if not grams:
        return np.zeros(0, dtype=np.int64)
    single = HashingVectorizer(
        analyzer=_identity, n_features=counts.n_features, alternate_sign=False, norm=None, lowercase=False
    )
    matrix = sparse.csr_matrix(single.transform(grams))
    return matrix.indices[matrix.indptr[:-1]]
