"""Every path and file name of the project, in one place (settings: `iacsieve.core.settings`).

The DVC entry points, the KFP components, the report and the tests all name files through this
module, so a layout change is one edit. Paths are relative to the repository root (where
`dvc.yaml` lives); functions take a `root` for tests that work in a temp copy.
"""

from __future__ import annotations

from pathlib import Path

# ------------------------------------------------------------------ inputs
PARAMS_FILE = "params.yaml"
DVC_FILE = "dvc.yaml"
DVC_LOCK_FILE = "dvc.lock"
RAW_DIR = "data/raw"
PREPARED_DIR = "data/prepared"
HUMAN_DIR = "data/human"  # people's labels (DVC-tracked, `iacsieve labels add`)
TRAINING_DIR = "data/training"  # prepared + human labels applied: what every run trains and selects on
STATS_FILE = "stats.json"  # counts per split/set (prepare, labels apply)
HUMAN_REPORT = "human.json"  # what `labels apply` applied, incl. which labels validation holds
TECHS: tuple[str, ...] = ("ansible", "chef", "puppet")
TEST_SETS: tuple[str, ...] = ("combined", *TECHS)
EVAL_SETS: tuple[str, ...] = ("val", *TEST_SETS)

# ------------------------------------------------------------------ one run (models/experiments/stageN/<run>/)
EXPERIMENTS_DIR = (
    "models/experiments"  # stageN/<run>/ per stage; adhoc/ for `iacsieve step train` without --out
)
ADHOC_RUNS_DIR = f"{EXPERIMENTS_DIR}/adhoc"
CONFIG_FILE = "config_used.yaml"
MODEL_DIR = "model"
VAL_SCORES = "val_scores.jsonl"
TEST_SCORES = "test_scores.jsonl"
TRAIN_LOG = "train_log.json"
META_FILE = "model_meta.json"  # inside a model folder: kind, family, use_context, ...
SWEEP_FILE = "threshold_sweep_results.json"
# The files sweep/evaluate read: what a run's small `scores` artifact carries (no weights).
SCORE_FILES: tuple[str, ...] = (CONFIG_FILE, VAL_SCORES, TEST_SCORES, TRAIN_LOG)

# ------------------------------------------------------------------ evaluation, selection, champion
RESULTS_DIR = "results"  # results/stageN/<run>/ and results/selection/stageN/
SELECTION_SUBDIR = "selection"  # beside the stages' folders in a results folder
SELECTIONS_DIR = f"{RESULTS_DIR}/{SELECTION_SUBDIR}"
EVAL_FILE = "evaluation_metadata.json"
SUMMARY_FILE = "summary.json"
SELECTION_FILE = "selection.json"  # the whole ranking (report, freeze)
WINNER_FILE = "winner.json"  # the chosen run's settings: all that the next stage reads
RANKING_CSV = "ranking.csv"
RANKING_MD = "ranking.md"
METRICS_FILE = "metrics.json"  # a stage's headline metrics (DVC metrics, git-tracked)
CHAMPION_FILE = "champion.json"
CHAMPION_DIR = "models/champion"  # freeze@4's output: `dvc repro` writes it
STAGE_CHAMPIONS_DIR = "models/champions"  # stageN/: what an intermediate stage freezes
# A champion pulled from a cluster run: its own DVC-tracked folder (`dvc add`, never freeze@4's), its
# small files (metrics.json in the shape of reports/metrics.json, the stage-4 selection, report, plots)
# in git beside it.
CLUSTER_CHAMPION_DIR = "models/cluster-champion"
CLUSTER_REPORTS_DIR = "reports/cluster-champion"
VAL_CURVE_FILE = "val_curve.json"  # inside a champion: operating points (filter --min-retention)
ORIGIN_FILE = "origin.json"  # inside a pulled champion: where it came from (source URI, run id)
# The evidence index freeze writes beside the model (models/evidence_index.py), and a classical model's dump.
EVIDENCE_VECTORS_FILE, EVIDENCE_ROWS_FILE = "evidence_vectors.npz", "evidence_rows.json"
CLASSICAL_MODEL_FILE = "model.skops"
# The classical model as plain data, what the filter scores with (models/classical_plain.py).
CLASSICAL_PLAIN_SETTINGS, CLASSICAL_PLAIN_ARRAYS = "classical_plain.json", "classical_plain.npz"
# The tool's mark in every folder it creates whole: the output policy replaces a non-empty folder only
# when it carries this (or holds nothing but what the command itself writes).
OUTPUT_MARKER = ".iacsieve-output"
# `iacsieve champion pack`'s archive of models/champion (dvc.yaml stage champion-archive; docs/champion.md).
CHAMPION_ARCHIVE = "models/champion.tar.gz"
# That archive as the package ships it, relative to the iacsieve package (package data; `make
# champion-bundle` copies it to src/iacsieve/<this>): the model filter, review, explain and scan use when
# --model is not given (iacsieve.release.bundled).
BUNDLED_CHAMPION = "release/data/champion.tar.gz"
ARCHIVE_MANIFEST, ARCHIVE_CARD = (
    "SHA256SUMS",
    "archive.json",
)  # what pack adds (an unpacked champion holds them)

