"""Model input ids from the warning text (T5 needs exactly one `</s>`), and logits -> P(real smell)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from iacsieve.core.errors import IacsieveError


def model_arch(model: Any) -> str:
    """'t5' for the T5 family (EOS pooling), else the config's model_type (e.g. 'roberta')."""
    model_type = getattr(model.config, "model_type", "")
    return "t5" if model_type in {"t5", "mt5", "umt5"} else model_type


def encode_texts(
    tokenizer: Any, texts: Sequence[str], max_length: int, arch: str
) -> dict[str, list[list[int]]]:
    """Token ids + attention mask, truncated to `max_length`, unpadded (the collator pads per batch).

    Text never produces special tokens (`split_special_tokens`), so a script quoting `</s>` cannot
    confuse the model. T5 classification pools the single `</s>` of each row: every row is made to
    end in exactly one EOS, kept even when the text is truncated.
    """
    enc = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        split_special_tokens=True,
        return_token_type_ids=False,
        return_attention_mask=False,
    )
    ids = [list(row) for row in enc["input_ids"]]
    if arch == "t5":
        eos = tokenizer.eos_token_id
        if eos is None:
            raise IacsieveError("a T5-family tokenizer must define an eos_token (</s>) for classification")
        ids = [[t for t in row if t != eos][: max_length - 1] + [eos] for row in ids]
    return {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids]}


def positive_probs(logits: np.ndarray) -> np.ndarray:
    """P(real smell) from two-class logits (numerically stable softmax)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp[:, 1] / exp.sum(axis=1)
