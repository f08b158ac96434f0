"""Freeze the selected run as the champion filter: its model plus `champion.json`, swapped in atomically.

Layout: `<champion_dir>/` IS a model directory (the run's `model/` content, with `model_meta.json`,
loadable by `iacsieve.models.load_scorer(champion_dir)`) plus `champion.json`, `val_curve.json`, for a
classical model its plain data (`classical_plain.json` + `.npz`, as the run saved them, proven then to
score the training rows as scikit-learn does; SHA-256 in champion.json's `classical_plain`: the filter
needs numpy only), and the
evidence index of the training rows (`evidence_vectors.npz`, `evidence_rows.json`: what `filter` shows
as the nearest labelled warnings; their SHA-256 in champion.json's `evidence_index`). An interrupted freeze
leaves the previous champion untouched. Model files that would need code execution to load
(pickles) are refused, so a champion copied from elsewhere is safe to open.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from iacsieve.core import artifacts, layout
from iacsieve.core.champion_card import load_champion as load_champion  # re-exported: its old home
from iacsieve.core.errors import IacsieveError
from iacsieve.core.layout import CHAMPION_FILE, HUMAN_REPORT, MODEL_DIR
from iacsieve.data.records import load_prepared
from iacsieve.io.atomic import atomic_directory
from iacsieve.io.output_policy import check_folder_output
from iacsieve.models import META_FILE
from iacsieve.models.evidence_index import CARD_KEY, build_index, save_index
from iacsieve.steps.metrics import read_json_object
from iacsieve.steps.operating_point import write_val_curve

log = logging.getLogger(__name__)

# Formats that unpickle (run code) on load: Python pickles, joblib, torch's .bin/.pt checkpoints.
PICKLE_SUFFIXES: frozenset[str] = frozenset({".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth", ".ckpt"})


def data_md5(data_dir: str | Path) -> str:
    """MD5 over the prepared data files (`*.jsonl`, sorted by relative path; path and bytes hashed)."""
    data_dir = Path(data_dir)
    files = sorted(p for p in data_dir.rglob("*.jsonl") if p.is_file())
    if not files:
        raise IacsieveError(f"{data_dir}: no prepared data files (*.jsonl); run `iacsieve prepare` first")
    digest = hashlib.md5()
    for path in files:
        digest.update(path.relative_to(data_dir).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def validation_source(data_dir: str | Path) -> str:
    """Which labels the validation split (and so every choice) held: `llm`, `human` or `merged`
    (`iacsieve labels apply` records it in human.json; prepared data without it is the LLM's)."""
    report = Path(data_dir) / HUMAN_REPORT
    if not report.is_file():
        return "llm"
    return str(artifacts.read_artifact(artifacts.HUMAN_REPORT, report).get("validation", "llm"))


def trained_smells(data_dir: str | Path) -> list[str]:
    """Canonical smells of the training split: what the champion can judge (the filter passes others)."""
    return sorted({record.smell for record in load_prepared(data_dir, "train")})


def pickle_files(model_dir: str | Path) -> list[Path]:
    """Files under `model_dir` in a format that executes code on load (by suffix)."""
    return sorted(
        p for p in Path(model_dir).rglob("*") if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES
    )


def copy_model(src: Path, dest: Path) -> None:
    """Copy a model directory's files into `dest` (a separate function so tests can interrupt it)."""
    shutil.copytree(src, dest, dirs_exist_ok=True)


def read_safe_model_meta(model_dir: Path) -> dict:
    """The model's metadata, once the folder is known to hold a saved model and no pickle file."""
    meta_path = model_dir / META_FILE
    if not meta_path.is_file():
        raise IacsieveError(f"{meta_path}: not found; the selected run has no saved model")
    unsafe = pickle_files(model_dir)
    if unsafe:
        raise IacsieveError(
            f"{unsafe[0]}: refusing to freeze a model with pickle files (they run code when "
            f"loaded); save torch weights as safetensors and sklearn models with skops"
        )
    return read_json_object(meta_path)


def fill_champion(
    tmp: Path, model_dir: Path, run_dir: str | Path, data_dir: str | Path, champion: dict
) -> None:
    """Everything but champion.json into the champion folder being built; the cards into `champion`."""
    train_rows = load_prepared(data_dir, "train")
    copy_model(model_dir, tmp)
    if champion.get("kind") == "classical":  # plain data: the filter scores it with numpy alone
        from iacsieve.models.classical import PLAIN_CARD_KEY, write_plain

        champion[PLAIN_CARD_KEY] = write_plain(tmp, train_rows)
    write_val_curve(tmp, run_dir)  # lets `filter --min-retention` pick an operating point
    # the labelled training rows, searchable: the evidence `filter` shows for each decision
    champion[CARD_KEY] = save_index(build_index(train_rows), tmp)


def freeze(
    selection_file: str | Path,
    champion_dir: str | Path,
    data_dir: str | Path = layout.PREPARED_DIR,
    *,
    run_dir: str | Path | None = None,
) -> Path:
    """Copy the selected run's model into `champion_dir` with `champion.json`; returns `champion_dir`.

    `run_dir`: where the selected run lives, if not at the selection's `run_dir` (a KFP freeze task
    gets the chosen run as its own input artifact).
    `champion.json` holds no timestamp: freezing the same selection over the same data gives the same file.
    """
    selection_file = Path(selection_file)
    champion_dir = check_folder_output(
        champion_dir, inputs={"SELECTION": selection_file, "--data": data_dir}, model=True
    )
    used = ("run", "family", "run_dir", "config", "threshold", "threshold_source", "val_f1", "test")
    selection = artifacts.read_artifact(
        artifacts.SELECTION,
        selection_file,
        hint="run `iacsieve step select` first",
        needs=["selected", *(f"selected.{k}" for k in used)],
    )
    selected = selection["selected"]
    overridden = run_dir is not None
    run_dir = Path(run_dir) if run_dir is not None else Path(selected["run_dir"])
    if run_dir.name != selected["run"] and (run_dir / selected["run"]).is_dir():
        run_dir = run_dir / selected["run"]  # a KFP run artifact holds the run dir one level down
    model_dir = Path(run_dir) / MODEL_DIR
    meta = read_safe_model_meta(model_dir)
    champion = {
        "threshold": float(selected["threshold"]),
        "threshold_source": selected["threshold_source"],
        "family": selected["family"],
        "run": selected["run"],
        "run_dir": selected["run"] if overridden else str(selected["run_dir"]),
        "config": selected["config"],
        "data_md5": data_md5(data_dir),
        "val_f1": float(selected["val_f1"]),
        "test": selected["test"],
        "smells": trained_smells(data_dir),
        "use_context": bool(meta.get("use_context", selected["config"].get("use_context", False))),
        "kind": meta.get("kind"),
        "selection": str(selection_file),
        "selection_mode": selection.get("mode"),
    }
    if selection.get("stage") is not None:
        champion["stage"] = selection["stage"]
    champion["validation"] = validation_source(data_dir)
    with atomic_directory(champion_dir) as tmp:
        fill_champion(tmp, model_dir, run_dir, data_dir, champion)
        artifacts.write_artifact(artifacts.CHAMPION, tmp / CHAMPION_FILE, champion)
    log.info("froze %s (threshold %.2f) into %s", champion["run"], champion["threshold"], champion_dir)
    return champion_dir
