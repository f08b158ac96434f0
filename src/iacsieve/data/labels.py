"""`iacsieve labels add | stats`: record a filled review sheet in data/human; count and compare labels.

`add_labels` validates the whole sheet first and writes nothing unless every row is valid (or
`skip_invalid`); then it merges the rows into the store (`iacsieve.human.merge_labels`) and, inside a
DVC repo, records the new version of `data/human` in `data/human.dvc`.

Races with DVC: the merge runs under the store's lock (which `labels apply`, the training-data stage,
takes to read), under DVC's repository lock (so `dvc add` cannot fail half-way), and only while no DVC
process has the store in its rwlock (a stage that reads it is between its read and DVC's hashing).
Otherwise it waits, bounded, then refuses in one line having written nothing: a label either makes
it into the next `dvc repro` or is not recorded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from iacsieve.core import layout
from iacsieve.core.errors import IacsieveError
from iacsieve.data.human import (
    HUMAN_DIR,
    check_date,
    check_reviewer,
    load_human_labels,
    merge_labels,
    record_key,
    resolve_labels,
    save_human_labels,
    store_lock,
    test_split_keys,
)
from iacsieve.data.identity import data_md5_from_dvc_file, folder_md5
from iacsieve.data.records import load_raw_split
from iacsieve.data.sheet import read_sheet
from iacsieve.io.output_policy import check_folder_output
from iacsieve.repo.dvc_hints import without_dvc_hints

log = logging.getLogger(__name__)
DVC_WAIT_S = 120.0  # how long `labels add` waits for a DVC stage reading the store (or DVC's lock)


class SheetError(IacsieveError):
    """A sheet with invalid rows: `problems` holds one line per bad row (file:line, field, expected)."""

    def __init__(self, path: object, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"{path}: {len(problems)} invalid row(s); nothing was written "
            f"(fix them, or pass --skip-invalid to record the valid rows)"
        )


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def add_labels(
    sheet: str | Path,
    reviewer: str,
    *,
    human_dir: str | Path = HUMAN_DIR,
    raw_dir: str | Path = layout.RAW_DIR,
    skip_invalid: bool = False,
    date: str | None = None,
    dvc_track: bool = True,
    wait_s: float | None = None,
) -> dict:
    """Validate `sheet` and merge its labelled rows into `human_dir`; returns what changed. `wait_s`:
    how long to wait for another writer or a DVC stage reading the store before refusing."""
    reviewer = check_reviewer(reviewer)
    date = check_date(date or today())
    check_folder_output(
        human_dir, flag="--human", inputs={"SHEET": sheet, "--raw": raw_dir}, human=None, replaces=False
    )
    reading = read_sheet(sheet, reviewer=reviewer, date=date, test_keys=test_split_keys(raw_dir))
    if reading.problems and not skip_invalid:
        raise SheetError(sheet, reading.problems)
    with _transaction(
        human_dir, dvc_track, DVC_WAIT_S if wait_s is None else wait_s
    ) as repo:  # load -> merge -> save -> dvc add
        merged = merge_labels(load_human_labels(human_dir), reading.labels)
        changed = bool(merged.added or merged.relabelled or merged.updated)
        if changed:
            save_human_labels(human_dir, merged.labels)
        tracked = _dvc_add(repo, human_dir, changed) if repo is not None else None
    return {
        "sheet": str(sheet),
        "reviewer": reviewer,
        "date": date,
        "store": str(Path(human_dir)),
        "rows_labelled": len(reading.labels),
        "not_reviewed": reading.not_reviewed,
        "skipped_invalid": len(reading.problems),
        "problems": reading.problems,
        "added": [h.key for h in merged.added],
        "relabelled": [
            (new.key, "TP" if old.label else "FP", "TP" if new.label else "FP")
            for old, new in merged.relabelled
        ],
        "updated": [h.key for h in merged.updated],
        "unchanged": merged.unchanged,
        "disagreements": merged.disagreements,
        "total": len(merged.labels),
        "written": changed,
        "dvc": tracked,
    }


def _brief(exc: Exception) -> str:
    """A DVC error as one short line."""
    return " ".join(str(exc).split())[:300]


def _dvc_root(human_dir: str | Path) -> Path | None:
    """The DVC repository holding the store, if any."""
    resolved = Path(human_dir).resolve()
    return next((p for p in (resolved, *resolved.parents) if (p / ".dvc").is_dir()), None)


@contextlib.contextmanager
def _transaction(human_dir: str | Path, dvc_track: bool, wait_s: float) -> Iterator[Any]:
    """Hold what a store update needs, or refuse in one line once `wait_s` has passed: the store's
    lock; inside a DVC repo, no live DVC process with the store in its rwlock; with `dvc_track`,
    DVC's repository lock too (yielded as an open `dvc.repo.Repo`, else None). While a stage reads
    the store, every lock is let go between tries, so the stage's `labels apply` is never blocked."""
    from iacsieve.repo.dvc_lock import busy_with, repair_rwlock

    root = _dvc_root(human_dir)
    deadline = time.monotonic() + wait_s
    if root is not None:
        repaired = repair_rwlock(root)
        if repaired:
            log.warning("%s", repaired)
    worker: str | None = None
    while True:
        if root is not None:  # checked first without any lock: a running stage is never held up
            worker = busy_with(root, human_dir)
        if worker is None:
            with contextlib.ExitStack() as held:
                held.enter_context(store_lock(human_dir, wait_s=max(0.0, deadline - time.monotonic())))
                repo = _locked_repo(held, root, deadline) if root is not None and dvc_track else None
                worker = busy_with(root, human_dir) if root is not None else None
                if worker is None:
                    yield repo
                    return
        if time.monotonic() >= deadline:
            raise IacsieveError(
                f"{human_dir}: a DVC stage that reads the labels store is running ({worker}); "
                f"nothing was written: run `labels add` again when it has finished"
            )
        time.sleep(0.5)


