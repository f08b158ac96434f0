"""Shared fixtures. `prepared_small`: a trimmed prepared dataset for fast model/step tests.

The working tree is off limits (tests/worktree.py): a session that changes a file under the repo
fails, and tests read params.yaml & co. through `repo_copy` (the staged file, in a private copy).
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from worktree import REPO, WorktreeGuard, staged_text

from iacsieve.core.run_config import TrainConfig
from iacsieve.data.records import load_prepared
from iacsieve.models.classical import PLAIN_CARD_KEY, write_plain
from iacsieve.steps.train import train

RAW = REPO / "data" / "raw"
SMALL_SIZES = {"train": 40, "val": 20, "test": 20}
TECHS = ("ansible", "chef", "puppet")


def _trim(lines: list[str], n: int) -> list[str]:
    """Deterministic, stratified: round-robin over (tech, label, smell) groups in file order."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for line in lines:
        row = json.loads(line)
        groups[(row["tech"], row["label"], row["smell"])].append(line)
    order = [groups[key] for key in sorted(groups)]
    picked: list[str] = []
    depth = 0
    while len(picked) < n and any(depth < len(g) for g in order):
        picked += [g[depth] for g in order if depth < len(g)][: n - len(picked)]
        depth += 1
    return picked


@pytest.fixture(autouse=True)
def _no_logging_to_closed_streams():
    """DVC run in-process (`dvc.cli.main`) binds its log handlers to the streams of that moment, which
    pytest closes after the test; a later test's in-process DVC would then fail to log. Drop them."""
    yield
    for name in [n for n in logging.root.manager.loggerDict if n == "dvc" or n.startswith("dvc.")]:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            stream = getattr(handler, "stream", None)
            if stream is not None and getattr(stream, "closed", False):
                logger.removeHandler(handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with the most `slow` tests first (stable: a file's own order is kept). `make test` hands
    whole files to xdist workers in this order (--dist loadfile --no-loadscope-reorder), so the long
    end-to-end files start at once and the short ones fill in around them: both workers finish together."""
    slow = Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.path])


def pytest_collection_finish(session) -> None:
    """Everything imported so far (torch, transformers, kfp, scikit-learn: millions of objects) moves
    to the collector's permanent generation: HF Trainer's, accelerate's and pytest's own
    `gc.collect()` calls then scan only what the tests made since, not every module's objects."""
    gc.collect()
    gc.freeze()


def pytest_configure(config) -> None:
    if not hasattr(config, "workerinput"):  # under pytest-xdist, the controller alone watches the tree
        config.pluginmanager.register(WorktreeGuard(REPO), "iacsieve-worktree-guard")


def pytest_terminal_summary(terminalreporter) -> None:
    staged = staged_text("params.yaml")
    if staged is not None and staged != (REPO / "params.yaml").read_bytes():
        terminalreporter.write_line(
            "note: params.yaml differs from the version staged in git; tests used the staged "
            "one (`git add params.yaml` to test your edit)",
            yellow=True,
        )


def pytest_sessionstart(session) -> None:
    if not (RAW / "puppet" / "puppet_train.jsonl").is_file():
        pytest.exit(f"{RAW} is missing: run `dvc pull data.dvc` first (`make test` does)", returncode=2)


@pytest.fixture(scope="session")
def prepared_full(tmp_path_factory) -> Path:
    """The whole dataset prepared from data/raw by the real `prepare` step (tests never rely on
    a `data/prepared` left behind by `dvc repro`)."""
    from iacsieve.data.records import prepare

    out = tmp_path_factory.mktemp("full") / "prepared"
    prepare(RAW, out)
    return out


@pytest.fixture(scope="session")
def prepared_small(prepared_full: Path, tmp_path_factory) -> Path:
    """`<tmp>/prepared/<split>/<set>.jsonl`: ~40 train / 20 val / 20 test rows of the real prepared
    data, both labels and every tech in each split (same layout as `iacsieve prepare` writes)."""
    out = tmp_path_factory.mktemp("small") / "prepared"
    for split, n in SMALL_SIZES.items():
        lines = [
            ln
            for ln in (prepared_full / split / "combined.jsonl").read_text(encoding="utf-8").splitlines()
            if ln.strip()
        ]
        rows = _trim(lines, n)
        (out / split).mkdir(parents=True)
        (out / split / "combined.jsonl").write_text("".join(ln + "\n" for ln in rows), encoding="utf-8")
        for tech in TECHS:
            tech_rows = [ln for ln in rows if json.loads(ln)["tech"] == tech]
            (out / split / f"{tech}.jsonl").write_text(
                "".join(ln + "\n" for ln in tech_rows), encoding="utf-8"
            )
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train several times faster on one intra-op thread on a shared, busy CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CHAMPION_THRESHOLD = 0.5
CHAMPION_KEYS = {
    "threshold_source": "argmax",
    "run": "classical_test",
    "config": {"family": "classical"},
    "data_md5": "0" * 32,
    "val_f1": 0.0,
    "test": {},
}


@pytest.fixture(scope="session")
def champion(tmp_path_factory, prepared_small) -> Path:
    """A real classical champion: trained on the trimmed prepared data, frozen with champion.json."""
    root = tmp_path_factory.mktemp("filter")
    run_dir = train(TrainConfig(family="classical"), prepared_small, root / "run")
    champion_dir = root / "champion"
    shutil.copytree(run_dir / "model", champion_dir)
    meta = json.loads((champion_dir / "model_meta.json").read_text())
    info = {
        **CHAMPION_KEYS,
        "threshold": CHAMPION_THRESHOLD,
        "family": "classical",
        "use_context": meta["use_context"],
        # as freeze writes it: the plain-data model the filter scores with numpy alone
        PLAIN_CARD_KEY: write_plain(champion_dir, load_prepared(prepared_small, "train")),
    }
    (champion_dir / "champion.json").write_text(json.dumps(info))
    return champion_dir


@pytest.fixture(autouse=True)
def _every_sarif_log_is_schema_valid(monkeypatch):
    """Every SARIF log the suite writes in-process is checked against the SARIF 2.1.0 schema."""
    from sarif_schema import checked_chunks

    import iacsieve.filtering.output as output

    monkeypatch.setattr(output, "sarif_chunks", checked_chunks(output.sarif_chunks))
