"""The champion comes home, versioned: `iacsieve kfp pull-champion` into a fresh clone of this repo, then
`dvc status`, `dvc metrics diff`, `iacsieve filter`, `report --cluster` and `plots --cluster` all work.

The "cluster" champion is a real one, made by the same library steps the KFP components call
(train two classical seeds on the trimmed data, evaluate, select the median, freeze), left where a
bucket would hold it; the clone is a `git clone` of the committed repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from iacsieve.core.run_config import TrainConfig
from iacsieve.steps.evaluate import evaluate
from iacsieve.steps.freeze import freeze
from iacsieve.steps.metrics import HEADLINE_KEYS
from iacsieve.steps.selection import select_runs
from iacsieve.steps.train import train

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIXTURE = REPO / "tests" / "fixtures" / "glitch-puppet"

pytestmark = pytest.mark.slow


def _make_cluster_outputs(root: Path, prepared: Path) -> tuple[Path, Path]:
    """A stage-4-like run: two seeds, evaluated, median selected, frozen. Returns (champion, selection) dirs."""
    results = []
    for seed in (1, 2):
        run = train(TrainConfig(family="classical", seed=seed), prepared, root / f"runs/champion_seed{seed}")
        results.append(root / f"results/champion_seed{seed}")
        evaluate(run, results[-1], rule="argmax", bootstrap_samples=50, bootstrap_seed=0)
    select_runs(results, root / "selection", mode="median", stage="stage4")
    freeze(root / "selection" / "selection.json", root / "champion", prepared)
    shutil.rmtree(root / "runs")  # like a cluster: the run dirs are not on this machine
    return root / "champion", root / "selection"


def _run(args: list[str], cwd: Path, *, ok: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clone") / "iacsieve"
    _run(["git", "clone", "--quiet", str(REPO), str(path)], REPO)
    assert "reports/cluster-champion/metrics.json" not in (path / "dvc.yaml").read_text()  # until a pull
    return path


@pytest.fixture(scope="module")
def cluster_outputs(prepared_small, tmp_path_factory) -> tuple[Path, Path]:
    """One cluster run's (champion, selection), read (never changed) by the tests below."""
    return _make_cluster_outputs(tmp_path_factory.mktemp("bucket"), prepared_small)


def _keys(obj, prefix: str = "") -> set[str]:
    if not isinstance(obj, dict):
        return {prefix}
    return set().union(*(_keys(v, f"{prefix}.{k}") for k, v in obj.items()))


def test_pull_champion_into_a_fresh_clone(clone, cluster_outputs, prepared_small, tmp_path):
    champion, selection = cluster_outputs
    done = _run(["iacsieve", "kfp", "pull-champion", str(champion), "--selection-uri", str(selection)], clone)
    out = done.stdout
    assert "To track the changes with git" not in out + done.stderr  # DVC's hint: ours names every file
    assert (
        "git add dvc.yaml models/.gitignore models/cluster-champion.dvc reports/cluster-champion/metrics.json"
        in out
    )
    # the first pull lists its metrics in dvc.yaml, so `dvc metrics show|diff` see both champions: the
    # user's file changes by the added lines alone, in its own list indentation
    assert _added_lines_only((REPO / "dvc.yaml").read_text(), (clone / "dvc.yaml").read_text()) == [
        "",
        "metrics:",
        "  - reports/cluster-champion/metrics.json",
    ]
    assert "dvc.yaml" in _run(["git", "status", "--porcelain"], clone).stdout
    # the printed commit command names every file the pull changed (git status' own list)
    status = _run(["git", "status", "--porcelain", "--untracked-files=all"], clone).stdout
    changed = {line[3:] for line in status.splitlines()}
    named = set(out.split("git add ", 1)[1].split(" && ")[0].split())
    assert changed and changed <= named, (changed, named)

    # versioned by DVC (its own .dvc file, git-ignored folder), metrics and selection in git
    assert (clone / "models/cluster-champion.dvc").is_file()
    assert "/cluster-champion" in (clone / "models/.gitignore").read_text()
    assert json.loads((clone / "models/cluster-champion/origin.json").read_text())["source"] == str(champion)
    metrics = json.loads((clone / "reports/cluster-champion/metrics.json").read_text())
    # the local champion's shape, so DVC lines them up (the val F1 interval needs scores left on the cluster)
    assert set(metrics) == set(HEADLINE_KEYS) | {"val_f1_std", "test_f1_std"}  # the local champion's shape
    card = json.loads((champion / "champion.json").read_text())
    assert metrics["test_f1"] == card["test"]["combined"]["f1"] and metrics["val_f1"] == card["val_f1"]

    status = _run(["dvc", "status", "models/cluster-champion.dvc"], clone).stdout
    assert "up to date" in status
    assert "cluster-champion" not in _run(["dvc", "status"], clone).stdout
    _run(
        [
            "git",
            "add",
            "dvc.yaml",
            "models/.gitignore",
            "models/cluster-champion.dvc",
            "reports/cluster-champion",
        ],
        clone,
    )
    _run(["git", "commit", "-qm", "cluster champion"], clone)

    # a later cluster run's champion: `dvc metrics diff` shows how it moved
    other, other_selection = _make_cluster_outputs(
        tmp_path / "bucket2", _drop_train_rows(prepared_small, tmp_path)
    )
    _run(["iacsieve", "kfp", "pull-champion", str(other), "--selection-uri", str(other_selection)], clone)
    diff = json.loads(_run(["dvc", "metrics", "diff", "--json"], clone).stdout or "{}")
    moved = diff.get("reports/cluster-champion/metrics.json", {})
    assert moved and any(change.get("diff") not in (None, 0) for change in moved.values()), diff
    changed = _run(["git", "status", "--porcelain"], clone).stdout
    assert "models/cluster-champion.dvc" in changed and "reports/cluster-champion/metrics.json" in changed