def _locked_repo(held: contextlib.ExitStack, root: Path, deadline: float) -> Any:
    """DVC's repository at `root`, its lock held by `held` (DVC's own lock waits 3 s per try)."""
    from dvc.exceptions import DvcException
    from dvc.lock import LockError
    from dvc.repo import Repo, lock_repo

    try:
        repo = held.enter_context(Repo(str(root)))
    except DvcException as exc:  # not git-backed, a broken config: nothing written yet
        raise IacsieveError(
            f"{root}: DVC cannot open this repository ({_brief(exc)}); nothing was written: fix it, "
            f"or pass --no-dvc to record the labels without `dvc add`"
        ) from None
    while True:
        try:
            held.enter_context(lock_repo(repo))
            return repo
        except LockError:
            if time.monotonic() >= deadline:
                raise IacsieveError(
                    f"{root}: another DVC command holds the repository; nothing was written: "
                    f"run `labels add` again when it has finished"
                ) from None


def _dvc_add(repo: Any, human_dir: str | Path, changed: bool) -> str | None:
    """`dvc add <human_dir>` (under the repository lock `repo` holds) when the store changed, or when
    its `.dvc` file is stale (a run killed during `dvc add` left it naming an older version): the next
    run repairs it."""
    human_dir = Path(human_dir).resolve()
    root = Path(repo.root_dir)
    if not (changed or _stale(human_dir)):
        return None
    from dvc.exceptions import DvcException

    try:
        with without_dvc_hints():  # absolute: DVC reads a relative target against the cwd, not `root`
            repo.add([str(human_dir)])
    except DvcException as exc:
        raise IacsieveError(
            f"{human_dir}: the labels were saved, but `dvc add` failed ({_brief(exc)}); run "
            f"`dvc add {human_dir}` once it is fixed"
        ) from None
    return str(human_dir.relative_to(root)) + ".dvc"


def _stale(human_dir: Path) -> bool:
    """The store's `.dvc` file is missing or records another md5 than the store's files have now."""
    if not human_dir.is_dir():
        return False
    dvc_file = human_dir.with_name(human_dir.name + ".dvc")
    try:
        return data_md5_from_dvc_file(dvc_file) != folder_md5(human_dir)
    except IacsieveError:  # missing or unreadable: `dvc add` writes a good one
        return True


def format_add(result: dict) -> str:
    """What `labels add` prints: counts, then every relabel and disagreement by warning."""
    lines = [
        f"{result['sheet']}: {result['rows_labelled']} labelled row(s) by {result['reviewer']} ({result['date']}); "
        f"{result['not_reviewed']} not reviewed"
        + (f"; {result['skipped_invalid']} invalid skipped" if result["skipped_invalid"] else "")
    ]
    lines += [f"  skipped: {p}" for p in result["problems"]]
    lines.append(
        f"{result['store']}: added {len(result['added'])}, relabelled {len(result['relabelled'])}, "
        f"note updated {len(result['updated'])}, unchanged {result['unchanged']}; "
        f"{result['total']} record(s) in all"
    )
    lines += [f"  relabelled {key}: {old} -> {new}" for key, old, new in result["relabelled"]]
    for key, verdicts in result["disagreements"]:
        lines.append(f"  disagreement {key}: " + ", ".join(f"{r} {v}" for r, v in verdicts))
    if result["dvc"] and not result["written"]:
        lines.append(
            f"repaired {result['dvc']}: it named an older version of the store (an interrupted run); "
            f"commit it with git"
        )
    elif result["dvc"]:
        lines.append(f"updated {result['dvc']}: commit it with git (and `dvc push` to share the labels)")
    elif not result["written"]:
        lines.append("nothing changed")
    return "\n".join(lines)


