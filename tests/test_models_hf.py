"""Pretrained (hf) and tiny encoder families: loading, tokenisation, training settings (issue #3).

No hub: every pretrained family is loaded from a tiny model of its architecture saved to a temp
dir and passed as `name_or_path`, exactly as a cluster points at pre-downloaded weights.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from iacsieve.core.errors import ConfigError, IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import load_prepared, record_text
from iacsieve.models import FAMILIES, get_family, hf, load_scorer, read_meta, tiny
from iacsieve.models.encoders import loading, tokens, training

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PRETRAINED = [name for name, spec in FAMILIES.items() if spec.kind == "hf"]
SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "num_layers": 2, "vocab_size": 400}


def small_config(family: str, **overrides) -> TrainConfig:
    values = {
        "family": family,
        "epochs": 1,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "max_length": 64,
        "fp16": False,
    }
    if get_family(family).kind == "tiny":
        values["options"] = dict(SMALL)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def small_records(prepared_small):
    return load_prepared(prepared_small, "train"), load_prepared(prepared_small, "val")


@pytest.fixture(scope="module")
def saved_pretrained(tmp_path_factory, small_records):
    """arch -> a dir holding a tiny model + tokenizer saved with save_pretrained (a stand-in hub snapshot)."""
    train, _ = small_records
    texts = [record_text(r) for r in train]
    dirs = {}
    for arch in ("roberta", "t5"):
        tok = tiny.train_tokenizer(texts, arch, vocab_size=400, min_frequency=2, max_length=64)
        torch.manual_seed(0)
        model = tiny.build_model(arch, tok, tiny.tiny_options(small_config(f"tiny-{arch}")), 64)
        out = tmp_path_factory.mktemp(f"hub-{arch}")
        model.save_pretrained(out)
        tok.save_pretrained(out)
        dirs[arch] = out
    return dirs


@pytest.mark.slow
@pytest.mark.parametrize("family", PRETRAINED)
def test_every_pretrained_family_loads_from_a_local_dir_and_trains(
    family, saved_pretrained, small_records, tmp_path
):
    spec = get_family(family)
    config = small_config(family, name_or_path=str(saved_pretrained[spec.arch]))
    train, val = small_records
    log = hf.fit(config, train, val, tmp_path / "model")
    assert [e["epoch"] for e in log["epochs"]] == [1]
    meta = read_meta(tmp_path / "model")
    assert meta["kind"] == "hf" and meta["family"] == family and meta["arch"] == spec.arch
    assert meta["name_or_path"] == str(saved_pretrained[spec.arch])
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert not list(tmp_path.glob(".checkpoints-*"))  # the scratch checkpoints are gone
    scorer = load_scorer(tmp_path / "model")
    expected_class = (
        "T5ForSequenceClassification" if spec.arch == "t5" else "RobertaForSequenceClassification"
    )
    assert type(scorer.model).__name__ == expected_class
    scores = scorer.predict_proba(val)
    assert scores.shape == (len(val),) and np.all((scores >= 0) & (scores <= 1))


def test_large_family_turns_gradient_checkpointing_on(tmp_path):
    large = training.training_arguments(small_config("codet5p-770m"), get_family("codet5p-770m"), tmp_path)
    base = training.training_arguments(small_config("codet5p-220m"), get_family("codet5p-220m"), tmp_path)
    assert large.activation_checkpointing is True and base.activation_checkpointing is False
    assert large.metric_for_best_model == "f1" and large.load_best_model_at_end
    assert large.report_to in ("none", [], ["none"])


def test_bad_scheduler_and_warmup_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="scheduler"):
        training.training_arguments(
            small_config("codebert", scheduler="bogus"), get_family("codebert"), tmp_path
        )
    with pytest.raises(ConfigError, match="warmup_ratio"):
        training.training_arguments(
            small_config("codebert", warmup_ratio=1.5), get_family("codebert"), tmp_path
        )


def test_roberta_max_length_beyond_its_positions_is_a_config_error(saved_pretrained, small_records, tmp_path):
    config = small_config("codebert", name_or_path=str(saved_pretrained["roberta"]), max_length=65)
    with pytest.raises(ConfigError, match="max_length"):
        hf.fit(config, *small_records, tmp_path / "model")


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_missing_local_model_fails_at_once_saying_how_to_provide_it(where, tmp_path, small_records):
    path = tmp_path / where
    if where == "empty":
        path.mkdir()
    train, val = small_records
    with pytest.raises(IacsieveError, match="name_or_path") as err:
        hf.fit(small_config("codebert", name_or_path=str(path)), train, val, tmp_path / "model")
    assert "HF_HOME" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "model").exists()


def test_uncached_hub_id_offline_fails_with_how_to(monkeypatch, tmp_path, small_records):
    monkeypatch.setattr(loading, "_hub_offline", lambda: True)
    train, val = small_records
    with pytest.raises(IacsieveError, match="huggingface-cli download microsoft/codebert-base"):
        hf.fit(small_config("codebert"), train, val, tmp_path / "model")


def test_t5_rows_end_in_exactly_one_eos_even_when_truncated(saved_pretrained):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(saved_pretrained["t5"])
    texts = ["smell: hard coded secret\nline: password = '</s>' " + "x " * 200, "short </s></s>", ""]
    enc = tokens.encode_texts(tok, texts, 32, "t5")
    for ids, mask in zip(enc["input_ids"], enc["attention_mask"]):
        assert ids.count(tok.eos_token_id) == 1 and ids[-1] == tok.eos_token_id
        assert len(ids) <= 32 and len(mask) == len(ids)
    assert len(enc["input_ids"][0]) == 32


def test_roberta_rows_keep_bos_and_eos_when_truncated(saved_pretrained):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(saved_pretrained["roberta"])
    ids = tokens.encode_texts(tok, ["line: " + "y " * 300], 16, "roberta")["input_ids"][0]
    assert len(ids) == 16 and ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id


def test_positive_probs_is_the_softmax_of_the_second_logit():
    logits = np.array([[0.0, 0.0], [1000.0, 0.0], [-2.0, 3.0]])
    expected = torch.softmax(torch.tensor(logits), dim=1)[:, 1].numpy()
    assert np.allclose(tokens.positive_probs(logits), expected)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the note is for CPU-only machines")
def test_fp16_on_cpu_is_a_logged_note_and_training_goes_on(caplog, small_records, tmp_path):
    train, val = small_records
    with caplog.at_level(logging.INFO, logger="iacsieve.models.encoders.training"):
        log = tiny.fit(small_config("tiny-roberta", fp16=True), train, val, tmp_path / "model")
    assert any("fp16" in r.getMessage() and "CPU" in r.getMessage() for r in caplog.records)
    assert len(log["epochs"]) == 1 and log["device"] == "cpu"


def test_tiny_options_reject_unknown_keys_and_bad_sizes():
    with pytest.raises(ConfigError, match="options.hiden_size"):
        tiny.tiny_options(small_config("tiny-roberta", options={"hiden_size": 32}))
    with pytest.raises(ConfigError, match="options.num_heads"):
        tiny.tiny_options(small_config("tiny-t5", options={"hidden_size": 30, "num_heads": 4}))
    assert (
        tiny.tiny_options(TrainConfig(family="tiny-t5"))["hidden_size"] == tiny.DEFAULT_OPTIONS["hidden_size"]
    )


def test_tiny_tokenizers_have_the_architectures_special_tokens(small_records):
    texts = [record_text(r) for r in small_records[0]]
    rob = tiny.train_tokenizer(texts, "roberta", vocab_size=300, min_frequency=2, max_length=64)
    t5 = tiny.train_tokenizer(texts, "t5", vocab_size=300, min_frequency=2, max_length=64)
    assert (rob.bos_token_id, rob.pad_token_id, rob.eos_token_id, rob.unk_token_id, rob.mask_token_id) == (
        0,
        1,
        2,
        3,
        4,
    )
    assert (t5.pad_token_id, t5.eos_token_id, t5.unk_token_id) == (0, 1, 2)
    assert rob("a b")["input_ids"][0] == 0 and rob("a b")["input_ids"][-1] == 2
    assert t5("a b")["input_ids"][-1] == 1 and 0 not in t5("a b")["input_ids"]
