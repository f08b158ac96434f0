"""The classical family: hashed character n-gram TF-IDF (+ reviewer and smell-definition features)
and logistic regression.

Why it exists: on ~1.4k labelled warnings a linear model over character n-grams is a strong,
seconds-to-train baseline that every encoder must beat; with the reviewer features of
`iacsieve.features` it is also the CPU champion candidate.

Family-specific settings live in `TrainConfig.options` (validated against `OPTIONS`; an unknown key
is a ConfigError naming `options.<key>`). Generic knobs: `seed` -> `random_state` (bagging draws,
solver); `weight_decay` > 0 -> L2 strength, C = 1 / weight_decay, unless `options.C` is given;
`use_context` adds a word n-gram view of the context window. `learning_rate`, `batch_size`,
`epochs` have no meaning for a convex solver: the train log says so.

N-grams are hashed (`vectorizer: hashing`, 2**18 columns) rather than kept in a learned
vocabulary: same val / CV F1, and the saved model is a few numpy arrays (0.5 MB, loads in ~0.02 s
instead of a 72 MB JSON vocabulary that took ~4 s).

Saved as plain data (`classical_plain`: settings as JSON, arrays as .npz; numpy and mmh3 load it) once
its scores on the training rows are proven equal to scikit-learn's: what a run saves is what freeze
ships and the filter runs, and training never imports skops. A shape the plain runtime does not
reproduce (bagging, a learned vocabulary) is saved with skops instead (no pickle); loading such a dump
first lists its types with `get_untrusted_types` and refuses any type outside `ALLOWED_TYPES` (an
allow-list kept here), so a model directory copied from elsewhere cannot make the loader import or
call anything else. Freeze refuses to ship a skops-only model.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from iacsieve.core import layout
from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.json_values import is_a
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import WarningRecord, record_text
from iacsieve.io.atomic import atomic_write_json
from iacsieve.models import META_FILE

log = logging.getLogger(__name__)

KIND = "classical"
FAMILY = "classical"
MODEL_FILE = layout.CLASSICAL_MODEL_FILE

# name -> (default, allowed type(s) or tuple of choices, help). Defaults are the settings chosen on
# validation F1 / 5-fold CV on train (see `iacsieve ablate` and reports/ablation).
OPTIONS: dict[str, tuple[Any, Any, str]] = {
    "C": (None, (int, float, type(None)), "inverse L2 strength (default: 1/weight_decay if > 0, else 32)"),
    "char_ngram_min": (2, int, "shortest character n-gram"),
    "char_ngram_max": (5, int, "longest character n-gram"),
    "char_analyzer": ("char_wb", ("char", "char_wb"), "character analyzer of the line view"),
    "vectorizer": (
        "hashing",
        ("hashing", "vocabulary"),
        "n-gram counts by feature hashing (a saved model is a few arrays) or a learned vocabulary",
    ),
    "hash_bits": (18, int, "hashing: 2**hash_bits columns per n-gram view (more: no val gain, slower fit)"),
    "word_ngram_max": (0, int, "word n-grams 1..n of the line as another view (0: off)"),
    "context_ngram_max": (2, int, "word n-grams of the context window when use_context (1..n)"),
    "context_weight": (0.5, (int, float), "weight of the context view in the union"),
    "normalise": (
        "append",
        ("none", "replace", "append"),
        "abstract quotes/variables/interpolation in the line",
    ),
    "reviewer_features": (True, bool, "add iacsieve.features reviewer columns"),
    "definition_features": (
        True,
        bool,
        "add iacsieve.features definition columns (GLITCH / Seven Sins smell definitions)",
    ),
    "reviewer_weight": (1.0, (int, float), "weight of the reviewer columns in the union"),
    "class_weight": ("balanced", ("balanced", "none"), "re-weight classes in the loss"),
    "label_smoothing": (
        0.0,
        (int, float),
        "soft labels: each row also counts with the other label at this weight",
    ),
    "noise_handling": (
        "none",
        ("none", "prune", "reweight"),
        "LLM label noise: drop or down-weight train rows the out-of-fold model disagrees with",
    ),
    "noise_threshold": (0.1, (int, float), "prune: drop rows whose out-of-fold P(own label) is below this"),
    "noise_folds": (5, int, "folds of the out-of-fold scoring for noise_handling"),
    "bagging": (0, int, "bag this many models on bootstrap draws of train (0: one model)"),
    "bagging_fraction": (0.8, (int, float), "share of train each bagged model sees"),
    "min_df": (1, int, "vocabulary: ignore n-grams seen in fewer rows (hashing keeps every n-gram: 1 only)"),
}

DEFAULT_C = 32.0


@dataclass(frozen=True)
class Settings:
    """Validated, resolved settings of one classical model."""

    options: dict[str, Any]
    C: float
    seed: int
    use_context: bool


def resolve_options(config: TrainConfig) -> Settings:
    """Validate `config.options` against `OPTIONS` and fill defaults; ConfigError names `options.<key>`."""
    raw = dict(config.options or {})
    unknown = sorted(set(raw) - set(OPTIONS))
    if unknown:
        raise ConfigError(
            f"options.{unknown[0]}", f"unknown option of the classical family (known: {', '.join(OPTIONS)})"
        )
    opts: dict[str, Any] = {}
    for key, (default, allowed, _help) in OPTIONS.items():
        value = raw.get(key, default)
        if isinstance(allowed, tuple) and all(isinstance(a, str) for a in allowed):
            if value not in allowed:
                raise ConfigError(f"options.{key}", f"must be one of {', '.join(allowed)}, got {value!r}")
        elif allowed is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"options.{key}", f"expected true or false, got {value!r}")
        elif not is_a(value, allowed):
            kind = allowed.__name__ if isinstance(allowed, type) else " or ".join(a.__name__ for a in allowed)
            raise ConfigError(f"options.{key}", f"expected {kind}, got {value!r}")
        opts[key] = value
    _check_ranges(opts)
    if opts["C"] is not None:
        C = float(opts["C"])
    elif config.weight_decay > 0:
        C = 1.0 / config.weight_decay
    else:
        C = DEFAULT_C
    return Settings(options=opts, C=C, seed=config.seed, use_context=config.use_context)


def _check_ranges(opts: dict[str, Any]) -> None:
    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"options.{key}", f"{what}, got {opts[key]!r}")

    if opts["C"] is not None:
        need(opts["C"] > 0, "C", "must be > 0")
    need(opts["char_ngram_min"] >= 1, "char_ngram_min", "must be >= 1")
    need(opts["char_ngram_max"] >= opts["char_ngram_min"], "char_ngram_max", "must be >= char_ngram_min")
    need(opts["word_ngram_max"] >= 0, "word_ngram_max", "must be >= 0")
    need(opts["context_ngram_max"] >= 1, "context_ngram_max", "must be >= 1")
    need(opts["context_weight"] >= 0, "context_weight", "must be >= 0")
    need(opts["reviewer_weight"] >= 0, "reviewer_weight", "must be >= 0")
    need(0 <= opts["label_smoothing"] < 0.5, "label_smoothing", "must be in [0, 0.5)")
    need(0 < opts["noise_threshold"] < 1, "noise_threshold", "must be in (0, 1)")
    need(opts["noise_folds"] >= 2, "noise_folds", "must be >= 2")
    need(opts["bagging"] >= 0, "bagging", "must be >= 0")
    need(0 < opts["bagging_fraction"] <= 1, "bagging_fraction", "must be in (0, 1]")
    need(opts["min_df"] >= 1, "min_df", "must be >= 1")
    need(
        opts["vectorizer"] == "vocabulary" or opts["min_df"] == 1,
        "min_df",
        "needs vectorizer: vocabulary when > 1",
    )
    need(8 <= opts["hash_bits"] <= 24, "hash_bits", "must be in [8, 24]")


# ----------------------------------------------------------------------------- the pipeline


def _ngram_tfidf(o: dict[str, Any], **ngrams: Any) -> Any:
    """Sublinear TF-IDF of one n-gram view: hashed counts + idf, or a learned vocabulary.

    Why hashing is the default: the vocabulary of the character view has ~70k n-grams, which skops
    stores as ~70 MB of JSON and rebuilds for seconds on every load; hashed counts leave only the
    idf and coefficient arrays to save. `alternate_sign=False` and `norm=None` keep raw counts so
    the idf, sublinear tf and l2 norm are applied exactly as `TfidfVectorizer` does.
    """
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
    from sklearn.pipeline import Pipeline

    if o["vectorizer"] == "vocabulary":
        return TfidfVectorizer(
            sublinear_tf=True, min_df=o["min_df"], lowercase=True, dtype=np.float64, **ngrams
        )
    return Pipeline(
        [
            (
                "counts",
                HashingVectorizer(
                    n_features=2 ** o["hash_bits"],
                    alternate_sign=False,
                    norm=None,
                    lowercase=True,
                    dtype=np.float64,
                    **ngrams,
                ),
            ),
            ("idf", TfidfTransformer(sublinear_tf=True)),
        ]
    )


def build_pipeline(settings: Settings) -> Any:
    """The unfitted scikit-learn Pipeline for these settings (input: `record_text` strings)."""
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from iacsieve.models import features

    o = settings.options
    line_view = {
        "none": features.head_texts,
        "replace": features.normalised_head_texts,
        "append": features.head_and_normalised_texts,
    }[o["normalise"]]
    char = _tfidf_view(
        line_view, o, analyzer=o["char_analyzer"], ngram_range=(o["char_ngram_min"], o["char_ngram_max"])
    )
    views: list[tuple[str, Any]] = [("char", char)]
    weights: dict[str, float] = {"char": 1.0}
    if o["word_ngram_max"]:
        word = _tfidf_view(
            line_view,
            o,
            analyzer="word",
            token_pattern=r"[A-Za-z_][A-Za-z0-9_]+|\S",
            ngram_range=(1, o["word_ngram_max"]),
        )
        views.append(("word", word))
        weights["word"] = 1.0
    if settings.use_context and o["context_weight"] > 0:
        context = _tfidf_view(
            features.context_texts,
            o,
            analyzer="word",
            token_pattern=r"[A-Za-z_][A-Za-z0-9_]+",
            ngram_range=(1, o["context_ngram_max"]),
        )
        views.append(("context", context))
        weights["context"] = float(o["context_weight"])
    if o["reviewer_features"] and o["reviewer_weight"] > 0:
        views.append(("reviewer", FunctionTransformer(features.reviewer_features)))
        weights["reviewer"] = float(o["reviewer_weight"])
    if o["definition_features"] and o["reviewer_weight"] > 0:
        views.append(("definition", FunctionTransformer(features.definition_features)))
        weights["definition"] = float(o["reviewer_weight"])
    return Pipeline(
        [("features", FeatureUnion(views, transformer_weights=weights)), ("clf", _classifier(settings))]
    )


def _tfidf_view(select: Any, o: dict, **tfidf: Any) -> Any:
    """One text view: pick the text (`select`), then TF-IDF n-grams of it."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    return Pipeline([("select", FunctionTransformer(select)), ("tfidf", _ngram_tfidf(o, **tfidf))])


