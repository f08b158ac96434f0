"""The real `dvc repro` of this repo's dvc.yaml + params.yaml, in a temp git/DVC repo on trimmed data.

Trimmed profile: the classical family only (trains in well under a second on ~50 rows), two stage-1
runs, one stage-2 run, two stage-4 seeds. Checks: every stage's files appear; a second repro runs
nothing; changing one grid value reruns only the run it touches (and select reads only the current
grid); `dvc metrics diff` between two commits shows the moved values; a broken params key fails
with its key path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from worktree import repo_copy

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: dvc and iacsieve
ROWS_PER_LABEL = 8  # per tech, split and label: 48 train / 48 val / 48 test rows in all
S1 = "results/selection/stage1/metrics.json"


def _run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def _trim_raw(src: Path, dst: Path) -> None:
    for path in sorted(src.glob("*/*.jsonl")):
        kept, counts = [], {"TP": 0, "FP": 0}
        for line in path.read_text(encoding="utf-8").splitlines():
            label = json.loads(line)["label"]
            if counts[label] < ROWS_PER_LABEL:
                counts[label] += 1
                kept.append(line)
        out = dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(kept) + "\n", encoding="utf-8")


def _params(path: Path, mutate) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _trim_params(p: dict) -> None:
    p["stage1"].update(
        families=["classical"], learning_rates=[0.0005], batch_sizes=[16], epochs=[1], weight_decays=[0, 0.5]
    )
    p["stage2"].update(
        families=["classical"], learning_rates=[0.001], batch_sizes=[16], epochs=[1], weight_decays=[0]
    )
    p["stage4"].update(seeds=[1, 2])
    p["evaluation"]["bootstrap_samples"] = 50
    p["threshold_sweep"]["step"] = 0.05
    p["ablation"]["cv_folds"] = 0  # val F1 per variant only (tests/test_ablation.py covers the CV)


def _stage_names(cwd: Path, prefix: str) -> set[str]:
    """Stages whose status is not up to date (`dvc status --json`, through DVC's API in this process:
    the same answer without a new interpreter per question), among those starting with prefix."""
    from dvc.repo import Repo

    with Repo(str(cwd)) as dvc_repo:
        status = dvc_repo.status()  # named "<dvc.yaml relative to this process' cwd>:<stage>"
    names = {name.rsplit(":", 1)[-1] for name in status}
    return {name for name in names if name.startswith(prefix)}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dvc-repo")
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):  # as staged: a user's working edits stay out
        shutil.copy(repo_copy(name), root / name)
    shutil.copytree(
        REPO / "src" / "iacsieve", root / "src" / "iacsieve", ignore=shutil.ignore_patterns("__pycache__")
    )  # stage deps; the code run is the installed one
    _trim_raw(REPO / "data" / "raw", root / "data" / "raw")
    shutil.copytree(
        REPO / "tests" / "fixtures" / "human-example", root / "data" / "human"
    )  # reviewers' labels
    _params(root / "params.yaml", _trim_params)
    _run(["git", "init", "-q"], root)
    _run(["git", "config", "user.email", "t@example.com"], root)
    _run(["git", "config", "user.name", "t"], root)
    _run(["dvc", "init", "-q"], root)
    shutil.copy(repo_copy(".dvcignore"), root / ".dvcignore")  # after init, which writes its own
    _run(["dvc", "config", "core.analytics", "false"], root)
    _run(["dvc", "repro"], root)
    return root


def test_repro_produces_every_stage_output(repo):
    for path in (
        "models/champion/champion.json",
        "models/champions/stage3/champion.json",
        "reports/summary.md",
        "reports/metrics.json",
        *(
            f"results/selection/stage{n}/{f}"
            for n in (1, 2, 3, 4)
            for f in ("selection.json", "winner.json", "ranking.csv", "ranking.md", "metrics.json")
        ),
        *(
            f"reports/plots/{p}.png"
            for p in ("threshold_sweep", "pr_curve", "confusion_matrix", "seed_spread")
        ),
    ):
        assert (repo / path).is_file(), path
    stage3 = json.loads((repo / "models/champions/stage3/champion.json").read_text())
    final = json.loads((repo / "models/champion/champion.json").read_text())
    assert final["threshold"] == stage3["threshold"]  # stage 4 evaluates at the frozen stage-3 threshold
    assert final["config"]["family"] == "classical"
    applied = json.loads((repo / "data/training/human.json").read_text())  # the reviewers' labels
    assert applied["labels"] > 0 and applied["validation"] == "merged"
    assert final["validation"] == "merged"  # the champion says which validation labels chose it
    s4 = json.loads((repo / "results/selection/stage4/selection.json").read_text())
    assert s4["mode"] == "median" and len(s4["runs"]) == 2
    report = (repo / "reports/summary.md").read_text()
    assert "## Stage 4 — seeds" in report and "Mean ± std over 2 seeds" in report
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], repo).stdout
    untracked = _run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout
    outputs = sorted(
        line[3:]
        for line in untracked.splitlines()
        if line[3:].startswith(("results/", "models/", "reports/")) and not line.endswith(".gitignore")
    )
    # Models, run dirs and images stay out of git (DVC cache); metrics and plot data go to git.
    assert not [p for p in (repo / "models" / "experiments").rglob("*") if "best" in p.name]
    # what DVC hashes names no temp dir (a rerun of the same run must give the same bytes)
    hashed = [p for root in ("models", "results") for p in (repo / root).rglob("*.json*") if p.is_file()]
    assert hashed and not [p for p in hashed if ".tmp-" in p.read_text(errors="replace")]
    assert "wall_time" not in (repo / "results/selection/stage1/selection.json").read_text()
    assert outputs == sorted(
        [
            "reports/metrics.json",
            "reports/ablation/ablation.md",
            "reports/ablation/ablation.json",
            *(f"reports/plots/{p}.csv" for p in ("pr_curve", "seed_spread", "threshold_sweep")),
            *(f"results/selection/stage{n}/metrics.json" for n in range(1, 5)),
        ]
    )


def test_metrics_show_fits_a_terminal(repo):
    """Headline numbers only, one flat shape for every stage and the champion: short rows."""
    out = _run(["dvc", "metrics", "show"], repo).stdout
    lines = out.splitlines()
    assert len(lines) == 6 and "reports/metrics.json" in out  # a header, four stages, the champion
    assert max(map(len, lines)) <= 200, out


def test_retraining_a_losing_run_leaves_later_stages_up_to_date(repo):
    """Later stages depend on the winner's settings (winner.json), not the ranking: retraining a
    stage-1 run that did not win and selecting again leaves stages 2-4 up to date."""
    selection = json.loads((repo / "results/selection/stage1/selection.json").read_text())
    loser = next(r for r in selection["runs"] if not r["selected"])
    wd = loser["config"]["weight_decay"]
    name = f"stage1@classical-0.0005-16-1-{wd:g}"
    _run(["dvc", "repro", "-f", "-s", name], repo)
    _run(["dvc", "repro", "-s", "select@1"], repo)
    assert "Data and pipelines are up to date" in _run(["dvc", "status"], repo).stdout


def test_one_changed_value_reruns_only_its_run(repo):
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "first"], repo)
    kept = repo / "results/stage1/classical_lr0.0005_bs16_ep1_wd0/summary.json"
    before = kept.stat().st_mtime_ns
    old_metrics = json.loads((repo / S1).read_text())

    _params(repo / "params.yaml", lambda p: p["stage1"].update(weight_decays=[0, 0.001]))
    assert _stage_names(repo, "stage1@") == {"stage1@classical-0.0005-16-1-0.001"}
    _run(["dvc", "repro", "select@1"], repo)  # stage 1 and its selection; the report is not at stake
    assert kept.stat().st_mtime_ns == before  # the untouched run was not retrained
    selection = json.loads((repo / "results/selection/stage1/selection.json").read_text())
    assert sorted(r["run"] for r in selection["runs"]) == [
        "classical_lr0.0005_bs16_ep1_wd0",
        "classical_lr0.0005_bs16_ep1_wd0.001",
    ]
    assert (
        repo / "results/stage1/classical_lr0.0005_bs16_ep1_wd0.5"
    ).is_dir()  # stale dir: ignored by select

    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "second"], repo)
    new_metrics = json.loads((repo / S1).read_text())
    diff = json.loads(_run(["dvc", "metrics", "diff", "HEAD~1", "HEAD", "--json"], repo).stdout)
    changed = {
        k
        for k, v in _flat(new_metrics).items()
        if isinstance(v, (int, float)) and _flat(old_metrics).get(k) != v
    }
    assert changed, "the changed run should move the stage-1 spread"
    for key in changed:
        entry = diff[S1][key]
        assert (entry["old"], entry["new"]) == (_flat(old_metrics)[key], _flat(new_metrics)[key])


def test_a_code_change_reruns_only_the_stages_that_import_it(repo):
    """Code deps are package folders (dvc.yaml): a comment added to one package makes exactly the
    stages naming that folder stale, and bytecode DVC must not hash (.dvcignore) changes nothing."""
    before = _stage_names(repo, "")
    pycache = repo / "src/iacsieve/models/__pycache__"
    pycache.mkdir(exist_ok=True)
    (pycache / "features.cpython-311.pyc").write_bytes(b"bytecode with a fresh mtime")
    assert _stage_names(repo, "") == before
    stages = yaml.safe_load((repo / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    users = {name for name, s in stages.items() if "src/iacsieve/reporting" in s.get("do", s)["deps"]}
    assert users and not users & {"prepare", "stage3"}
    module = repo / "src/iacsieve/reporting/report.py"
    original = module.read_text(encoding="utf-8")
    try:
        module.write_text(original + "# a comment\n", encoding="utf-8")
        after = _stage_names(repo, "")
        assert users <= after and after - before == users - before  # (earlier tests may leave some stale)
    finally:
        module.write_text(original, encoding="utf-8")
    assert _stage_names(repo, "") == before


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_broken_params_key_fails_with_key_path(repo):
    original = (repo / "params.yaml").read_text(encoding="utf-8")
    try:
        _params(repo / "params.yaml", lambda p: p["defaults"].update(max_lenght=64))
        proc = _run(["dvc", "repro", "--force", "-s", "stage1@classical-0.0005-16-1-0"], repo, check=False)
        assert proc.returncode != 0
        assert "params.yaml: defaults.max_lenght: unknown key" in proc.stdout + proc.stderr
        _params(
            repo / "params.yaml",
            lambda p: p["stage1"].update(learnig_rates=list(p["stage1"]["learning_rates"])),
        )
        proc = _run(["iacsieve", "params"], repo, check=False)
        assert proc.returncode == 2 and "params.yaml: stage1.learnig_rates: unknown key" in proc.stderr
    finally:
        (repo / "params.yaml").write_text(original, encoding="utf-8")


def test_killed_repro_resumes_with_only_unfinished_runs(repo):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) `dvc repro` once one new stage-1
    run has finished while another trains; the rerun trains only the unfinished runs.

    DVC does not promise an order for independent matrix stages, so the test watches which run
    finishes first instead of assuming one.
    """
    import signal
    import time

    original = (repo / "params.yaml").read_text(encoding="utf-8")
    new = ["0.01", "0.02"]
    stage = {wd: f"stage1@classical-0.0005-16-1-{wd}" for wd in new}
    summary = {wd: repo / f"results/stage1/classical_lr0.0005_bs16_ep1_wd{wd}/summary.json" for wd in new}
    experiments = repo / "models/experiments/stage1"
    try:
        _params(repo / "params.yaml", lambda p: p["stage1"].update(weight_decays=[0, *map(float, new)]))
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        # As launched from a terminal: default Ctrl-C handling even if this test runs with SIGINT
        # ignored (a background job of a non-interactive shell inherits SIG_IGN).
        proc = subprocess.Popen(
            ["dvc", "repro"],
            cwd=repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
        )
        deadline = time.monotonic() + 120

        def finished_and_training() -> tuple[list[str], list[str]]:
            """New runs recorded in dvc.lock (DVC records each as it ends) / new runs training now."""
            lock = (repo / "dvc.lock").read_text()
            done = [wd for wd in new if stage[wd] in lock]
            busy = [
                wd
                for wd in new
                if wd not in done
                and any(
                    p.name.startswith(f".classical_lr0.0005_bs16_ep1_wd{wd}.tmp-")
                    for p in experiments.iterdir()
                )
            ]
            return done, busy

        done, busy = [], []
        while not (done and busy) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            done, busy = finished_and_training()
        assert done and busy, "never saw one run finished while another trained"
        # DVC hands Ctrl-C to the running command and defers it while it commits a stage: press
        # Ctrl-C until it stops, as a user would.
        while proc.poll() is None and time.monotonic() < deadline:
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.1)
        assert proc.wait(timeout=60) != 0
        # A Ctrl-C while DVC rewrites .dvc/tmp/rwlock leaves it empty and every dvc command fails
        # (DVC #7615); the project's commands repair it first, as `make repro` does.
        _run(["iacsieve", "repair-dvc-lock"], repo)
        pending = _stage_names(repo, "stage1@")
        assert not {stage[wd] for wd in done} & pending  # finished runs are kept
        assert pending, "the interrupt came too late to test anything"
        finished_at = {wd: summary[wd].stat().st_mtime_ns for wd in done}
        _run(["dvc", "repro", "select@1"], repo)  # stage 1 and its selection; the report is not at stake
        assert {wd: summary[wd].stat().st_mtime_ns for wd in done} == finished_at  # not retrained
        assert not _stage_names(repo, "stage1@")
        selection = json.loads((repo / "results/selection/stage1/selection.json").read_text())
        assert len(selection["runs"]) == 3  # half-written temp dirs were never taken as runs
        leftovers = [p.name for p in experiments.iterdir() if ".tmp-" in p.name]
        assert not leftovers  # the interrupted run cleaned up its temp dir
    finally:
        (repo / "params.yaml").write_text(original, encoding="utf-8")


def test_changed_reviewers_labels_make_every_stage_on_the_training_data_stale(repo):
    """The repro above applied the committed example labels (tests/fixtures/human-example). A
    reviewer takes one back: the training-data stage reruns, and then every stage trained or
    selected on its output is stale, and nothing that reads only the prepared data (prepare, ablate)."""
    labels = repo / "data" / "human" / "labels.jsonl"
    original = labels.read_text()
    before = _stage_names(repo, "")  # (earlier tests leave some stages stale: report, plots, ...)
    try:
        labels.write_text("".join(original.splitlines(keepends=True)[1:]))
        assert _stage_names(repo, "") - before == {"training-data"}
        _run(["dvc", "repro", "-s", "training-data"], repo)
        assert (
            json.loads((repo / "data/training/human.json").read_text())["labels"]
            == len(original.splitlines()) - 1
        )
        stale = {name.split("@")[0] for name in _stage_names(repo, "") - before}
        assert stale == {"stage1", "stage2", "stage3", "stage4", "freeze"}, stale
    finally:
        labels.write_text(original)
        _run(["dvc", "repro", "-s", "training-data"], repo)
    assert _stage_names(repo, "") == before
