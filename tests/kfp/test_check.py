"""`iacsieve kfp check`: every checked-in spec conforms; each rule fails a spec seeded with its violation.

A mutation test per rule: a conforming compiled spec, changed in exactly one place the way the
backend rules doc (docs/kfp-backend-rules.md) says a real backend breaks, must give that rule's
violations and no other rule's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from iacsieve.cli.app import main
from iacsieve.kfp.check import RULES, check_doc, check_files

REPO = Path(__file__).resolve().parents[2]
SPECS = sorted((REPO / "pipelines").glob("*.yaml"))


def _load(name: str) -> dict:
    return next(yaml.safe_load_all((REPO / "pipelines" / name).read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def stage3() -> dict:
    return _load("stage3.yaml")


@pytest.fixture(scope="module")
def all_stages() -> dict:
    return _load("all-stages.yaml")


def test_every_checked_in_spec_conforms():
    assert SPECS and check_files(SPECS) == []


def test_the_cli_checks_specs_exit_0_or_2_one_line_per_violation(tmp_path, capsys, stage3):
    assert main(["kfp", "check", *map(str, SPECS)]) == 0
    capsys.readouterr()
    bad = copy.deepcopy(stage3)
    for executor in bad["deploymentSpec"]["executors"].values():
        if "container" in executor:
            executor["container"]["image"] = "iacsieve:0.1.0"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    assert main(["kfp", "check", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    tasks = {"prepare", "select", "comp-for-loop-2/train", "comp-freeze-chosen/freeze"}
    assert all(line.startswith(f"{path}: task ") and "input image: iacsieve:0.1.0" in line for line in lines)
    assert tasks <= {line.split(" task ")[1].split(" input")[0] for line in lines}
    (tmp_path / "junk.yaml").write_text("a: 1\n", encoding="utf-8")
    assert main(["kfp", "check", str(tmp_path / "junk.yaml")]) == 2
    assert "not a compiled pipeline spec" in capsys.readouterr().err


def _tasks(doc: dict, dag: str) -> dict:
    holder = doc["root"] if dag == "root" else doc["components"][dag]
    return holder["dag"]["tasks"]


def _importer_from_task_output(doc: dict) -> None:
    _tasks(doc, "comp-freeze-chosen")["importer"]["inputs"]["parameters"]["uri"] = {
        "taskOutputParameter": {"producerTask": "select", "outputParameterKey": "run_uri"}
    }


def _importer_local_path(doc: dict) -> None:
    _tasks(doc, "root")["importer"]["inputs"]["parameters"]["uri"] = {
        "runtimeValue": {"constant": "data/raw"}
    }


def _evaluate_cached(doc: dict) -> None:
    _tasks(doc, "comp-for-loop-2")["evaluate"]["cachingOptions"] = {"enableCache": True}


def _select_cached(doc: dict) -> None:
    _tasks(doc, "root")["select"]["cachingOptions"] = {"enableCache": True}


def _fractional_backoff(doc: dict) -> None:
    _tasks(doc, "comp-for-loop-2")["train"]["retryPolicy"]["backoffFactor"] = 1.5


def _deadline_before_the_retries(doc: dict) -> None:
    _tasks(doc, "comp-for-loop-2")["train"]["retryPolicy"]["backoffMaxDuration"] = "120s"


def _retried_importer(doc: dict) -> None:
    _tasks(doc, "root")["importer"]["retryPolicy"] = dict(_tasks(doc, "root")["select"]["retryPolicy"])


def _no_cpu_request(doc: dict) -> None:
    del doc["deploymentSpec"]["executors"]["exec-select"]["container"]["resources"]["resourceCpuRequest"]


def _tag_only_image(doc: dict) -> None:
    doc["deploymentSpec"]["executors"]["exec-prepare"]["container"]["image"] = "ghcr.io/acme/iacsieve:0.1.0"


def _unbounded_gpu_loop(doc: dict) -> None:
    del _tasks(doc, "root")["for-loop-2"]["iteratorPolicy"]


MUTATIONS: list[tuple[str, Callable[[dict], None], str, str]] = [
    (
        "1-importer-uri",
        _importer_from_task_output,
        "comp-freeze-chosen/importer input uri",
        "select's output",
    ),
    ("4c-importer-scheme", _importer_local_path, "task importer input uri", "'data/raw'"),
    ("2-collected-cache", _evaluate_cached, "task select input evaluations", "producer evaluate"),
    ("2-collected-cache", _select_cached, "task select input evaluations", "caching on"),
    (
        "3d-backoff-factor",
        _fractional_backoff,
        "comp-for-loop-2/train input retryPolicy.backoffFactor",
        "1.5",
    ),
    ("3b-retry-deadline", _deadline_before_the_retries, "train input retryPolicy.backoffMaxDuration", "180s"),
    ("3c-importer-retry", _retried_importer, "task importer input retryPolicy", "never retries"),
    ("pods-resources", _no_cpu_request, "task select input resources.resourceCpuRequest", "missing"),
    ("4b-image", _tag_only_image, "task prepare input image", "ghcr.io/acme/iacsieve:0.1.0"),
    ("4a-gpu-parallelism", _unbounded_gpu_loop, "task for-loop-2 input iteratorPolicy", "no limit"),
]


@pytest.mark.parametrize(
    "rule, mutate, where, says", MUTATIONS, ids=[f"{m[0]}:{m[1].__name__}" for m in MUTATIONS]
)
def test_each_rule_fails_a_spec_seeded_with_its_violation(stage3, rule, mutate, where, says):
    assert check_doc(stage3) == []
    doc = copy.deepcopy(stage3)
    mutate(doc)
    lines = [v.line("spec.yaml") for v in check_doc(doc)]
    assert {v.rule for v in check_doc(doc)} == {rule}, lines
    assert any(where in line and says in line for line in lines), lines


def test_two_stages_gpu_loops_side_by_side_exceed_the_budget(all_stages):
    assert check_doc(all_stages, gpu_budget=4) == []
    doc = copy.deepcopy(all_stages)
    loop = _tasks(doc, "root")["for-loop-4"]
    loop["dependentTasks"] = [d for d in loop["dependentTasks"] if d != "select"]  # stage 2 no longer waits
    found = check_doc(doc, gpu_budget=4)
    # stage 1's loop is now unordered with every later one (stages 3-4 wait only for stage 2)
    assert {(v.rule, v.task) for v in found} == {("4a-gpu-parallelism", f"for-loop-{n}") for n in (4, 6, 8)}
    assert all("beside for-loop-2" in v.message and "8 GPU pods, budget 4" in v.message for v in found)
    over = check_doc(all_stages, gpu_budget=2)  # each loop's own limit (4) beyond the budget
    assert {v.rule for v in over} == {"4a-gpu-parallelism"} and len(over) == 4


def test_every_rule_names_the_backend_source_it_encodes():
    for rule in RULES:
        assert "backend/src/v2/" in " ".join((rule.__doc__ or "").split()), rule.__name__
    assert {m[0] for m in MUTATIONS} >= {"1-importer-uri", "2-collected-cache", "3b-retry-deadline"}
    assert len({m[1] for m in MUTATIONS}) == len(MUTATIONS) and len(RULES) == len({m[0] for m in MUTATIONS})


def test_compile_refuses_a_spec_the_rules_refuse(tmp_path, capsys, monkeypatch):
    """compile runs the check: with the image left unpinned it exits 2, one line per task, no file."""
    monkeypatch.setattr("iacsieve.kfp.graph.pinned", lambda ref: ref)
    out = tmp_path / "s1.yaml"
    args = ["kfp", "compile", "--stage", "1", "--params", str(REPO / "params.yaml"), "-o", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert not out.exists() and len(err) >= 3 and "refused: " in err[-1]
    assert all("input image: iacsieve:0.1.0: name it by digest" in line for line in err[:-1])