# ------------------------------------------------------------------ decision rules (where a threshold comes from)
RULES: tuple[str, ...] = ("argmax", "threshold", "frozen")  # 0.5; the run's sweep; a champion's

# ------------------------------------------------------------------ reports
REPORT_FILE = "reports/summary.md"
REPORT_METRICS = "reports/metrics.json"
PLOTS_DIR = "reports/plots"
ABLATION_DIR = "reports/ablation"
ABLATION_MD, ABLATION_JSON = "ablation.md", "ablation.json"
LEARNING_CURVE_DIR = "reports/learning_curve"  # report-only experiment (`iacsieve learning-curve`)
LEARNING_CURVE_JSON, LEARNING_CURVE_CSV = "learning_curve.json", "learning_curve.csv"
LEARNING_CURVE_MD, LEARNING_CURVE_PNG = "learning_curve.md", "learning_curve.png"
# Wall times live here, outside every DVC output: timings differ run to run, so a file that DVC
# hashes (and a later stage depends on) must not hold them. Git-ignored; `make bench` reads them.
TIMINGS_DIR = "reports/timings"


def experiments_dir(stage: int, root: str | Path = ".") -> Path:
    """Run directories of a stage: `models/experiments/stageN/<run>/`."""
    return Path(root) / EXPERIMENTS_DIR / f"stage{stage}"


def results_dir(stage: int, root: str | Path = ".") -> Path:
    """Evaluations of a stage: `results/stageN/<run>/`."""
    return Path(root) / RESULTS_DIR / f"stage{stage}"


def selection_dir(stage: int, root: str | Path = ".") -> Path:
    """A stage's selection: outside `results/stageN/`, which its select stage reads as a dependency."""
    return selection_dir_in(Path(root) / RESULTS_DIR, stage)


def selection_dir_in(results: str | Path, stage: int) -> Path:
    """A stage's selection folder under a results folder given as such (the report's `--results`)."""
    return Path(results) / SELECTION_SUBDIR / f"stage{stage}"


def stage_champion_dir(stage: int, root: str | Path = ".") -> Path:
    """The champion an intermediate stage freezes (`models/champions/stageN`); the final stage's is
    THE champion, `CHAMPION_DIR` (which stage is final is the plan's: `method.plan.champion_dir`)."""
    return Path(root) / STAGE_CHAMPIONS_DIR / f"stage{stage}"


def timings_file(stage: int, run: str, root: str | Path = ".") -> Path:
    return Path(root) / TIMINGS_DIR / f"stage{stage}" / f"{run}.json"