def _classifier(settings: Settings) -> Any:
    """Logistic regression (liblinear, dual: 20x faster here, n_features >> n_samples), optionally bagged."""
    from sklearn.linear_model import LogisticRegression

    o = settings.options
    classifier: Any = LogisticRegression(
        C=settings.C,
        class_weight=None if o["class_weight"] == "none" else "balanced",
        solver="liblinear",
        dual=True,
        max_iter=5000,
        random_state=settings.seed,
    )
    if o["bagging"]:
        from sklearn.ensemble import BaggingClassifier  # only here: sklearn.ensemble costs 0.25 s to import

        classifier = BaggingClassifier(
            classifier,
            n_estimators=o["bagging"],
            max_samples=float(o["bagging_fraction"]),
            bootstrap=True,
            random_state=settings.seed,
            n_jobs=None,
        )
    return classifier


def fit_pipeline(settings: Settings, texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> Any:
    """Fit `build_pipeline(settings)` with the label-noise handling of the options.

    `noise_handling` first scores every train row out-of-fold (`noise_folds`-fold CV of the same
    pipeline) with P(its own label): "prune" drops rows below `noise_threshold`, "reweight" weights
    each row by that probability (confident-learning style: a row the rest of train strongly
    disagrees with is likely an LLM labelling slip). Label smoothing then duplicates each row with
    the flipped label at weight `label_smoothing`.
    """
    o = settings.options
    y = np.asarray(labels, dtype=int)
    X = list(texts)
    weights = np.ones(len(y))
    if o["noise_handling"] != "none":
        agreement = label_agreement(settings, X, y)
        if o["noise_handling"] == "prune":
            weights = (agreement >= float(o["noise_threshold"])).astype(float)
        else:
            weights = agreement
        keep = weights > 0
        if len(set(y[keep].tolist())) < 2:  # never prune a whole class away
            keep, weights = np.ones(len(y), dtype=bool), np.ones(len(y))
        X, y, weights = [x for x, k in zip(X, keep) if k], y[keep], weights[keep]
    eps = float(o["label_smoothing"])
    if eps > 0:
        X = X + X
        weights = np.concatenate([weights * (1.0 - eps), weights * eps])
        y = np.concatenate([y, 1 - y])
    pipeline = build_pipeline(settings)
    if np.all(weights == 1.0):
        pipeline.fit(X, y)
    else:
        pipeline.fit(X, y, clf__sample_weight=weights)
    return pipeline


def label_agreement(settings: Settings, texts: Sequence[str], labels: np.ndarray) -> np.ndarray:
    """Out-of-fold P(given label) per train row (1.0 everywhere when a class is too small to fold)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = int(settings.options["noise_folds"])
    if np.bincount(labels, minlength=2).min() < folds:
        return np.ones(len(labels))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=settings.seed)
    proba = cross_val_predict(build_pipeline(settings), list(texts), labels, cv=cv, method="predict_proba")[
        :, 1
    ]
    return np.where(labels == 1, proba, 1.0 - proba)


def positive_proba(pipeline: Any, texts: Sequence[str]) -> np.ndarray:
    """P(label 1) from a fitted pipeline."""
    proba = pipeline.predict_proba(list(texts))
    classes = list(pipeline.classes_)
    return np.asarray(proba[:, classes.index(1)] if 1 in classes else np.zeros(len(texts)), dtype=np.float64)


# ----------------------------------------------------------------------------- fit / save / load


def fit(
    config: TrainConfig,
    train_records: Sequence[WarningRecord],
    val_records: Sequence[WarningRecord],
    model_dir: str | Path,
) -> dict:
    """Train on `train_records`, report val F1 at 0.5, save to `model_dir`; return the train log."""
    from sklearn.metrics import f1_score

    settings = resolve_options(config)
    log.info(
        "classical: learning_rate, batch_size and epochs have no meaning for this family (ignored); "
        "seed -> random_state, L2 C=%g",
        settings.C,
    )
    labels = [r.label for r in train_records]
    if any(label is None for label in labels):
        raise IacsieveError("classical: every training record needs a label")
    if len(set(labels)) < 2:
        raise IacsieveError("classical: training data must contain both labels (TP and FP)")
    texts = [record_text(r, use_context=settings.use_context) for r in train_records]
    start = time.perf_counter()
    pipeline = fit_pipeline(settings, texts, [int(label) for label in labels if label is not None])
    wall = time.perf_counter() - start
    val_f1 = None
    if val_records:
        val_scores = positive_proba(
            pipeline, [record_text(r, use_context=settings.use_context) for r in val_records]
        )
        val_f1 = float(
            f1_score([r.label for r in val_records], (val_scores >= 0.5).astype(int), zero_division=0)
        )
    save(pipeline, settings, model_dir, check=train_records)
    return {
        "epochs": [{"epoch": 1, "loss": None, "val_f1": val_f1}],
        "wall_time_s": wall,
        "samples_per_s": len(texts) / wall if wall > 0 else None,
        "stopped_early": False,
        "best_epoch": 1,
        "epochs_run": 1,
        "n_train": len(texts),
        "device": "cpu",
        "notes": [
            "classical family: learning_rate, batch_size and epochs are not used (convex solver, one fit); "
            f"seed -> random_state; C = {settings.C:g}"
        ],
        "options": settings.options,
        "C": settings.C,
    }


def save(
    pipeline: Any, settings: Settings, model_dir: str | Path, check: Sequence[WarningRecord] = ()
) -> None:
    """Write the fitted `pipeline` and `model_meta.json` into `model_dir`: as plain data, proven to score
    `check` (the training rows) as scikit-learn does, or as a skops dump when the plain runtime does not
    reproduce its shape."""
    from iacsieve.models import classical_plain

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        plain, arrays = classical_plain.export(pipeline, settings.use_context)
    except classical_plain.ExportError as exc:
        log.info("%s: saved as a skops dump instead (freeze will not ship it)", exc)
        _save_skops(pipeline, model_dir)
        saved_as, file = "skops", MODEL_FILE
    else:
        card = classical_plain.save(plain, arrays, model_dir)
        _prove_plain(model_dir, card, ClassicalScorer(pipeline, settings.use_context), check)
        saved_as, file = "plain", classical_plain.SETTINGS_FILE
    atomic_write_json(
        model_dir / META_FILE,
        {
            "kind": KIND,
            "family": FAMILY,
            "use_context": settings.use_context,
            "format": saved_as,
            "file": file,
            "options": settings.options,
            "C": settings.C,
            "seed": settings.seed,
        },
    )


def _save_skops(pipeline: Any, model_dir: Path) -> None:
    """`model.skops` in `model_dir`, canonical bytes, loadable by `load_skops`'s allow-list."""
    sio = skops_io()
    tmp = model_dir / f".{MODEL_FILE}.tmp"
    # Deflate: the hashed idf/coefficient arrays are mostly zeros (~4 MB raw, ~0.5 MB compressed; a learned
    # vocabulary would be ~70 MB of JSON in skops' schema).
    sio.dump(pipeline, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    untrusted = set(sio.get_untrusted_types(file=tmp)) - ALLOWED_TYPES
    if untrusted:  # our own pipeline must always be loadable by our own loader
        tmp.unlink()
        raise IacsieveError(f"classical: refusing to save types outside the allow-list: {sorted(untrusted)}")
    canonical_skops(tmp)
    tmp.replace(model_dir / MODEL_FILE)


def canonical_skops(path: Path) -> None:
    """Rewrite a skops dump so the same model gives the same bytes (DVC hashes run dirs; a rerun of
    an unchanged run must not look changed). skops names objects and array files by `id()`, which
    differs run to run: renumber them in schema order, and write the zip in name order with a fixed
    timestamp. Only identities change (skops uses them to rebuild shared references), not content."""
    import json

    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
        arrays = {name: archive.read(name) for name in archive.namelist() if name != "schema.json"}
    ids: dict[int, int] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("__id__"), int):
                node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
            if isinstance(node.get("file"), str) and node["file"].endswith(".npy"):
                old = int(node["file"][:-4])
                node["file"] = f"{ids.setdefault(old, len(ids) + 1)}.npy"
            for value in node.values():
                renumber(value)
        elif isinstance(node, list):
            for value in node:
                renumber(value)

    renumber(schema)
    renamed = {f"{ids[int(name[:-4])]}.npy": data for name, data in arrays.items()}
    entries = {"schema.json": json.dumps(schema, indent=2).encode(), **renamed}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])


