"""One training loop for every torch family: HF `Trainer` + early stopping on validation F1, fp16 on
CUDA only, gradient checkpointing for large models; saves safetensors + tokenizer + model_meta.json."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from iacsieve.core.errors import ConfigError
from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import WarningRecord, record_text
from iacsieve.io.atomic import atomic_write_json
from iacsieve.models import META_FILE, FamilySpec, get_family
from iacsieve.models.encoders.loading import first_line, quiet_progress_bars
from iacsieve.models.encoders.tokens import encode_texts, model_arch, positive_probs

log = logging.getLogger(__name__)

DECISION_THRESHOLD = 0.5  # argmax of two logits == P(TP) >= 0.5: the F1 the Trainer picks the best epoch by


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
        raise ConfigError(
            "scheduler" if "scheduler" in str(exc).lower() else "config", first_line(exc)
        ) from None


def check_max_length(config: TrainConfig, model: Any) -> None:
    """Absolute-position encoders (RoBERTa) cannot read past their position table: say so up front."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if model_arch(model) == "roberta" and positions and config.max_length > positions - 2:
        raise ConfigError(
            "max_length", f"{config.family} reads at most {positions - 2} tokens, got {config.max_length}"
        )


def _val_f1(eval_pred: Any) -> dict[str, float]:
    """Val F1 of the real-smell class at 0.5 (as steps.metrics computes it; models/ never imports steps/)."""
    from sklearn.metrics import f1_score

    labels = np.asarray(eval_pred.label_ids).astype(int)
    predicted = (positive_probs(eval_pred.predictions) >= DECISION_THRESHOLD).astype(int)
    return {"f1": float(f1_score(labels, predicted, pos_label=1, zero_division=0))}


def _logits_only(logits: Any, labels: Any) -> Any:
    """T5 returns (logits, encoder states, ...): keep only what the metric needs."""
    return logits[0] if isinstance(logits, tuple) else logits


def _epoch_log_callback(total_epochs: int) -> Any:
    from transformers import TrainerCallback

    class EpochLog(TrainerCallback):
        """One log line per epoch (the Trainer's own per-step printing is switched off)."""

        def on_evaluate(
            self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any
        ) -> None:
            losses = [e["loss"] for e in state.log_history if "loss" in e]
            loss = f"{losses[-1]:.4f}" if losses else "n/a"
            log.info(
                "epoch %d/%d: loss %s, val_f1 %.4f",
                round(state.epoch or 0),
                total_epochs,
                loss,
                (metrics or {}).get("eval_f1", float("nan")),
            )

    return EpochLog()


def _tokenised_dataset(
    tokenizer: Any, records: Sequence[WarningRecord], config: TrainConfig, arch: str
) -> Any:
    from datasets import Dataset

    data = Dataset.from_dict(
        {
            "text": [record_text(r, use_context=config.use_context) for r in records],
            "label": [int(r.label) for r in records if r.label is not None],
        }
    )
    return data.map(
        lambda b: encode_texts(tokenizer, b["text"], config.max_length, arch),
        batched=True,
        remove_columns=["text"],
    )


def _epoch_rows(history: list[dict]) -> list[dict]:
    rows: dict[int, dict] = {}
    for entry in history:
        if "epoch" not in entry:
            continue
        row = rows.setdefault(
            round(entry["epoch"]), {"epoch": round(entry["epoch"]), "loss": None, "val_f1": None}
        )
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
        trainer = _trainer(config, spec, model, tokenizer, train_data, val_data, scratch)
        start = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - start
        state = trainer.state
        save_encoder(
            trainer.model,
            tokenizer,
            model_dir,
            {
                "kind": kind,
                "family": config.family,
                "use_context": config.use_context,
                "max_length": config.max_length,
                "arch": arch,
                **(extra_meta or {}),
            },
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    return _train_log(state, config, train_seconds, len(train_records), len(val_records))


def _trainer(
    config: TrainConfig,
    spec: FamilySpec,
    model: Any,
    tokenizer: Any,
    train_data: Any,
    val_data: Any,
    scratch: Path,
) -> Any:
    """The HF Trainer: early stopping on val F1, one log line per epoch, no progress printer."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, PrinterCallback, Trainer

    stopper = EarlyStoppingCallback(
        early_stopping_patience=config.early_stopping_patience,
        early_stopping_threshold=config.early_stopping_threshold,
    )
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
    return trainer


def _train_log(state: Any, config: TrainConfig, train_seconds: float, n_train: int, n_val: int) -> dict:
    """The family's part of train_log.json, from the Trainer's state after training."""
    epochs = _epoch_rows(state.log_history)
    best_epoch = next(
        (
            round(e["epoch"])
            for e in state.log_history
            if "eval_f1" in e and e.get("step") == state.best_global_step
        ),
        None,
    )
    epochs_run = len(epochs)
    return {
        "epochs": epochs,
        "best_epoch": best_epoch,
        "best_val_f1": state.best_metric,
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < config.epochs,
        "wall_time_s": round(train_seconds, 3),
        "train_loop_s": round(train_seconds, 3),
        "samples_per_s": round(n_train * epochs_run / train_seconds, 3) if train_seconds > 0 else None,
        "device": device_name(),
        "n_train": n_train,
        "n_val": n_val,
    }


def save_encoder(model: Any, tokenizer: Any, model_dir: str | Path, meta: dict) -> Path:
    """Weights as safetensors, the tokenizer, and model_meta.json: nothing that needs unpickling."""
    model_dir = Path(model_dir)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    atomic_write_json(model_dir / META_FILE, meta)
    return model_dir
