"""Pretrained encoders (kind "hf"): CodeBERT, CodeT5, CodeT5+ fine-tuned for TP/FP classification.

The kind's contract (`fit`, `load`); the machinery lives in `models/encoders/` and is shared with
the tiny families. Saved model dir: `config.json` + `model.safetensors` (no pickle), the tokenizer
files, and `model_meta.json`. Loading never executes code from the directory (`trust_remote_code=False`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from iacsieve.core.errors import IacsieveError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import WarningRecord, record_text
from iacsieve.models import get_family, read_meta
from iacsieve.models.encoders.loading import (
    first_line,
    load_pretrained,
    quiet_progress_bars,
    resolve_name_or_path,
)
from iacsieve.models.encoders.tokens import encode_texts, model_arch, positive_probs
from iacsieve.models.encoders.training import fit_encoder


def fit(
    config: TrainConfig,
    train_records: Sequence[WarningRecord],
    val_records: Sequence[WarningRecord],
    model_dir: str | Path,
) -> dict:
    """Fine-tune a pretrained encoder (family hub id or `name_or_path`) and save the best epoch."""
    from transformers import set_seed

    spec = get_family(config.family)
    name = resolve_name_or_path(config, spec)
    set_seed(config.seed)  # the fresh classification head is initialised at load time
    tokenizer, model = load_pretrained(name, spec)
    return fit_encoder(
        config,
        model,
        tokenizer,
        train_records,
        val_records,
        model_dir,
        kind="hf",
        extra_meta={"name_or_path": name},
    )


class EncoderScorer:
    """A saved encoder that scores warnings: P(real smell) per record, in eval mode, no gradients."""

    def __init__(self, model: Any, tokenizer: Any, meta: dict) -> None:
        self.model, self.tokenizer, self.meta = model.eval(), tokenizer, meta
        self.family: str = meta["family"]
        self.use_context: bool = bool(meta.get("use_context", False))
        self.max_length: int = int(meta.get("max_length", 256))
        self.arch: str = meta.get("arch") or model_arch(model)

    def predict_proba(self, records: Sequence[WarningRecord], batch_size: int = 32) -> np.ndarray:
        import torch
        from transformers import DataCollatorWithPadding

        if not records:
            return np.empty(0, dtype=float)
        collate = DataCollatorWithPadding(self.tokenizer, return_tensors="pt")
        device = next(self.model.parameters()).device
        texts = [record_text(r, use_context=self.use_context) for r in records]
        out: list[np.ndarray] = []
        with torch.no_grad():
            for lo in range(0, len(texts), batch_size):
                enc = encode_texts(self.tokenizer, texts[lo : lo + batch_size], self.max_length, self.arch)
                batch = collate([{k: v[i] for k, v in enc.items()} for i in range(len(enc["input_ids"]))])
                logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits
                out.append(positive_probs(logits.float().cpu().numpy()))
        return np.concatenate(out)


def load(model_dir: str | Path) -> EncoderScorer:
    """Load a saved encoder (kind hf or tiny) from safetensors; never runs code from the directory."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    quiet_progress_bars()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, trust_remote_code=False, local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError) as exc:
        raise IacsieveError(f"{model_dir}: cannot load the saved model: {first_line(exc)}") from None
    if torch.cuda.is_available():
        model = model.to("cuda")
    return EncoderScorer(model, tokenizer, meta)