def test_filter_report_and_plots_on_the_pulled_champion(clone, cluster_outputs, prepared_small, tmp_path):
    champion, selection = cluster_outputs
    _run(["iacsieve", "kfp", "pull-champion", str(champion), "--selection-uri", str(selection)], clone)
    kept = tmp_path / "kept.csv"
    _run(
        [
            "iacsieve",
            "filter",
            "--model",
            "models/cluster-champion",
            "--detections",
            str(FIXTURE / "glitch-puppet.csv"),
            "--scripts",
            str(FIXTURE / "scripts"),
            "--out",
            str(kept),
        ],
        clone,
    )
    rows = kept.read_text().splitlines()
    assert len(rows) > 1 and "keep" in rows[0]

    _run(["iacsieve", "report", "--cluster"], clone)
    summary = (clone / "reports/cluster-champion/summary.md").read_text()
    assert f"`models/cluster-champion` (pulled from {champion})" in summary
    assert "champion_seed1" in summary and "champion_seed2" in summary  # the pulled stage-4 seeds
    assert "Stage 1" in summary and "No runs." in summary  # never this repo's local runs

    _run(["iacsieve", "plots", "--cluster", "--data", str(prepared_small)], clone)
    plots = {p.name for p in (clone / "reports/cluster-champion/plots").iterdir()}
    assert {"threshold_sweep.png", "pr_curve.png", "confusion_matrix.png", "seed_spread.png"} <= plots


def test_pull_refuses_freeze4s_output_and_other_data(clone, cluster_outputs, prepared_small, tmp_path):
    champion, _ = cluster_outputs
    done = _run(
        ["iacsieve", "kfp", "pull-champion", str(champion), "--out", "models/champion"], clone, ok=False
    )
    assert done.returncode == 2 and "output of DVC stage 'freeze@4'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (clone / "models/champion").exists()
    _run(["iacsieve", "kfp", "pull-champion", str(champion), "--no-dvc-add"], clone)
    done = _run(["iacsieve", "plots", "--cluster"], clone, ok=False)  # no run dirs, no prepared data here
    assert (
        done.returncode == 2 and "data/prepared" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    )
    other = tmp_path / "other"
    shutil.copytree(prepared_small, other)
    (other / "val" / "combined.jsonl").write_text("", encoding="utf-8")
    done = _run(["iacsieve", "plots", "--cluster", "--data", str(other)], clone, ok=False)
    assert done.returncode == 2 and "not the data models/cluster-champion was frozen on" in done.stderr


def _added_lines_only(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`; fails when any line was changed or removed."""
    import difflib

    ops = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False).get_opcodes()
    assert all(tag in ("equal", "insert") for tag, *_ in ops), [op for op in ops if op[0] != "equal"]
    return [line for tag, _, _, j1, j2 in ops if tag == "insert" for line in after.splitlines()[j1:j2]]


@pytest.mark.parametrize(
    "text, added",
    [
        ("stages: {}\nplots:\n  - p.png\n", ["", "metrics:", "  - m.json"]),
        ("stages: {}\nplots:\n- p.png\n", ["", "metrics:", "- m.json"]),
        ("stages: {}\nmetrics:\n- a.json\nplots:\n- p.png\n", ["- m.json"]),
        ("stages: {}\nmetrics:  # ours\n    - a.json\n\nplots: []\n", ["    - m.json"]),
        ("stages: {}\nmetrics:\n  - m.json\n", []),
    ],
)
def test_registering_metrics_only_adds_lines(text, added, tmp_path):
    from iacsieve.kfp.pull import register_metrics

    path = tmp_path / "dvc.yaml"
    path.write_text(text, encoding="utf-8")
    assert register_metrics(path, Path("m.json")) == bool(added)
    assert _added_lines_only(text, path.read_text(encoding="utf-8")) == added


def _drop_train_rows(prepared: Path, tmp_path: Path) -> Path:
    """The trimmed data with a few training rows dropped: another run, another champion."""
    copy = tmp_path / "prepared-other"
    shutil.copytree(prepared, copy)
    for path in (copy / "train").glob("*.jsonl"):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(lines[: max(1, len(lines) * 2 // 3)]), encoding="utf-8")
    return copy