# Array libraries that scikit-learn's vendored array-API backends (sklearn.externals.array_api_compat.
# torch | cupy | dask) import. skops.io builds its trusted-type list with sklearn's `all_estimators()`,
# whose pkgutil walk imports every sklearn package, those backends included: with torch installed,
# loading a 0.5 MB classical model imported torch (~4 s, ~250 MB). A classical model needs none of them.
ARRAY_BACKENDS: tuple[str, ...] = ("torch", "cupy", "dask")


class _Refuse:
    """A meta-path finder that answers "not installed" for some top-level modules."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.split(".", 1)[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden while loading)", name=fullname)
        return None


@contextlib.contextmanager
def hidden_modules(names: Sequence[str]) -> Iterator[None]:
    """Make `import name` fail (ModuleNotFoundError) for the not-yet-imported `names` while inside.

    pkgutil's walk skips a package whose import fails, so the walk completes without them. Nothing is
    cached as missing: a module already imported stays usable, and afterwards `import torch` works.
    (Not `sys.modules[name] = None`: array-API helpers read sys.modules and would choke on None.)
    """
    hidden = [name for name in names if name not in sys.modules]
    finder = _Refuse(hidden)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def skops_io() -> ModuleType:
    """`skops.io`, imported without pulling in torch/cupy/dask through scikit-learn's array-API walk."""
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    with hidden_modules(ARRAY_BACKENDS):
        return importlib.import_module("skops.io")


