"""Tiny encoders built from config (kind "tiny"): `tiny-roberta` and `tiny-t5` for the CPU.

Same model classes as the pretrained families (RobertaForSequenceClassification,
T5ForSequenceClassification), randomly initialised from a small config, with a byte-level BPE
tokenizer trained on the train split's input texts. Training and loading go through
`models/hf.py`, so a laptop run exercises the exact code path of a GPU run.

Sizes are overridable per run via `options` (e.g. `options: {hidden_size: 128, num_layers: 4}`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iacsieve.core.errors import ConfigError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import WarningRecord, record_text
from iacsieve.models import get_family
from iacsieve.models.encoders.training import fit_encoder
from iacsieve.models.hf import EncoderScorer
from iacsieve.models.hf import load as _load_encoder

DEFAULT_OPTIONS: dict[str, Any] = {
    "hidden_size": 64,
    "num_layers": 2,
    "num_heads": 2,
    "intermediate_size": 256,
    "dropout": 0.1,
    "vocab_size": 4000,  # the BPE vocabulary trained on the train split
    "min_frequency": 2,
}

# Special tokens in the order of the ids the architectures expect.
SPECIAL_TOKENS: dict[str, dict[str, str]] = {
    "roberta": {
        "bos_token": "<s>",
        "pad_token": "<pad>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "mask_token": "<mask>",
    },
    "t5": {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"},
}


def tiny_options(config: TrainConfig) -> dict[str, Any]:
    """Defaults overridden by `config.options`; an unknown key is a ConfigError naming it."""
    unknown = sorted(set(config.options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ConfigError(
            f"options.{unknown[0]}",
            f"unknown option for {config.family} (known: {', '.join(DEFAULT_OPTIONS)})",
        )
    opts = {**DEFAULT_OPTIONS, **config.options}
    for key in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "vocab_size", "min_frequency"):
        if isinstance(opts[key], bool) or not isinstance(opts[key], int) or opts[key] < 1:
            raise ConfigError(f"options.{key}", f"must be a positive integer, got {opts[key]!r}")
    if opts["hidden_size"] % opts["num_heads"]:
        raise ConfigError(
            "options.num_heads", f"must divide hidden_size ({opts['hidden_size']}), got {opts['num_heads']}"
        )
    return opts


def train_tokenizer(
    texts: Sequence[str], arch: str, *, vocab_size: int, min_frequency: int, max_length: int
) -> Any:
    """A byte-level BPE tokenizer trained on `texts`, wrapped as a transformers fast tokenizer.

    RoBERTa rows read `<s> text </s>`; T5 rows read `text </s>` (the EOS T5 classification pools).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = SPECIAL_TOKENS[arch]
    tokenizer = Tokenizer(models.BPE(unk_token=specials["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(specials.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    eos = (specials["eos_token"], tokenizer.token_to_id(specials["eos_token"]))
    if arch == "roberta":
        bos = (specials["bos_token"], tokenizer.token_to_id(specials["bos_token"]))
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[bos, eos]
        )
    else:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[eos]
        )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=max_length, **specials)


def build_model(arch: str, tokenizer: Any, opts: dict[str, Any], max_length: int) -> Any:
    """A randomly initialised classifier of the family's architecture (seed set by the caller)."""
    from transformers import (
        RobertaConfig,
        RobertaForSequenceClassification,
        T5Config,
        T5ForSequenceClassification,
    )

    if arch == "roberta":
        config = RobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=opts["hidden_size"],
            num_hidden_layers=opts["num_layers"],
            num_attention_heads=opts["num_heads"],
            intermediate_size=opts["intermediate_size"],
            hidden_dropout_prob=opts["dropout"],
            attention_probs_dropout_prob=opts["dropout"],
            max_position_embeddings=max_length + 2,  # RoBERTa positions start after the padding index
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            num_labels=2,  # type: ignore[call-arg]  # a PretrainedConfig keyword, not in the stub
        )
        return RobertaForSequenceClassification(config)
    t5_config = T5Config(  # type: ignore[call-arg]  # num_labels, decoder_start_token_id: PretrainedConfig keywords
        vocab_size=len(tokenizer),
        d_model=opts["hidden_size"],
        d_kv=opts["hidden_size"] // opts["num_heads"],
        d_ff=opts["intermediate_size"],
        num_layers=opts["num_layers"],
        num_decoder_layers=opts["num_layers"],
        num_heads=opts["num_heads"],
        dropout_rate=opts["dropout"],
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        num_labels=2,
        use_cache=False,
    )
    return T5ForSequenceClassification(t5_config)


def fit(
    config: TrainConfig,
    train_records: Sequence[WarningRecord],
    val_records: Sequence[WarningRecord],
    model_dir: str | Path,
) -> dict:
    """Train the tokenizer on the train split, build the tiny model, train it like a pretrained one."""
    from transformers import set_seed

    arch = get_family(config.family).arch
    opts = tiny_options(config)
    texts = [record_text(r, use_context=config.use_context) for r in train_records]
    tokenizer = train_tokenizer(
        texts,
        arch,
        vocab_size=opts["vocab_size"],
        min_frequency=opts["min_frequency"],
        max_length=config.max_length,
    )
    set_seed(config.seed)
    model = build_model(arch, tokenizer, opts, config.max_length)
    log = fit_encoder(
        config,
        model,
        tokenizer,
        train_records,
        val_records,
        model_dir,
        kind="tiny",
        extra_meta={"options": opts},
    )
    log["n_parameters"] = int(sum(p.numel() for p in model.parameters()))
    return log


def load(model_dir: str | Path) -> EncoderScorer:
    """Same on-disk form as the pretrained encoders (safetensors + tokenizer + model_meta.json)."""
    return _load_encoder(model_dir)
