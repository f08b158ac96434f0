"""The classical champion as plain data, and its scorer with numpy and `mmh3` only.

Why: the filter runs on every push; importing scikit-learn, scipy and skops to load a skops dump was ~90 %
of its time and memory. A fitted classical pipeline is a handful of numbers: per n-gram view the hashing
settings and the idf; per column view the name of a feature function; the weights of the union and of
the logistic regression. `export` reads them off the fitted scikit-learn pipeline when a run is saved and refuses any shape
it does not reproduce exactly (bagging, a learned vocabulary, a custom analyzer or tokenizer, other tf-idf
settings), in one line. `save` writes them as `classical_plain.json` (settings, view names from the fixed
table `TEXT_VIEWS` / `COLUMN_VIEWS`) and `classical_plain.npz` (idf, coefficients; read with
`allow_pickle=False`): no object graph is deserialised, so there is nothing to allow-list.

`PlainScorer` scores and explains exactly as the pipeline does (`classical_hashing`: the same n-grams,
columns, tf-idf and sums in the same order); `classical.save` proves that on the training rows before
a run's model is kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.data.records import WarningRecord, record_text
from iacsieve.io.atomic import atomic_write_bytes
from iacsieve.models import features
from iacsieve.models.classical_hashing import (
    ANALYZERS,
    NgramSpec,
    Rows,
    gram_hash,
    hashed_counts,
    row_sums,
    sublinear_tfidf,
)

FORMAT = 1
SETTINGS_FILE = layout.CLASSICAL_PLAIN_SETTINGS
ARRAYS_FILE = layout.CLASSICAL_PLAIN_ARRAYS
FAMILY = "classical"

# The fixed table of feature functions a view may name (nothing else is ever called by name).
TEXT_VIEWS: dict[str, Callable[[Sequence[str]], list[str]]] = {
    "head_texts": features.head_texts,
    "normalised_head_texts": features.normalised_head_texts,
    "head_and_normalised_texts": features.head_and_normalised_texts,
    "context_texts": features.context_texts,
}
COLUMN_VIEWS: dict[str, tuple[Callable[[Sequence[str]], np.ndarray], tuple[str, ...]]] = {
    "reviewer_features": (features.reviewer_features, features.FEATURE_NAMES),
    "definition_features": (features.definition_features, features.DEFINITION_NAMES),
}
VIEW_WORDS = {"char": "chars", "word": "words", "context": "context words"}  # how explain names n-grams


class ExportError(IacsieveError):
    """The fitted pipeline has a shape the plain runtime would not reproduce exactly."""


# ----------------------------------------------------------------------------- export (training side)


def _refuse(what: str) -> ExportError:
    return ExportError(
        f"classical: cannot export this pipeline as plain data: {what} "
        f"(the plain runtime reproduces hashed sublinear tf-idf views, reviewer columns and one logistic regression)"
    )


def export(pipeline: Any, use_context: bool) -> tuple[dict, dict[str, np.ndarray]]:
    """(settings, arrays) of a fitted classical pipeline; ExportError for any shape not reproduced exactly."""
    steps = dict(getattr(pipeline, "steps", []))
    union, clf = steps.get("features"), steps.get("clf")
    if union is None or clf is None or len(steps) != 2:
        raise _refuse("not a Pipeline of ('features', FeatureUnion) and ('clf', classifier)")
    if not hasattr(clf, "coef_") or type(clf).__name__ != "LogisticRegression":
        raise _refuse(f"the classifier is {type(clf).__name__} (bagging is not exported)")
    classes = [int(c) for c in clf.classes_]
    coef = np.asarray(clf.coef_, dtype=np.float64)
    if classes != [0, 1] or coef.shape[0] != 1:
        raise _refuse(f"classes {classes}: a binary model with labels 0 and 1 is needed")
    weights = dict(getattr(union, "transformer_weights", None) or {})
    views: list[dict] = []
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for name, transformer in union.transformer_list:
        if transformer in ("drop", None):
            continue
        view = _export_view(name, transformer, arrays)
        view.update(weight=float(weights.get(name, 1.0)), offset=offset)
        offset += int(view["width"])
        views.append(view)
    if offset != coef.shape[1]:
        raise _refuse(f"the views are {offset} columns wide, the coefficients {coef.shape[1]}")
    arrays["coef"] = coef.reshape(-1)
    arrays["intercept"] = np.asarray(clf.intercept_, dtype=np.float64).reshape(-1)
    settings = {
        "format": FORMAT,
        "family": FAMILY,
        "use_context": bool(use_context),
        "model": "logistic regression over a weighted union of views; P(real smell) = expit(x . coef + intercept)",
        "classes": classes,
        "width": offset,
        "views": views,
    }
    return settings, arrays


def _export_view(name: str, transformer: Any, arrays: dict[str, np.ndarray]) -> dict:
    """One view of the union as settings (+ its idf in `arrays`)."""
    kind = type(transformer).__name__
    if kind == "FunctionTransformer":
        function = _function_name(transformer, COLUMN_VIEWS, name)
        return {
            "name": name,
            "kind": "columns",
            "function": function,
            "width": len(COLUMN_VIEWS[function][1]),
        }
    inner = dict(getattr(transformer, "steps", []))
    if kind != "Pipeline" or set(inner) != {"select", "tfidf"}:
        raise _refuse(f"view {name!r} is a {kind}, not (select, tfidf)")
    text = _function_name(inner["select"], TEXT_VIEWS, name)
    tfidf = dict(getattr(inner["tfidf"], "steps", []))
    if set(tfidf) != {"counts", "idf"}:
        raise _refuse(f"view {name!r} has a learned vocabulary ({type(inner['tfidf']).__name__})")
    counts, idf = tfidf["counts"], tfidf["idf"]
    spec = _hashing_spec(name, counts)
    if (idf.norm, idf.use_idf, idf.sublinear_tf) != ("l2", True, True):
        raise _refuse(f"view {name!r}: tf-idf other than sublinear tf, idf and l2 norm")
    arrays[f"idf.{name}"] = np.asarray(idf.idf_, dtype=np.float64)
    if arrays[f"idf.{name}"].shape != (spec.n_features,):
        raise _refuse(f"view {name!r}: idf of {arrays[f'idf.{name}'].shape} for {spec.n_features} columns")
    return {
        "name": name,
        "kind": "ngrams",
        "text": text,
        "analyzer": spec.analyzer,
        "ngram_range": [spec.ngram_min, spec.ngram_max],
        "n_features": spec.n_features,
        "lowercase": spec.lowercase,
        "token_pattern": spec.token_pattern,
        "hash": "murmurhash3_32 seed 0 of the UTF-8 n-gram, column abs(h) % n_features",
        "tf": "log(count) + 1",
        "norm": "l2",
        "width": spec.n_features,
    }


def _function_name(transformer: Any, table: dict, view: str) -> str:
    func = getattr(transformer, "func", None)
    name = getattr(func, "__name__", "")
    entry = table.get(name)
    known = entry[0] if isinstance(entry, tuple) else entry
    if type(transformer).__name__ != "FunctionTransformer" or known is not func:
        raise _refuse(f"view {view!r} calls {name or func!r}, not one of {', '.join(table)}")
    if getattr(transformer, "kw_args", None) or getattr(transformer, "inverse_func", None) is not None:
        raise _refuse(f"view {view!r}: a function with arguments")
    return name


def _hashing_spec(view: str, counts: Any) -> NgramSpec:
    if type(counts).__name__ != "HashingVectorizer":
        raise _refuse(f"view {view!r} counts with {type(counts).__name__}")
    analyzer = counts.analyzer
    if not isinstance(analyzer, str) or analyzer not in ANALYZERS:
        raise _refuse(f"view {view!r}: a custom analyzer")
    unusual = {
        "input": counts.input != "content",
        "preprocessor": counts.preprocessor is not None,
        "tokenizer": counts.tokenizer is not None,
        "stop_words": counts.stop_words is not None,
        "strip_accents": counts.strip_accents is not None,
        "binary": bool(counts.binary),
        "norm": counts.norm is not None,
        "alternate_sign": bool(counts.alternate_sign),
        "dtype": np.dtype(counts.dtype) != np.float64,
    }
    odd = [key for key, bad in unusual.items() if bad]
    if odd:
        raise _refuse(f"view {view!r}: HashingVectorizer with {', '.join(odd)} set")
    lo, hi = counts.ngram_range
    return NgramSpec(
        analyzer=analyzer,
        ngram_min=int(lo),
        ngram_max=int(hi),
        n_features=int(counts.n_features),
        lowercase=bool(counts.lowercase),
        token_pattern=counts.token_pattern if analyzer == "word" else None,
    )


# ----------------------------------------------------------------------------- save / load


_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def npz_bytes(arrays: dict[str, np.ndarray], *, compress: bool = False) -> bytes:
    """An .npz numpy reads, with fixed member timestamps and order (np.savez stamps the current time):
    the same arrays give the same bytes."""
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = method
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def save(settings: dict, arrays: dict[str, np.ndarray], model_dir: str | Path) -> dict:
    """Write the two files into `model_dir`; return their card (file -> SHA-256) for champion.json."""
    folder = Path(model_dir)
    blob = npz_bytes(arrays, compress=True)
    settings = {**settings, "arrays": {"file": ARRAYS_FILE, "sha256": hashlib.sha256(blob).hexdigest()}}
    text = (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode("utf-8")
    atomic_write_bytes(folder / ARRAYS_FILE, blob)
    atomic_write_bytes(folder / SETTINGS_FILE, text)
    return _card({ARRAYS_FILE: blob, SETTINGS_FILE: text})


def card(model_dir: str | Path) -> dict:
    """The card (file -> SHA-256) of the plain-data files in `model_dir`, as `save` returned it."""
    folder = Path(model_dir)
    return _card({name: _read(folder / name) for name in (ARRAYS_FILE, SETTINGS_FILE)})


def _card(blobs: dict[str, bytes]) -> dict:
    return {
        "format": FORMAT,
        "sha256": {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()},
    }


def present(model_dir: str | Path) -> bool:
    """Whether `model_dir` holds a plain-data classical model."""
    return (Path(model_dir) / SETTINGS_FILE).is_file()


def _read(path: Path) -> bytes:
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise IacsieveError(f"{path}: not a regular file; refusing to load the model")
        return path.read_bytes()
    except OSError as exc:
        raise IacsieveError(f"{path}: cannot read the model: {exc.strerror or exc}") from None


def load(model_dir: str | Path, expected: dict | None = None) -> PlainScorer:
    """The scorer of a plain-data model; `expected`: champion.json's card, whose SHA-256 must match."""
    folder = Path(model_dir)
    paths = {name: folder / name for name in (SETTINGS_FILE, ARRAYS_FILE)}
    blobs = {name: _read(path) for name, path in paths.items()}
    sums = {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()}
    wanted = dict((expected or {}).get("sha256") or {})
    try:
        settings = json.loads(blobs[SETTINGS_FILE].decode("utf-8"))
        wanted.setdefault(ARRAYS_FILE, settings["arrays"]["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IacsieveError(f"{paths[SETTINGS_FILE]}: not a plain classical model: {exc}") from None
    for name, digest in sums.items():
        if name in wanted and wanted[name] != digest:
            raise IacsieveError(
                f"{paths[name]}: SHA-256 {digest[:12]}... differs from the recorded {str(wanted[name])[:12]}...: "
                f"the model was altered after it was frozen; restore it or freeze it again"
            )
    if settings.get("format") != FORMAT:
        raise IacsieveError(
            f"{paths[SETTINGS_FILE]}: key 'format': {settings.get('format')!r} is not {FORMAT}; freeze the champion again"
        )
    try:
        with np.load(io.BytesIO(blobs[ARRAYS_FILE]), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return PlainScorer.build(settings, arrays)
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        raise IacsieveError(
            f"{paths[ARRAYS_FILE]}: not a readable plain classical model: {exc}".splitlines()[0]
        ) from None


# ----------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class View:
    """One view of the union, ready to compute."""

    name: str
    offset: int
    width: int
    weight: float
    text: Callable[[Sequence[str]], list[str]] | None = None  # n-gram views
    spec: NgramSpec | None = None
    idf: np.ndarray | None = None
    columns: Callable[[Sequence[str]], np.ndarray] | None = None  # column views
    names: tuple[str, ...] = ()

    def rows(self, texts: Sequence[str]) -> Rows:
        """This view's weighted values for `texts`, columns global (offset added)."""
        if self.spec is not None and self.text is not None and self.idf is not None:
            tfidf = sublinear_tfidf(hashed_counts(self.spec, self.text(texts)), self.idf)
            return Rows(len(texts), tfidf.row, tfidf.column + self.offset, tfidf.value * self.weight)
        assert self.columns is not None
        dense = np.asarray(self.columns(texts), dtype=np.float64).reshape(len(texts), self.width)
        row, column = np.nonzero(dense)  # scipy's hstack keeps the non-zeros, row by row, in column order
        return Rows(
            len(texts),
            row.astype(np.int64),
            column.astype(np.int64) + self.offset,
            dense[row, column] * self.weight,
        )


@dataclass
class PlainScorer:
    """A classical model scored with numpy: P(real smell) and the features that moved it."""

    views: list[View]
    coef: np.ndarray
    intercept: float
    use_context: bool
    family: str = FAMILY
    _last: tuple[list[str], list[Rows]] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: dict, arrays: dict[str, np.ndarray]) -> PlainScorer:
        views = []
        for v in settings["views"]:
            name, offset, width, weight = (
                str(v["name"]),
                int(v["offset"]),
                int(v["width"]),
                float(v["weight"]),
            )
            if v["kind"] == "columns":
                function, names = COLUMN_VIEWS[v["function"]]
                views.append(View(name, offset, width, weight, columns=function, names=names))
                continue
            lo, hi = v["ngram_range"]
            spec = NgramSpec(
                analyzer=v["analyzer"] if v["analyzer"] in ANALYZERS else "?",
                ngram_min=int(lo),
                ngram_max=int(hi),
                n_features=int(v["n_features"]),
                lowercase=bool(v["lowercase"]),
                token_pattern=v.get("token_pattern"),
            )
            if spec.analyzer == "?":
                raise ValueError(f"view {v['name']!r}: unknown analyzer {v['analyzer']!r}")
            idf = np.asarray(arrays[f"idf.{v['name']}"], dtype=np.float64)
            if idf.shape != (spec.n_features,):
                raise ValueError(f"view {v['name']!r}: idf shape {idf.shape}")
            views.append(View(name, offset, width, weight, text=TEXT_VIEWS[v["text"]], spec=spec, idf=idf))
        coef = np.asarray(arrays["coef"], dtype=np.float64).reshape(-1)
        if coef.shape != (int(settings["width"]),):
            raise ValueError(f"coef shape {coef.shape} for width {settings['width']}")
        return cls(
            views, coef, float(np.asarray(arrays["intercept"]).reshape(-1)[0]), bool(settings["use_context"])
        )

    def _features(self, texts: list[str]) -> list[Rows]:
        return [view.rows(texts) for view in self.views]

    def predict_proba(self, records: Sequence[WarningRecord], batch_size: int = 32) -> np.ndarray:
        """P(real smell) per record (batch_size is irrelevant: one vectorised pass)."""
        if not records:
            return np.zeros(0, dtype=np.float64)
        texts = [record_text(r, use_context=self.use_context) for r in records]
        views = self._features(texts)
        self._last = (texts, views)  # `top_features` of the same records reuses them
        logit = row_sums(views, [self.coef] * len(views), len(texts)) + self.intercept
        return expit(logit)

    def top_features(self, records: Sequence[WarningRecord], n: int = 5) -> list[list[tuple[str, float]]]:
        """Per record, up to `n` (name, signed contribution to the logit), largest |c| first (ties: the
        lower column), named as a reviewer reads them (classical_explain's names)."""
        texts = [record_text(r, use_context=self.use_context) for r in records]
        views = self._last[1] if self._last is not None and self._last[0] == texts else None
        self._last = None  # held only from scoring to explaining
        if not texts or n < 1:
            return [[] for _ in texts]
        views = views if views is not None else self._features(texts)
        row = np.concatenate([v.row for v in views])
        column = np.concatenate([v.column for v in views])
        value = np.concatenate([v.value * self.coef[v.column] for v in views])
        order = np.lexsort((column, row))  # CSR order: by row, columns ascending
        row, column, value = row[order], column[order], value[order]
        bounds = np.searchsorted(row, np.arange(len(texts) + 1))
        picks: list[list[tuple[int, float]]] = []
        for i in range(len(texts)):
            values, columns = value[bounds[i] : bounds[i + 1]], column[bounds[i] : bounds[i + 1]]
            best = np.lexsort((columns, -np.abs(values)))[:n]
            picks.append([(int(columns[j]), round(float(values[j]), 6)) for j in best if values[j] != 0])
        names = self._names(texts, picks)
        return [[(names[i][c], v) for c, v in row_picks] for i, row_picks in enumerate(picks)]

    def _names(self, texts: list[str], picks: list[list[tuple[int, float]]]) -> list[dict[int, str]]:
        """Per row, a name for each picked column: the table's for column views, else the n-grams of this
        row that hash to it."""
        names: list[dict[int, str]] = [{} for _ in texts]
        for view in self.views:
            start, end = view.offset, view.offset + view.width
            wanted = {i: [c for c, _ in row if start <= c < end] for i, row in enumerate(picks)}
            wanted = {i: cols for i, cols in wanted.items() if cols}
            if not wanted:
                continue
            if view.spec is None:
                for i, cols in wanted.items():
                    names[i].update({c: view.names[c - start] for c in cols})
                continue
            assert view.text is not None
            label = VIEW_WORDS.get(view.name, view.name)
            rows = sorted(wanted)
            view_texts = view.text([texts[i] for i in rows])
            width = view.spec.n_features
            for i, doc in zip(rows, view_texts):
                targets = set(wanted[i])
                found: dict[int, list[str]] = {}
                for gram in sorted(set(view.spec.grams(doc))):
                    column = abs(gram_hash(gram)) % width + start
                    if column in targets:  # only the picked columns are named
                        found.setdefault(column, []).append(gram)
                names[i].update(
                    {c: f"{label} " + " / ".join(f'"{g}"' for g in found.get(c, ["?"])) for c in wanted[i]}
                )
        return names


def expit(x: np.ndarray) -> np.ndarray:
    """The logistic function as scipy.special.expit computes it (1 / (1 + exp(-x)))."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)
