"""The classical champion as plain data, scored with numpy + mmh3 (issue 28): the same n-grams, columns,
scores and explanations as scikit-learn; refusals of shapes it cannot reproduce; a filter run that
imports none of scipy, scikit-learn, skops or torch; the files carried by freeze and the archive."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from filter_golden import REAL, golden_champion

from iacsieve.core.errors import IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import load_prepared, record_text
from iacsieve.models import classical, classical_plain, load_scorer
from iacsieve.models.classical_explain import top_features
from iacsieve.models.classical_hashing import NgramSpec, gram_column, hashed_counts
from iacsieve.models.evidence_index import build_index, index_text
from iacsieve.release import archive

HEAVY = ("scipy", "sklearn", "skops", "torch")
SAMPLES = [
    "smell: hard_coded_secret\nline: $Password  =  'S3cr\u00e9t!'\t# TODO",
    'smell: use_of_http\nline: url => "http://example.com/x?y=1"',
    "a  b\n\nc\u00a0d \U0001f600 e",
    "",
    "x",
]


def _alphabet() -> str:
    return "abcXYZ \t\n\u00e9\u20ac\U0001f600\u0301" + "".join(chr(i) for i in range(33, 127))


def test_columns_are_sklearns_murmurhash_on_random_strings():
    from sklearn.utils.murmurhash import murmurhash3_32

    rng = random.Random(7)
    alphabet = _alphabet()
    for _ in range(20000):
        gram = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))
        h = murmurhash3_32(gram, seed=0, positive=False)
        assert gram_column(gram, 2**18) == abs(h) % 2**18


def test_the_minus_2_pow_31_case_is_sklearns_rule():
    """scikit-learn maps h = -2**31 to (2**31 - 1 - (n - 1)) % n; abs(h) % n is the same number."""
    for n in (2**8, 2**18, 2**20 + 7, 3):
        assert abs(-(2**31)) % n == (2147483647 - (n - 1)) % n


@pytest.mark.parametrize(
    "analyzer, ngrams, pattern",
    [("char_wb", (2, 5), None), ("char", (1, 4), None), ("word", (1, 2), r"[A-Za-z_][A-Za-z0-9_]+|\S")],
)
def test_ngrams_and_counts_match_hashing_vectorizer(analyzer, ngrams, pattern):
    from sklearn.feature_extraction.text import HashingVectorizer

    options = {"token_pattern": pattern} if pattern else {}
    reference = HashingVectorizer(
        analyzer=analyzer, ngram_range=ngrams, n_features=2**10, alternate_sign=False, norm=None, **options
    )
    spec = NgramSpec(analyzer, ngrams[0], ngrams[1], 2**10, token_pattern=pattern)
    analyse = reference.build_analyzer()
    for text in SAMPLES:
        assert spec.grams(text) == analyse(text)
    expected = reference.transform(SAMPLES).tocsr()
    got = hashed_counts(spec, SAMPLES)
    assert np.array_equal(np.repeat(np.arange(len(SAMPLES)), np.diff(expected.indptr)), got.row)
    assert np.array_equal(expected.indices, got.column) and np.array_equal(expected.data, got.value)


@pytest.fixture(scope="module")
def fitted(prepared_full):
    """Two fitted pipelines on the full training split: the default, and one with every view kind."""
    train_rows = load_prepared(prepared_full, "train")
    out = []
    for config in (
        TrainConfig(family="classical"),
        TrainConfig(
            family="classical",
            use_context=True,
            options={
                "word_ngram_max": 2,
                "char_analyzer": "char",
                "normalise": "replace",
                "context_weight": 0.3,
            },
        ),
    ):
        settings = classical.resolve_options(config)
        texts = [record_text(r, use_context=settings.use_context) for r in train_rows]
        pipeline = classical.fit_pipeline(settings, texts, [int(r.label) for r in train_rows])
        out.append((settings, pipeline))
    return out


def test_plain_scores_equal_sklearn_on_every_prepared_row(fitted, prepared_full):
    for settings, pipeline in fitted:
        scorer = classical_plain.PlainScorer.build(*classical_plain.export(pipeline, settings.use_context))
        for split in ("train", "val", "test"):
            rows = load_prepared(prepared_full, split)
            expected = classical.positive_proba(
                pipeline, [record_text(r, use_context=settings.use_context) for r in rows]
            )
            assert np.max(np.abs(scorer.predict_proba(rows) - expected)) <= 1e-9, split


def test_plain_top_features_equal_sklearns(fitted, prepared_full):
    rows = load_prepared(prepared_full, "val")
    for settings, pipeline in fitted:
        scorer = classical_plain.PlainScorer.build(*classical_plain.export(pipeline, settings.use_context))
        texts = [record_text(r, use_context=settings.use_context) for r in rows]
        assert scorer.top_features(rows, 5) == top_features(pipeline, texts, 5)


@pytest.mark.parametrize(
    "options, words",
    [({"bagging": 2}, "bagging"), ({"vectorizer": "vocabulary"}, "learned vocabulary")],
)
def test_export_refuses_shapes_it_cannot_reproduce(prepared_small, options, words):
    rows = load_prepared(prepared_small, "train")
    settings = classical.resolve_options(TrainConfig(family="classical", options=options))
    pipeline = classical.fit_pipeline(settings, [record_text(r) for r in rows], [int(r.label) for r in rows])
    with pytest.raises(classical_plain.ExportError) as caught:
        classical_plain.export(pipeline, False)
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.filterwarnings("ignore:The parameter .ngram_range. will not be used")
def test_export_refuses_a_custom_analyzer(fitted):
    settings, pipeline = fitted[0]
    from sklearn.base import clone

    odd = clone(pipeline)
    odd.set_params(features__char__tfidf__counts__analyzer=str.split)
    odd.fit([record_text(r) for r in _few()], [0, 1])
    with pytest.raises(classical_plain.ExportError, match="custom analyzer"):
        classical_plain.export(odd, False)


def _few():
    from iacsieve.data.records import WarningRecord

    return [
        WarningRecord(
            smell="hard_coded_secret", tech="puppet", file="a.pp", line=1, content="$p = 'x'", label=0
        ),
        WarningRecord(
            smell="hard_coded_secret", tech="puppet", file="b.pp", line=2, content="$p = 'y'", label=1
        ),
    ]


def test_evidence_search_equals_a_scipy_product(prepared_full):
    """The numpy search gives what the scipy product of the previous implementation gave, to the bit."""
    from scipy import sparse

    index = build_index(load_prepared(prepared_full, "train"))
    queries = load_prepared(prepared_full, "val") + load_prepared(prepared_full, "test")
    smells, texts = [r.smell for r in queries], [index_text(r.smell, r.content) for r in queries]
    got = index.nearest(smells, texts, 3)
    matrix = sparse.csr_matrix((index.data, index.indices, index.indptr), shape=(len(index.rows), 2**18))
    seen = sparse.csr_matrix(matrix[:, index.df_columns])
    vectors = index.vectorise(texts)
    q = sparse.csr_matrix((vectors.value, (vectors.row, vectors.column)), shape=(len(texts), 2**18))
    q = sparse.csr_matrix(q[:, index.df_columns])
    for i, smell in enumerate(smells):
        ids = np.asarray([j for j, row in enumerate(index.rows) if row.smell == smell])
        sims = (q[[i]] @ sparse.csr_matrix(seen[ids].T)).toarray()[0]
        order = np.argsort(-sims, kind="stable")[:3]
        assert got[i] == [(int(ids[j]), round(float(sims[j]), 6)) for j in order if sims[j] > 0]


# ----------------------------------------------------------------------------- the frozen champion


@pytest.fixture(scope="module")
def frozen(tmp_path_factory, prepared_small) -> Path:
    return golden_champion(tmp_path_factory.mktemp("plain"), prepared_small)


def test_freeze_writes_plain_files_and_their_hashes(frozen):
    card = json.loads((frozen / "champion.json").read_text())[classical.PLAIN_CARD_KEY]
    assert set(card["sha256"]) == {classical_plain.SETTINGS_FILE, classical_plain.ARRAYS_FILE}
    with np.load(frozen / classical_plain.ARRAYS_FILE, allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)
    settings = json.loads((frozen / classical_plain.SETTINGS_FILE).read_text())
    assert {v["text"] for v in settings["views"] if v["kind"] == "ngrams"} <= set(classical_plain.TEXT_VIEWS)
    assert isinstance(load_scorer(frozen), classical_plain.PlainScorer)


def test_a_run_keeps_no_plain_data_that_scores_otherwise_than_scikit_learn(
    prepared_small, tmp_path, monkeypatch
):
    from iacsieve.steps.train import train

    real = classical_plain.PlainScorer.predict_proba
    monkeypatch.setattr(
        classical_plain.PlainScorer, "predict_proba", lambda self, rows: real(self, rows) + 1e-6
    )
    with pytest.raises(IacsieveError, match=r"up to 1\.00e-06 away from scikit-learn") as caught:
        train(TrainConfig(family="classical"), prepared_small, tmp_path / "run")
    assert "\n" not in str(caught.value) and not (tmp_path / "run").exists()  # the run dir is all or nothing


def test_freezing_a_run_saved_as_skops_exports_and_proves_the_plain_files(prepared_small, tmp_path):
    """A run dir from before runs saved plain data (a skops dump only): freeze exports it then."""
    settings = classical.resolve_options(TrainConfig(family="classical"))
    rows = load_prepared(prepared_small, "train")
    pipeline = classical.fit_pipeline(settings, [record_text(r) for r in rows], [int(r.label) for r in rows])
    run = tmp_path / "old-run"
    run.mkdir()
    classical._save_skops(pipeline, run)
    classical.save(pipeline, settings, tmp_path / "new-run", check=rows)
    (run / "model_meta.json").write_bytes((tmp_path / "new-run" / "model_meta.json").read_bytes())
    assert not classical_plain.present(run)
    card = classical.write_plain(run, rows)
    assert card == classical_plain.card(tmp_path / "new-run")  # the same bytes a run saves today


def test_an_altered_plain_file_is_refused(frozen, tmp_path):
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(frozen, copy)
    settings = json.loads((copy / classical_plain.SETTINGS_FILE).read_text())
    settings["views"][0]["weight"] = 2.0
    (copy / classical_plain.SETTINGS_FILE).write_text(json.dumps(settings))
    with pytest.raises(IacsieveError, match="altered after it was frozen"):
        load_scorer(copy)


def test_a_champion_frozen_before_needs_scikit_learn_in_one_line(frozen, tmp_path, monkeypatch):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(frozen, old)
    for name in (classical_plain.SETTINGS_FILE, classical_plain.ARRAYS_FILE):
        (old / name).unlink()
    (old / classical.MODEL_FILE).write_bytes(b"PK")  # what such a champion held: a skops dump

    def missing():
        raise ModuleNotFoundError("No module named 'skops'", name="skops")

    monkeypatch.setattr(classical, "skops_io", missing)
    with pytest.raises(IacsieveError, match="freeze it again") as caught:
        load_scorer(old)
    assert "\n" not in str(caught.value)


def test_the_archive_carries_the_plain_files(frozen, tmp_path):
    packed = tmp_path / "champion.tar.gz"
    archive.pack(frozen, packed)
    unpacked = tmp_path / "unpacked"
    archive.unpack(packed, unpacked)
    sums = (unpacked / archive.MANIFEST).read_text()
    for name in (classical_plain.SETTINGS_FILE, classical_plain.ARRAYS_FILE):
        assert f"  {name}\n" in sums and (unpacked / name).read_bytes() == (frozen / name).read_bytes()
    assert isinstance(load_scorer(unpacked), classical_plain.PlainScorer)


_PROBE = f"""
import runpy, sys
HEAVY = {HEAVY!r}
sys.argv = ["iacsieve", *sys.argv[1:]]
try:
    runpy.run_module("iacsieve", run_name="__main__")
except SystemExit as done:
    heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set(HEAVY))
    print("HEAVY=" + ",".join(heavy), file=sys.stderr)
    raise
"""


def test_a_filter_run_imports_none_of_the_heavy_packages(frozen, tmp_path):
    out = tmp_path / "kept.sarif"
    args = ["filter", "--model", str(frozen), "--detections", str(REAL / "chef-glitch.csv")]
    args += ["--scripts", str(REAL / "chef"), "--out", str(out), "--explain", str(tmp_path / "e.jsonl")]
    env = {**os.environ, "PYTHONPATH": str(Path(classical.__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "HEAVY=\n" in done.stderr and out.is_file()
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "iacsieve", *args[:-2]],
        capture_output=True,
        text=True,
        env=env,
    )
    assert timed.returncode == 0, timed.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in timed.stderr.splitlines() if "|" in line
    }
    assert "iacsieve" in imported and not imported & set(HEAVY)