# The types a classical model holds beyond what skops itself trusts (sklearn estimators, numpy and
# scipy containers): exactly the six module-level view functions of `iacsieve.features` that its
# FunctionTransformers reference. A dump naming anything else (another function of ours,
# `os.system`, a foreign class) is refused before anything in it is loaded.
ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "iacsieve.models.features.head_texts",
        "iacsieve.models.features.normalised_head_texts",
        "iacsieve.models.features.head_and_normalised_texts",
        "iacsieve.models.features.context_texts",
        "iacsieve.models.features.reviewer_features",
        "iacsieve.models.features.definition_features",
    }
)


@dataclass
class ClassicalScorer:
    """A loaded classical model: scores warnings with P(real smell)."""

    pipeline: Any
    use_context: bool
    family: str = FAMILY

    _last: tuple[list[str], Any] | None = field(default=None, repr=False)  # the last scored texts' features

    def predict_proba(self, records: Sequence[WarningRecord], batch_size: int = 32) -> np.ndarray:
        """P(real smell) per record (batch_size is irrelevant here: one vectorised call)."""
        if not records:
            return np.zeros(0, dtype=np.float64)
        texts = [record_text(r, use_context=self.use_context) for r in records]
        features = self.pipeline[:-1].transform(texts)
        self._last = (texts, features)  # `top_features` of the same records reuses them
        proba = self.pipeline[-1].predict_proba(features)
        classes = list(self.pipeline.classes_)
        return np.asarray(
            proba[:, classes.index(1)] if 1 in classes else np.zeros(len(texts)), dtype=np.float64
        )

    def top_features(self, records: Sequence[WarningRecord], n: int = 5) -> list[list[tuple[str, float]]]:
        """Per record, the `n` features that moved its score most (`iacsieve.models.classical_explain`)."""
        from iacsieve.models.classical_explain import top_features

        texts = [record_text(r, use_context=self.use_context) for r in records]
        features = self._last[1] if self._last is not None and self._last[0] == texts else None
        self._last = None  # held only from scoring to explaining
        return top_features(self.pipeline, texts, n, features)


