"""The report-only learning-curve experiment: cross-fitting never scores a row a model trained on."""

import json

import iacsieve.reporting.learning_curve as lc
from iacsieve.cli.app import main
from iacsieve.core.classification import compute_metrics
from iacsieve.data.human import record_key
from iacsieve.data.records import load_prepared


def test_learning_curve_cross_fits_and_writes_the_figure(prepared_small, tmp_path, monkeypatch, capsys):
    fits = []
    real = lc._fit_scores

    def recording(config, train, val, score):
        fits.append(({record_key(r): r.label for r in train}, {record_key(r) for r in score}))
        return real(config, train, val, score)

    monkeypatch.setattr(lc, "_fit_scores", recording)
    out = tmp_path / "lc"
    assert (
        main(
            [
                "experiment",
                "learning-curve",
                "--data",
                str(prepared_small),
                "--champion",
                "none",
                "--out",
                str(out),
                "--sizes",
                "0,4",
                "--folds",
                "2",
                "--repeats",
                "1",
            ]
        )
        == 0
    )
    assert "not a headline figure" in capsys.readouterr().out
    test = load_prepared(prepared_small, "test")
    test_labels = {record_key(r): r.label for r in test}
    train_keys = {record_key(r) for r in load_prepared(prepared_small, "train")}
    # first fit: the LLM-only model (n = 0), trained without any test row
    assert not set(fits[0][0]) & set(test_labels)
    for trained, scored in fits[1:]:
        reviewed = set(trained) - train_keys
        assert reviewed and not reviewed & scored  # reviews and the held-out fold never overlap
        assert all(trained[k] == test_labels[k] for k in reviewed)  # reviews carry the human (test) label
    # 2 strategies x 2 folds x (n = 4 and the whole pool of 10)
    assert len(fits) == 1 + 2 * 2 * 2
    result = json.loads((out / "learning_curve.json").read_text())
    sizes = sorted({p["n_labels"] for p in result["points"]})
    assert sizes == [0, 4, 10] and result["pool_size"] == 10
    zero = [p for p in result["points"] if p["n_labels"] == 0]
    assert len({p["f1"] for p in zero}) == 1  # the same LLM-only point for both strategies
    labels = [r.label for r in test]
    scores = real(
        lc._base(None)[0], load_prepared(prepared_small, "train"), load_prepared(prepared_small, "val"), test
    )
    assert zero[0]["f1"] == compute_metrics(labels, scores, 0.5)["f1"]
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "reuses the human-labelled test split" in (out / "learning_curve.md").read_text()
