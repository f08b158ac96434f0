"""The classical family: fit/load round trip, determinism, option validation, safe loading."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import WarningRecord, record_text
from iacsieve.models import META_FILE, classical, classical_plain, load_scorer, read_meta

# A shape the plain runtime does not reproduce (bagged models): saved as a skops dump.
SKOPS_SHAPE = {"bagging": 2}

CONTEXT = "# File: f.pp\n# Target line: 2\n\n   1: class x {\n>>> 2: {line}\n   3: }"


def make_records(n_per_kind: int = 4) -> list[WarningRecord]:
    """A few dozen hand-made warnings whose label follows a reviewer's rule (trimmed data for tests)."""
    rows: list[tuple[str, str, int]] = []
    for i in range(n_per_kind):
        rows += [
            ("hard_coded_secret", f"db_password: 'S3cret{i}x!'", 1),
            ("hard_coded_secret", f"$admin_password = $::secret_{i},", 0),
            ("hard_coded_secret", f'password: "{{{{ vault_pw_{i} }}}}"', 0),
            ("use_of_http", f"source 'http://mirror{i}.vendor.org/pkg.tgz'", 1),
            ("use_of_http", f"url: http://localhost:{8000 + i}/", 0),
            ("suspicious_comment", f"# TODO: fix insecure ssl setting {i}", 1),
            ("suspicious_comment", f"# Copyright {2000 + i} Example Corp, Apache License", 0),
            ("weak_crypto", f'$h{i} = md5("${{password}}")', 1),
            ("weak_crypto", f"shell: md5sum /tmp/file{i}.iso", 0),
        ]
    return [
        WarningRecord(
            smell=s,
            tech="puppet",
            file=f"f{k}.pp",
            line=k + 1,
            content=c,
            label=y,
            with_context=CONTEXT.replace("{line}", c),
        )
        for k, (s, c, y) in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def records() -> list[WarningRecord]:
    return make_records()


def config(**kw) -> TrainConfig:
    return TrainConfig(family="classical", **kw)


def test_fit_load_round_trip_and_train_log(tmp_path, records):
    log = classical.fit(config(seed=3), records, records[:12], tmp_path / "m")
    assert set(log) >= {"epochs", "wall_time_s", "samples_per_s"}
    assert len(log["epochs"]) == 1 and 0.0 <= log["epochs"][0]["val_f1"] <= 1.0
    assert any("learning_rate" in note for note in log["notes"])
    meta = json.loads((tmp_path / "m" / META_FILE).read_text())
    assert meta["kind"] == "classical" and meta["family"] == "classical" and meta["use_context"] is False
    scorer = load_scorer(tmp_path / "m")
    scores = scorer.predict_proba(records)
    again = classical.load(tmp_path / "m").predict_proba(records, batch_size=2)
    assert scores.shape == (len(records),) and np.array_equal(scores, again)
    assert ((scores >= 0) & (scores <= 1)).all()
    labels = np.array([r.label for r in records])
    assert scores[labels == 1].mean() > scores[labels == 0].mean()  # it learned the rule
    assert scorer.predict_proba([]).shape == (0,)


def test_same_seed_same_scores(tmp_path, records):
    a = classical.fit(config(seed=7), records, [], tmp_path / "a")
    b = classical.fit(config(seed=7), records, [], tmp_path / "b")
    assert a["epochs"][0]["val_f1"] is None and b["epochs"][0]["val_f1"] is None
    assert np.array_equal(
        classical.load(tmp_path / "a").predict_proba(records),
        classical.load(tmp_path / "b").predict_proba(records),
    )


def test_every_option_saves_types_inside_the_allow_list(tmp_path, records):
    opts = {
        "word_ngram_max": 2,
        "normalise": "replace",
        "bagging": 2,
        "label_smoothing": 0.1,
        "class_weight": "none",
        "C": 2,
        "char_analyzer": "char",
        "context_ngram_max": 1,
        "noise_handling": "reweight",
        "noise_folds": 2,
        "hash_bits": 10,
    }
    classical.fit(config(use_context=True, options=opts), records, records, tmp_path / "m")
    scorer = classical.load(tmp_path / "m")
    assert scorer.use_context is True
    assert scorer.predict_proba(records[:3]).shape == (3,)


def test_a_hashing_model_is_saved_as_plain_data_and_a_vocabulary_one_as_skops(tmp_path, records):
    classical.fit(config(options={"hash_bits": 12}), records, [], tmp_path / "h")
    classical.fit(config(options={"vectorizer": "vocabulary", "min_df": 2}), records, [], tmp_path / "v")
    assert {p.name for p in (tmp_path / "h").iterdir()} == {
        classical_plain.ARRAYS_FILE,
        classical_plain.SETTINGS_FILE,
        META_FILE,
    }  # no skops dump: the run saves what freeze ships
    assert read_meta(tmp_path / "h")["format"] == "plain" and read_meta(tmp_path / "v")["format"] == "skops"
    settings = json.loads((tmp_path / "h" / classical_plain.SETTINGS_FILE).read_text())
    assert settings["width"] == 2**12 + 35 + 4  # char view + reviewer + definition columns
    assert not (tmp_path / "v" / classical_plain.SETTINGS_FILE).exists()  # a learned vocabulary: not plain
    vocab = classical.load(tmp_path / "v")
    assert hasattr(
        vocab.pipeline.named_steps["features"].transformer_list[0][1].named_steps["tfidf"], "vocabulary_"
    )
    labels = np.array([r.label for r in records])
    for scores in (classical.load(tmp_path / "h").predict_proba(records), vocab.predict_proba(records)):
        assert scores[labels == 1].mean() > scores[labels == 0].mean()


def test_noise_pruning_drops_rows_the_out_of_fold_model_contradicts(records):
    flipped = [r.label if i != 0 else 1 - r.label for i, r in enumerate(records)]  # one mislabelled row
    texts = [record_text(r) for r in records]
    settings = classical.resolve_options(
        config(options={"noise_handling": "prune", "noise_threshold": 0.5, "noise_folds": 3})
    )
    agreement = classical.label_agreement(settings, texts, np.array(flipped))
    assert agreement.shape == (len(records),) and ((agreement >= 0) & (agreement <= 1)).all()
    assert agreement[0] < 0.5 < np.median(agreement)  # the flipped row is the one the rest disagrees with
    pruned = classical.fit_pipeline(settings, texts, flipped)
    plain = classical.fit_pipeline(classical.resolve_options(config()), texts, flipped)
    assert classical.positive_proba(pruned, texts[:1]) > classical.positive_proba(
        plain, texts[:1]
    )  # the slip is ignored
    again = classical.fit_pipeline(settings, texts, flipped)
    assert np.array_equal(classical.positive_proba(pruned, texts), classical.positive_proba(again, texts))
    reweighted = classical.resolve_options(config(options={"noise_handling": "reweight", "noise_folds": 3}))
    assert classical.positive_proba(classical.fit_pipeline(reweighted, texts, flipped), texts).shape == (
        len(records),
    )


def test_generic_knobs_map_to_C():
    assert classical.resolve_options(config()).C == classical.DEFAULT_C
    assert classical.resolve_options(config(weight_decay=0.5)).C == 2.0
    assert classical.resolve_options(config(weight_decay=0.5, options={"C": 3})).C == 3.0


@pytest.mark.parametrize(
    "options, key",
    [
        ({"bogus": 1}, "options.bogus"),
        ({"normalise": "sometimes"}, "options.normalise"),
        ({"reviewer_features": "yes"}, "options.reviewer_features"),
        ({"char_ngram_min": 4, "char_ngram_max": 3}, "options.char_ngram_max"),
        ({"label_smoothing": 0.7}, "options.label_smoothing"),
        ({"C": True}, "options.C"),
        ({"min_df": 2}, "options.min_df"),  # hashing keeps every n-gram
        ({"hash_bits": 30}, "options.hash_bits"),
        ({"vectorizer": "tfidf"}, "options.vectorizer"),
        ({"noise_handling": "drop"}, "options.noise_handling"),
        ({"noise_threshold": 1.0}, "options.noise_threshold"),
    ],
)
def test_bad_options_name_their_key(options, key):
    with pytest.raises(ConfigError) as err:
        classical.resolve_options(config(options=options))
    assert err.value.key_path == key and key in str(err.value)


def test_refuses_a_skops_file_with_an_untrusted_type(tmp_path, records):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    model_dir = tmp_path / "evil"
    classical.fit(config(options=SKOPS_SHAPE), records, [], model_dir)  # genuine meta, then a crafted dump
    sio.dump(Pipeline([("f", FunctionTransformer(os.system))]), model_dir / classical.MODEL_FILE)
    assert any("system" in t for t in sio.get_untrusted_types(file=model_dir / classical.MODEL_FILE))
    with pytest.raises(IacsieveError, match="untrusted types: .*system"):
        load_scorer(model_dir)


def test_refuses_garbage_and_missing_model(tmp_path, records):
    model_dir = tmp_path / "m"
    classical.fit(config(options=SKOPS_SHAPE), records, [], model_dir)
    (model_dir / classical.MODEL_FILE).write_bytes(b"not a zip")
    with pytest.raises(IacsieveError, match="not a readable skops file"):
        classical.load(model_dir)
    (model_dir / classical.MODEL_FILE).unlink()
    with pytest.raises(IacsieveError, match="not found"):
        classical.load(model_dir)


def test_needs_both_labels(tmp_path, records):
    with pytest.raises(IacsieveError, match="both labels"):
        classical.fit(config(), [r for r in records if r.label == 1], [], tmp_path / "m")


def test_a_saved_model_is_the_same_bytes_run_to_run(tmp_path, prepared_small):
    """skops names objects by id(), which differs per process, and an .npz stamps the time: both are
    written canonically, so an unchanged run's directory hashes the same for DVC (and still loads)."""
    import hashlib
    import subprocess
    import sys

    code = (
        "import sys; from iacsieve.steps.train import train; from iacsieve.core.run_config import TrainConfig; "
        f"train(TrainConfig(family='classical'), sys.argv[1], sys.argv[2] + '/plain'); "
        f"train(TrainConfig(family='classical', options={SKOPS_SHAPE!r}), sys.argv[1], sys.argv[2] + '/skops')"
    )
    digests = []
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", code, str(prepared_small), str(tmp_path / name)], check=True)
        model_files = sorted((tmp_path / name).glob("*/model/*"))
        assert {p.name for p in model_files} >= {classical.MODEL_FILE, classical_plain.SETTINGS_FILE}
        digests.append(
            {p.relative_to(tmp_path / name): hashlib.md5(p.read_bytes()).hexdigest() for p in model_files}
        )
    assert digests[0] == digests[1]
    assert load_scorer(tmp_path / "a" / "skops" / "model").predict_proba([]).shape == (0,)