PLAIN_CARD_KEY = "classical_plain"  # champion.json's key for the plain-data files' card


def load(model_dir: str | Path) -> Any:
    """Load a saved classical model: its plain-data files when present (numpy only: what the filter
    uses), else the skops dump (`load_skops`, which needs scikit-learn)."""
    from iacsieve.models import classical_plain

    model_dir = Path(model_dir)
    if classical_plain.present(model_dir):
        return classical_plain.load(model_dir, _plain_card(model_dir))
    try:
        return load_skops(model_dir)
    except ModuleNotFoundError:
        raise IacsieveError(
            f"{model_dir}: a classical model without {classical_plain.SETTINGS_FILE} (frozen before the "
            f"plain-data format) needs scikit-learn: freeze it again (`iacsieve step freeze`), or "
            f"pip install '.[train]' in a clone of iacsieve"
        ) from None


def _plain_card(model_dir: Path) -> dict | None:
    """champion.json's card of the plain-data files (their SHA-256), when the folder is a champion."""
    from iacsieve.core.layout import CHAMPION_FILE
    from iacsieve.io.reading import read_json_object

    if not (model_dir / CHAMPION_FILE).is_file():
        return None
    card = read_json_object(model_dir / CHAMPION_FILE, what="champion file").get(PLAIN_CARD_KEY)
    return card if isinstance(card, dict) else None


