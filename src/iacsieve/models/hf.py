"""Pretrained encoders (kind "hf"): CodeBERT, CodeT5, CodeT5+ fine-tuned for TP/FP classification.

Also the one training path every torch family shares (`fit_encoder`): the tiny families
(`models/tiny.py`) build a model + tokenizer from config and hand them to the same HF `Trainer`
loop, so a CPU run exercises exactly the code a GPU run uses.

Saved model dir: `config.json` + `model.safetensors` (no pickle), the tokenizer files, and
`model_meta.json`. Loading never executes code from the directory (`trust_remote_code=False`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from iacsieve.atomic import atomic_write_json
from iacsieve.data import WarningRecord, record_text
from iacsieve.errors import ConfigError, IacsieveError
from iacsieve.steps.metrics import compute_metrics
from iacsieve.run_config import TrainConfig
from iacsieve.models import META_FILE, FamilySpec, get_family, read_meta

log = logging.getLogger(__name__)

DECISION_THRESHOLD = 0.5  # argmax of two logits == P(TP) >= 0.5: the F1 the Trainer picks the best epoch by


# ----------------------------------------------------------------------------- loading weights

def resolve_name_or_path(config: TrainConfig, spec: FamilySpec) -> str:
    """The run's `name_or_path` wins over the family's hub id, so a cluster can point at local weights."""
    name = config.name_or_path or spec.name_or_path
    if not name:
        raise ConfigError("name_or_path", f"family {spec.name!r} has no hub id; set name_or_path to a saved model dir")
    return name


def _how_to_provide(name: str, spec: FamilySpec) -> str:
    hub_id = spec.name_or_path or name
    home = os.environ.get("HF_HOME", "~/.cache/huggingface")
    return (
        f"provide the weights: set `name_or_path` for family {spec.name!r} to a local directory holding a saved model "
        f"(config.json, weights, tokenizer), or pre-download {hub_id!r} into the Hugging Face cache "
        f"(`huggingface-cli download {hub_id}` where the hub is reachable; HF_HOME={home})"
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or os.path.exists(name)


def _hub_offline() -> bool:
    import huggingface_hub.constants as hub_constants

    return bool(hub_constants.HF_HUB_OFFLINE)


def load_pretrained(name: str, spec: FamilySpec) -> tuple[Any, Any]:
    """(tokenizer, model) from a local dir or the HF cache/hub; a clear IacsieveError when absent.

    Local paths are checked before anything else; hub ids are tried from the cache first, so a
    machine without network fails in a second rather than after the hub client's retries when
    HF_HUB_OFFLINE=1 is set.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    quiet_progress_bars()
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise IacsieveError(f"{path}: no saved model here (config.json missing); {_how_to_provide(name, spec)}")
        name = str(path)

    def _load(local_only: bool) -> tuple[Any, Any]:
        kwargs = {"trust_remote_code": False, "local_files_only": local_only}
        tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
        model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=2, **kwargs)
        return tokenizer, model

    try:
        return _load(local_only=True)
    except (OSError, ValueError) as exc:
        if _looks_like_path(name) or _hub_offline():
            raise IacsieveError(f"cannot load model {name!r}: {_first_line(exc)}; {_how_to_provide(name, spec)}") from None
    try:
        return _load(local_only=False)
    except (OSError, ValueError) as exc:
        raise IacsieveError(f"cannot load model {name!r}: {_first_line(exc)}; {_how_to_provide(name, spec)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ----------------------------------------------------------------------------- tokenisation

def model_arch(model: Any) -> str:
    """'t5' for the T5 family (EOS pooling), else the config's model_type (e.g. 'roberta')."""
    model_type = getattr(model.config, "model_type", "")
    return "t5" if model_type in {"t5", "mt5", "umt5"} else model_type


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int, arch: str) -> dict[str, list[list[int]]]:
    """Token ids + attention mask, truncated to `max_length`, unpadded (the collator pads per batch).

    Text never produces special tokens (`split_special_tokens`), so a script quoting `</s>` cannot
    confuse the model. T5 classification pools the single `</s>` of each row: every row is made to
    end in exactly one EOS, kept even when the text is truncated.
    """
    enc = tokenizer(
        list(texts), truncation=True, max_length=max_length, split_special_tokens=True,
        return_token_type_ids=False, return_attention_mask=False,
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


# ----------------------------------------------------------------------------- training

def quiet_progress_bars() -> None:
    """No per-step / per-shard progress bars: a run logs one line per epoch."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def use_fp16(config: TrainConfig) -> bool:
    """fp16 only where CUDA is present; asked for on a CPU it is a logged note, not a crash."""
    if not config.fp16:
        return False
    if device_name() == "cuda":
        return True
    log.info("fp16 requested but no CUDA device is present: training in fp32 on the CPU")
    return False


def training_arguments(config: TrainConfig, spec: FamilySpec, output_dir: str | Path) -> Any:
    """The run's `TrainingArguments`: eval + save every epoch, best by val F1, quiet log, seeded."""
    from transformers import TrainingArguments

    if not 0.0 <= config.warmup_ratio < 1.0:
        raise ConfigError("warmup_ratio", f"must be in [0, 1), got {config.warmup_ratio}")
    cuda = device_name() == "cuda"
    try:
        return TrainingArguments(
            output_dir=str(output_dir),
            num_train_epochs=config.epochs,
            learning_rate=config.learning_rate,
            per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=max(config.batch_size, 32),
            gradient_accumulation_steps=config.gradient_accumulation,
            weight_decay=config.weight_decay,
            warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the training steps
            lr_scheduler_type=config.scheduler,
            seed=config.seed,
            data_seed=config.seed,
            full_determinism=not cuda,
            fp16=use_fp16(config),
            activation_checkpointing=spec.large,
            eval_strategy="epoch",
            save_strategy="epoch",
            logging_strategy="epoch",
            save_total_limit=1,  # the best and the latest checkpoint only
            save_only_model=True,
            load_best_model_at_end=True,
            metric_for_best_model="f1",
            greater_is_better=True,
            disable_tqdm=True,
            report_to="none",
            dataloader_num_workers=0,
            dataloader_pin_memory=cuda,
        )
    except ValueError as exc:
        raise ConfigError("scheduler" if "scheduler" in str(exc).lower() else "config", _first_line(exc)) from None


def check_max_length(config: TrainConfig, model: Any) -> None:
    """Absolute-position encoders (RoBERTa) cannot read past their position table: say so up front."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if model_arch(model) == "roberta" and positions and config.max_length > positions - 2:
        raise ConfigError("max_length", f"{config.family} reads at most {positions - 2} tokens, got {config.max_length}")


def _val_f1(eval_pred: Any) -> dict[str, float]:
    labels = np.asarray(eval_pred.label_ids)
    scores = positive_probs(eval_pred.predictions)
    return {"f1": compute_metrics(labels, scores, DECISION_THRESHOLD)["f1"]}


def _logits_only(logits: Any, labels: Any) -> Any:
    """T5 returns (logits, encoder states, ...): keep only what the metric needs."""
    return logits[0] if isinstance(logits, tuple) else logits


def _epoch_log_callback(total_epochs: int):
    from transformers import TrainerCallback

    class EpochLog(TrainerCallback):
        """One log line per epoch (the Trainer's own per-step printing is switched off)."""

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            losses = [e["loss"] for e in state.log_history if "loss" in e]
            loss = f"{losses[-1]:.4f}" if losses else "n/a"
            log.info("epoch %d/%d: loss %s, val_f1 %.4f", round(state.epoch or 0), total_epochs, loss,
                     (metrics or {}).get("eval_f1", float("nan")))

    return EpochLog()


def _tokenised_dataset(tokenizer: Any, records: Sequence[WarningRecord], config: TrainConfig, arch: str) -> Any:
    from datasets import Dataset

    data = Dataset.from_dict({
        "text": [record_text(r, use_context=config.use_context) for r in records],
        "label": [int(r.label) for r in records],
    })
    return data.map(lambda b: encode_texts(tokenizer, b["text"], config.max_length, arch),
                    batched=True, remove_columns=["text"])


def _epoch_rows(history: list[dict]) -> list[dict]:
    rows: dict[int, dict] = {}
    for entry in history:
        if "epoch" not in entry:
            continue
        row = rows.setdefault(round(entry["epoch"]), {"epoch": round(entry["epoch"]), "loss": None, "val_f1": None})
        if "loss" in entry:
            row["loss"] = float(entry["loss"])
        if "eval_f1" in entry:
            row["val_f1"] = float(entry["eval_f1"])
    return [rows[k] for k in sorted(rows) if rows[k]["val_f1"] is not None]


def fit_encoder(
    config: TrainConfig,
    model: Any,
    tokenizer: Any,
    train_records: Sequence[WarningRecord],
    val_records: Sequence[WarningRecord],
    model_dir: str | Path,
    *,
    kind: str,
    extra_meta: dict | None = None,
) -> dict:
    """Fine-tune `model` with the HF Trainer (early stopping on val F1), save the best epoch.

    Checkpoints live in a scratch dir next to `model_dir` that is deleted afterwards; only the best
    model is written to `model_dir` (safetensors + tokenizer + model_meta.json).
    """
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer
    from transformers import DataCollatorWithPadding

    spec = get_family(config.family)
    arch = model_arch(model)
    check_max_length(config, model)
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    quiet_progress_bars()
    train_data = _tokenised_dataset(tokenizer, train_records, config, arch)
    val_data = _tokenised_dataset(tokenizer, val_records, config, arch)
    scratch = Path(tempfile.mkdtemp(prefix=".checkpoints-", dir=model_dir.parent))
    try:
        stopper = EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience,
                                        early_stopping_threshold=config.early_stopping_threshold)
        trainer = Trainer(
            model=model,
            args=training_arguments(config, spec, scratch),
            train_dataset=train_data,
            eval_dataset=val_data,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=_val_f1,
            preprocess_logits_for_metrics=_logits_only,
            callbacks=[stopper, _epoch_log_callback(config.epochs)],
        )
        trainer.remove_callback(PrinterCallback)
        start = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - start
        state = trainer.state
        save_encoder(trainer.model, tokenizer, model_dir, {
            "kind": kind, "family": config.family, "use_context": config.use_context,
            "max_length": config.max_length, "arch": arch, **(extra_meta or {}),
        })
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    epochs = _epoch_rows(state.log_history)
    best_epoch = next((round(e["epoch"]) for e in state.log_history
                       if "eval_f1" in e and e.get("step") == state.best_global_step), None)
    epochs_run = len(epochs)
    return {
        "epochs": epochs,
        "best_epoch": best_epoch,
        "best_val_f1": state.best_metric,
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < config.epochs,
        "wall_time_s": round(train_seconds, 3),
        "train_loop_s": round(train_seconds, 3),
        "samples_per_s": round(len(train_records) * epochs_run / train_seconds, 3) if train_seconds > 0 else None,
        "device": device_name(),
        "n_train": len(train_records),
        "n_val": len(val_records),
    }


def save_encoder(model: Any, tokenizer: Any, model_dir: str | Path, meta: dict) -> Path:
    """Weights as safetensors, the tokenizer, and model_meta.json: nothing that needs unpickling."""
    model_dir = Path(model_dir)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    atomic_write_json(model_dir / META_FILE, meta)
    return model_dir


# ----------------------------------------------------------------------------- the kind's contract

def fit(config: TrainConfig, train_records: Sequence[WarningRecord], val_records: Sequence[WarningRecord],
        model_dir: str | Path) -> dict:
    """Fine-tune a pretrained encoder (family hub id or `name_or_path`) and save the best epoch."""
    from transformers import set_seed

    spec = get_family(config.family)
    name = resolve_name_or_path(config, spec)
    set_seed(config.seed)  # the fresh classification head is initialised at load time
    tokenizer, model = load_pretrained(name, spec)
    return fit_encoder(config, model, tokenizer, train_records, val_records, model_dir,
                       kind="hf", extra_meta={"name_or_path": name})


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
                enc = encode_texts(self.tokenizer, texts[lo:lo + batch_size], self.max_length, self.arch)
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
            model_dir, trust_remote_code=False, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise IacsieveError(f"{model_dir}: cannot load the saved model: {_first_line(exc)}") from None
    if torch.cuda.is_available():
        model = model.to("cuda")
    return EncoderScorer(model, tokenizer, meta)