def label_stats(human_dir: str | Path = HUMAN_DIR, raw_dir: str | Path | None = layout.RAW_DIR) -> dict:
    """Counts per tech x smell, reviewer disagreements, and LLM-vs-human agreement (Cohen's kappa)."""
    labels = load_human_labels(human_dir)
    resolved, disputed = resolve_labels(labels)
    cells: dict[str, Counter] = {}
    for h in resolved.values():
        cells.setdefault(f"{h.tech}/{h.smell}", Counter())["TP" if h.label else "FP"] += 1
    first = {h.key: h for h in reversed(labels)}
    for key in disputed:
        cells.setdefault(f"{first[key].tech}/{first[key].smell}", Counter())["disputed"] += 1
    out: dict = {
        "records": len(labels),
        "warnings": len(resolved) + len(disputed),
        "disputed": disputed,
        "reviewers": dict(sorted(Counter(h.reviewer for h in labels).items())),
        "by_tech_smell": {
            k: {"TP": c["TP"], "FP": c["FP"], "disputed": c["disputed"]} for k, c in sorted(cells.items())
        },
        "agreement": None,
    }
    if raw_dir is not None and Path(raw_dir).is_dir():
        llm = {
            record_key(r): r.label for split in ("train", "val") for r in load_raw_split(raw_dir, split)[0]
        }
        pairs = [(int(llm[k] or 0), h.label) for k, h in resolved.items() if llm.get(k) is not None]
        out["agreement"] = agreement(pairs)
    return out


def _cohen_kappa(pairs: list[tuple[int, int]]) -> float:
    """Cohen's kappa as scikit-learn computes it (numpy only: `labels` runs on the base install)."""
    labels = sorted({v for pair in pairs for v in pair})
    where = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)))
    for a, b in pairs:
        confusion[where[a], where[b]] += 1
    expected = np.outer(confusion.sum(axis=0), confusion.sum(axis=1)) / confusion.sum()
    off = 1.0 - np.eye(len(labels))
    chance = float(np.sum(off * expected))
    return float("nan") if chance == 0 else 1.0 - float(np.sum(off * confusion)) / chance


def agreement(pairs: list[tuple[int, int]]) -> dict:
    """(LLM label, human label) pairs -> n, share equal, Cohen's kappa (None when undefined)."""
    if not pairs:
        return {"n": 0, "agree": None, "kappa": None}
    llm, human = zip(*pairs)
    agree = sum(a == b for a, b in pairs) / len(pairs)
    kappa = None
    if len(set(llm) | set(human)) > 1:
        value = _cohen_kappa(pairs)
        kappa = (
            None if value != value else value
        )  # NaN when one rater uses a single label and agreement is perfect
    return {
        "n": len(pairs),
        "agree": agree,
        "kappa": kappa,
        "llm_tp_human_fp": sum(a == 1 and b == 0 for a, b in pairs),
        "llm_fp_human_tp": sum(a == 0 and b == 1 for a, b in pairs),
    }


def format_stats(stats: dict) -> str:
    lines = [
        f"{stats['records']} record(s) on {stats['warnings']} warning(s) by "
        + (", ".join(f"{r} ({n})" for r, n in stats["reviewers"].items()) or "nobody yet")
    ]
    if stats["by_tech_smell"]:
        width = max(len(k) for k in stats["by_tech_smell"])
        lines.append(f"  {'tech/smell':<{width}} {'TP':>5} {'FP':>5} {'disputed':>9}")
        for k, c in stats["by_tech_smell"].items():
            lines.append(f"  {k:<{width}} {c['TP']:>5} {c['FP']:>5} {c['disputed']:>9}")
    for key in stats["disputed"]:
        lines.append(f"  disputed (reviewers tie; not used until a third decides): {key}")
    a = stats.get("agreement")
    if a is None:
        lines.append("LLM vs human: raw data not found (pass --raw)")
    elif a["n"] == 0:
        lines.append("LLM vs human: no warning has both labels yet")
    else:
        kappa = "undefined" if a["kappa"] is None else f"{a['kappa']:.3f}"
        lines.append(
            f"LLM vs human on {a['n']} warning(s) with both labels: agree {a['agree']:.3f}, Cohen's kappa {kappa} "
            f"(LLM TP / human FP: {a['llm_tp_human_fp']}, LLM FP / human TP: {a['llm_fp_human_tp']})"
        )
    return "\n".join(lines)