def load_skops(model_dir: str | Path) -> ClassicalScorer:
    """The skops dump of `model_dir` as a scikit-learn pipeline, refusing any type outside
    `ALLOWED_TYPES` before anything in it is loaded (no code runs first)."""
    from iacsieve.models import read_meta

    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    path = model_dir / MODEL_FILE
    if not path.is_file():
        raise IacsieveError(f"{path}: not found; is {model_dir} a classical model saved by iacsieve?")
    sio = skops_io()
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a corrupt or foreign file
        raise IacsieveError(f"{path}: not a readable skops file: {exc}") from None
    refused = sorted(set(untrusted) - ALLOWED_TYPES)
    if refused:
        raise IacsieveError(f"{path}: refusing to load untrusted types: {', '.join(refused)}")
    pipeline = sio.load(path, trusted=list(untrusted))
    return ClassicalScorer(pipeline=pipeline, use_context=bool(meta.get("use_context", False)))


def write_plain(model_dir: str | Path, check: Sequence[WarningRecord]) -> dict:
    """The plain-data files' card of the classical model in `model_dir`, for champion.json.

    A run saves plain data already (proven then on its training rows); a skops dump (a run saved by an
    older iacsieve) is exported now and proven on `check`. Refuses (one line) a pipeline shape the plain
    runtime does not reproduce: a champion must run on the base install, exactly as it was evaluated."""
    from iacsieve.models import classical_plain

    model_dir = Path(model_dir)
    if classical_plain.present(model_dir):
        classical_plain.load(model_dir)  # readable, and its arrays are the ones its settings name
        return classical_plain.card(model_dir)
    fitted = load_skops(model_dir)
    settings, arrays = classical_plain.export(fitted.pipeline, fitted.use_context)
    card = classical_plain.save(settings, arrays, model_dir)
    _prove_plain(model_dir, card, fitted, check)
    return card


def _prove_plain(
    model_dir: Path,
    card: dict,
    fitted: ClassicalScorer,
    check: Sequence[WarningRecord],
    tolerance: float = 1e-9,
) -> None:
    """Refuse (one line) plain data in `model_dir` that scores a row of `check` more than `tolerance` away
    from the scikit-learn pipeline it was exported from."""
    from iacsieve.models import classical_plain

    if not check:
        return
    expected = fitted.predict_proba(list(check))
    got = classical_plain.load(model_dir, card).predict_proba(list(check))
    worst = float(np.max(np.abs(expected - got)))
    if worst > tolerance:
        raise IacsieveError(
            f"{model_dir}: the plain-data export scores the training rows up to {worst:.2e} away from "
            f"scikit-learn (> {tolerance:g}); not saving it"
        )
