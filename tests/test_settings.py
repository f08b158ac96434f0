"""Each setting declared once (`iacsieve.core.settings`), and `iacsieve params` refuses every value that
would fail later (issue 31: "params that pass, then fail").

The property test mutates one declared setting of the committed params.yaml to a value around one
of its bounds (or of the wrong type): either `iacsieve params` refuses it naming that key, or the
step that uses the setting accepts it too (its own validation, not only params.yaml's).
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from iacsieve.cli.app import main
from iacsieve.core.errors import ConfigError
from iacsieve.core.run_config import SCHEDULERS, TrainConfig
from iacsieve.core.settings import declared, spec
from iacsieve.method.grid import resolve_run_config
from iacsieve.method.params import SETTINGS_BLOCKS, parse_params, read_yaml
from iacsieve.models import family_of
from iacsieve.steps.metrics import bootstrap_f1_ci
from iacsieve.steps.threshold import threshold_grid

REPO = Path(__file__).resolve().parents[1]
# Hypothesis keeps caches in .hypothesis/; tests never write into the working tree (tests/worktree.py).
_HOME = tempfile.mkdtemp(prefix="iacsieve-hypothesis-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
set_hypothesis_home_dir(_HOME)


def committed_params() -> dict:
    from worktree import repo_copy

    return read_yaml(repo_copy("params.yaml"))


RAW = committed_params()


# ----------------------------------------------------------------------------- the named cases


@pytest.mark.parametrize(
    "key, value, needle",
    [
        ("threshold_sweep.step", 1.0e-320, "threshold_sweep.step: must be >= 0.0001"),
        ("defaults.seed", -3, "defaults.seed: must be >= 0"),
        ("defaults.max_length", 0, "defaults.max_length: must be >= 2"),
        ("defaults.gradient_accumulation", 0, "defaults.gradient_accumulation: must be >= 1"),
        ("evaluation.bootstrap_samples", 0, "evaluation.bootstrap_samples: must be >= 1"),
        ("evaluation.bootstrap_samples", 10**12, "evaluation.bootstrap_samples: must be <= 100000"),
        ("evaluation.bootstrap_samples", 1e12, "evaluation.bootstrap_samples: expected an integer"),
        ("evaluation.bootstrap_seed", -1, "evaluation.bootstrap_seed: must be >= 0"),
        ("defaults.scheduler", "bogus", "defaults.scheduler: must be one of linear, cosine"),
        ("defaults.seed", 2**32, "defaults.seed: must be <= 4294967295"),
        ("defaults.warmup_ratio", 1.0, "defaults.warmup_ratio: must be < 1"),
        ("human.validation", "people", "human.validation: must be one of llm, human, merged"),
        ("human.val_fraction", True, "human.val_fraction: expected a number"),
        ("stage4.seeds", [-1], "stage4.seeds[0]: must be >= 0"),
        ("families.tiny-t5.max_length", 1, "families.tiny-t5.max_length: must be >= 2"),
        ("families.tiny-t5.options", {"dropout": 5}, "families.tiny-t5.options.dropout: must be <= 1"),
    ],
)
def test_params_refuses_in_one_line_naming_the_key(tmp_path, capsys, key, value, needle):
    raw = copy.deepcopy(RAW)
    _set(raw, key, value)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    code = main(["params", "--params", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err


def _set(raw: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        raw = raw.setdefault(part, {})
    raw[last] = value


# ----------------------------------------------------------------------------- one declaration


def test_step_commands_read_params_yaml_blocks_through_the_declaration(tmp_path, capsys):
    """`labels apply` (and `sweep-threshold`, `evaluate`) take params.yaml's block for flags left
    out: a value there is checked by the same declaration, naming the file and the key."""
    (tmp_path / "human").mkdir()
    (tmp_path / "params.yaml").write_text("human:\n  val_fraction: 2\n")
    argv = ["labels", "apply", "--prepared", str(tmp_path / "none"), "--human", str(tmp_path / "human")]
    code = main([*argv, "--out", str(tmp_path / "out"), "--params", str(tmp_path / "params.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "params.yaml: human.val_fraction: must be <= 1, got 2" in err, err
    (tmp_path / "params.yaml").write_text("human:\n  val_fraction: 0.2\n")
    code = main(
        [
            *argv,
            "--out",
            str(tmp_path / "out"),
            "--params",
            str(tmp_path / "params.yaml"),
            "--val-fraction",
            "3",
        ]
    )
    assert "command line: --val-fraction: must be <= 1, got 3" in capsys.readouterr().err


def test_declared_defaults_agree_with_the_flags_that_show_them(capsys):
    """One default per setting: `labels apply` has none of its own (human.validation was `llm` in
    the command and `merged` in params.yaml)."""
    from iacsieve.data.human import HumanSettings

    with pytest.raises(SystemExit):
        main(["labels", "apply", "--help"])
    assert HumanSettings().validation == "merged" == RAW["human"]["validation"]
    assert "(default: llm)" not in capsys.readouterr().out


def test_schedulers_are_transformers_names():
    transformers = pytest.importorskip("transformers")
    names = {s.value for s in transformers.SchedulerType}
    assert set(SCHEDULERS) <= names


def test_the_settings_page_is_generated(capsys):
    assert main(["params", "--table"]) == 0
    page = capsys.readouterr().out
    assert (REPO / "docs" / "settings.md").read_text(encoding="utf-8") == page, (
        "docs/settings.md is stale: iacsieve params --table > docs/settings.md"
    )


def test_every_step_flag_is_the_settings_name(capsys):
    """`--learning-rate` on `step train` and on `stage run` (dvc.yaml's cmd), never `--lr`."""
    for command in (["step", "train", "--help"], ["stage", "run", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        text = capsys.readouterr().out
        assert "--learning-rate" in text and "--lr " not in text
    dvc_yaml = (REPO / "dvc.yaml").read_text(encoding="utf-8")
    assert "--lr " not in dvc_yaml


def test_sweep_threshold_takes_params_yaml_not_a_copy(tmp_path, capsys):
    """`iacsieve step sweep-threshold` uses the params file's `threshold_sweep:` (flags win)."""
    import json

    run = tmp_path / "run"
    run.mkdir()
    rows = [
        {"file": "a.pp", "line": i, "smell": "use_of_http", "tech": "puppet", "label": i % 2, "score": i / 10}
        for i in range(10)
    ]
    (run / "val_scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = copy.deepcopy(RAW)
    raw["threshold_sweep"] = {"start": 0.2, "stop": 0.4, "step": 0.1}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "sweep.json"
    assert (
        main(
            [
                "step",
                "sweep-threshold",
                str(run),
                "--params",
                str(tmp_path / "params.yaml"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert [p["threshold"] for p in json.loads(out.read_text())["curve"]] == [0.2, 0.3, 0.4]
    argv = ["step", "sweep-threshold", str(run), "--params", str(tmp_path / "params.yaml"), "--stop", "0.3"]
    assert main([*argv, "--out", str(out)]) == 0
    assert [p["threshold"] for p in json.loads(out.read_text())["curve"]] == [0.2, 0.3]
    capsys.readouterr()


# ----------------------------------------------------------------------------- the property test


def _numeric_targets() -> list[tuple[str, str, object]]:
    """(params.yaml key, field type, field) of every declared number, plus the grid lists."""
    targets = []
    for block, cls in SETTINGS_BLOCKS:
        for name, f in declared(cls).items():
            kind = str(f.type)
            if kind in ("int", "float"):
                targets.append((f"{block}.{name}", kind, f))
    train = declared(TrainConfig)
    for key, field in (("stage1.learning_rates", "learning_rate"), ("stage1.batch_sizes", "batch_size")):
        targets.append((key, str(train[field].type), train[field]))
    targets.append(("stage4.seeds", "int", train["seed"]))
    return targets


TARGETS = _numeric_targets()


def _around(f: object, kind: str) -> list[object]:
    """Values at, just inside and just outside each bound, and a few far away."""
    s = spec(f)  # type: ignore[arg-type]
    values: list[object] = [0, 1, -1, 1e-320, 1e12, -1e300, 1e300, True, "1", None]
    for bound in (s.min, s.max, s.above, s.below):
        if bound is None:
            continue
        if kind == "int":
            values += [int(bound) - 1, int(bound), int(bound) + 1]
        else:
            values += [
                bound,
                math.nextafter(bound, -math.inf),
                math.nextafter(bound, math.inf),
                bound - 1e-9,
                bound + 1e-9,
            ]
    if kind == "int":
        values = [int(v) if isinstance(v, float) and abs(v) < 1e18 and v == int(v) else v for v in values]
    return values


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict, str]:
    key, kind, f = draw(st.sampled_from(TARGETS))
    value = draw(
        st.one_of(
            st.sampled_from(_around(f, kind)),
            st.integers(-(2**40), 2**40) if kind == "int" else st.floats(-10, 10, allow_nan=False),
        )
    )
    raw = copy.deepcopy(RAW)
    _set(raw, key, [value] if key.startswith("stage") else value)
    return raw, key


@settings(
    max_examples=300,  # derandomized: the same cases every run (tests are deterministic)
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated())
def test_params_refuses_or_the_step_accepts(case):
    raw, key = case
    try:
        params = parse_params(raw)
    except ConfigError as exc:
        named = exc.key_path.split("[")[0]
        same_block = key.startswith("threshold_sweep.") and named.startswith(
            "threshold_sweep."
        )  # start <= stop
        assert named == key or same_block, f"{key} refused as {exc.key_path}: {exc.problem}"
        return
    _steps_accept(params)


def _steps_accept(params) -> None:
    """What each step checks before it works, on the accepted settings (none may raise)."""
    configs = [resolve_run_config(params, 1, point) for point in params.stage(1).grid_points()]
    configs += [TrainConfig.from_dict({**configs[0].to_dict(), **p}) for p in params.stage(4).grid_points()]
    for config in configs:  # train: the run's settings, as the family and the libraries take them
        family_of(config.family).check_options(config)
        np.random.RandomState(config.seed)  # what transformers' set_seed and sklearn's random_state take
        if config.family.startswith("tiny"):
            _training_arguments(config)
    sweep = params.threshold_sweep
    grid = threshold_grid(sweep.start, sweep.stop, sweep.step)  # sweep-threshold
    assert 1 <= len(grid) <= 10_001
    ev = params.evaluation
    bootstrap_f1_ci([0, 1, 1], [0, 1, 0], ev.bootstrap_samples, ev.bootstrap_seed)  # evaluate
    from iacsieve.data.human import HumanSettings, held_out_for_validation

    HumanSettings.from_dict(dataclasses.asdict(params.human))  # labels apply
    held_out_for_validation("k", params.human.val_fraction)


def _training_arguments(config: TrainConfig) -> None:
    """The encoder families' own checks: TrainingArguments, and the LR schedule built for real."""
    try:
        import torch
        from transformers import get_scheduler

        from iacsieve.models import get_family
        from iacsieve.models.encoders.training import training_arguments
    except ImportError:  # the light install: no transformers
        return
    with tempfile.TemporaryDirectory() as tmp:
        training_arguments(config, get_family(config.family), tmp)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    steps = 10 * config.epochs
    get_scheduler(config.scheduler, optimizer, int(config.warmup_ratio * steps), steps)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            ["step", "train", "--family", "classical", "--seed", "-1"],
            "command line: --seed: must be >= 0, got -1",
        ),
        (
            ["step", "train", "--family", "classical", "--max-length", "0"],
            "command line: --max-length: must be >= 2",
        ),
        (
            ["stage", "run", "--stage", "1", "--family", "classical", "--learning-rate", "0"],
            "command line: --learning-rate: must be > 0",
        ),
        (["step", "sweep-threshold", "RUN", "--step", "1e-320"], "command line: --step: must be >= 0.0001"),
        (
            ["step", "evaluate", "RUN", "--results", "R", "--bootstrap-samples", "0"],
            "--bootstrap-samples: must be >= 1",
        ),
    ],
)
def test_a_bad_flag_is_named_in_one_line(tmp_path, capsys, argv, needle):
    argv = [str(tmp_path / a) if a in ("RUN", "R") else a for a in argv]
    code = main([*argv, "--out", str(tmp_path / "out")] if argv[0] in ("train",) else argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err
