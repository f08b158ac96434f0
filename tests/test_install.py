"""The light install: `pip install iacsieve` brings only what filter/review/explain/labels need for a
classical champion (numpy, PyYAML, mmh3), the CLI imports nothing heavy for them (not even scikit-learn,
scipy or skops: the champion is plain data), and a classical champion never imports torch.

The wheel test (marked `install`) builds iacsieve's wheel, installs it offline into an empty venv
with only the base dependencies (repacked from this venv: no network, no pip cache needed) and
filters real GLITCH output there, byte for byte as the full install does.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from wheelhouse import base_wheelhouse, build_own_wheel, dependency_closure

from iacsieve import __version__
from iacsieve.cli.app import main
from iacsieve.core.extras import EXTRA_OF_MODULE, extra_for
from iacsieve.core.layout import BUNDLED_CHAMPION

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
REAL = REPO / "tests" / "fixtures" / "glitch-real"
BASE_VENV_BUDGET_MB = 100  # issue 28: the base install is the filter (numpy, PyYAML, mmh3)
# What a base install must not hold: every extra's modules, and what they drag in.
HEAVY = sorted({name.split(".")[0] for name in EXTRA_OF_MODULE} | {"pandas", "pyarrow", "pytest"})

# Runs the CLI with the extras' modules made unimportable (as in a base install), then reports which
# heavy modules got imported anyway.
RUN_HIDDEN = """
import json, sys
HIDE = set(json.loads(sys.argv[1]))
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDE:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Refuse())
from iacsieve.cli.app import main
try:
    code = main(sys.argv[2:])
finally:  # --help exits through SystemExit
    print("IMPORTED", json.dumps(sorted(m for m in HIDE | {"torch"} if m in sys.modules)))
sys.exit(code)
"""


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _run(argv: list[str], hide: list[str]) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    return subprocess.run(
        [sys.executable, "-c", RUN_HIDDEN, json.dumps(hide), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _imported(result: subprocess.CompletedProcess) -> list[str]:
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("IMPORTED "))
    return json.loads(line.split(" ", 1)[1])


def _filter_args(model: Path, out: Path) -> list[str]:
    return [
        "filter",
        "--model",
        str(model),
        "--detections",
        str(REAL / "ansible-glitch.csv"),
        "--scripts",
        str(REAL / "ansible"),
        "--out",
        str(out),
    ]


def test_the_base_dependencies_are_the_filters_three_and_extras_hold_the_rest():
    project = _pyproject()["project"]
    base = {dep.split("==")[0].lower() for dep in project["dependencies"]}
    assert base == {"numpy", "pyyaml", "mmh3"}
    extras = project["optional-dependencies"]
    assert {"torch", "transformers", "tokenizers", "safetensors", "accelerate"} <= {
        d.split("==")[0] for d in extras["hf"]
    }
    assert {"dvc", "kfp", "matplotlib"} <= {d.split("==")[0] for d in extras["pipeline"]}
    assert {"scikit-learn", "scipy", "skops"} <= {d.split("==")[0] for d in extras["train"]}
    for extra, deps in extras.items():
        for dep in deps:
            assert "==" in dep, f"[{extra}] {dep}: every pin is exact"
    for module, extra in EXTRA_OF_MODULE.items():  # the message names an extra that exists
        assert extra in extras, f"{module}: extra {extra!r} is not in pyproject.toml"


def test_a_classical_champion_never_imports_torch_even_when_installed(champion, tmp_path):
    assert importlib.util.find_spec("torch") is not None, "this test needs torch installed to mean anything"
    result = _run(_filter_args(champion, tmp_path / "kept.csv"), hide=[])
    assert result.returncode == 0, result.stderr
    assert "torch" not in _imported(result)


def test_light_commands_run_with_every_extra_missing(champion, tmp_path):
    for argv in (
        ["--help"],
        _filter_args(champion, tmp_path / "kept.sarif"),
        [
            "review",
            "--model",
            str(champion),
            "--detections",
            str(REAL / "ansible-glitch.csv"),
            "--scripts",
            str(REAL / "ansible"),
            "--budget",
            "5",
            "--human",
            str(tmp_path / "human"),
            "--out",
            str(tmp_path / "sheet.csv"),
        ],
        ["labels", "stats", "--human", str(REPO / "tests" / "fixtures" / "human-example")],
    ):
        result = _run(argv, hide=HEAVY)
        assert result.returncode == 0, f"{argv[0]}: {result.stderr}"
        assert _imported(result) == [], argv[0]


def test_a_command_needing_an_extra_names_it_in_one_line(tmp_path):
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "model_meta.json").write_text(
        json.dumps({"kind": "tiny", "family": "tiny-roberta", "use_context": False})
    )
    result = _run([*_filter_args(encoder, tmp_path / "kept.csv"), "--threshold", "0.5"], hide=HEAVY)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "iacsieve: error: this command needs torch, which the light install leaves out: "
        "pip install '.[hf]' in a clone of iacsieve (docs/champion.md; never by bare name from an index)"
    )


def test_extra_for_maps_submodules_and_ignores_foreign_modules():
    assert extra_for("kfp.kubernetes") == "pipeline"
    assert extra_for("transformers.models.roberta") == "hf"
    assert extra_for("no_such_module") is None and extra_for(None) is None


def test_an_unknown_missing_module_is_still_a_traceback_not_hidden(monkeypatch):
    """Only modules an extra brings get the one-line hint; a bug's ImportError stays loud."""
    import iacsieve.cli.app as app

    def broken(_args):
        raise ModuleNotFoundError("No module named 'nonexistent'", name="nonexistent")

    class Parser:
        def parse_args(self, argv):
            return argparse.Namespace(func=broken, verbose=False)

    monkeypatch.setattr(app, "build_parser", Parser)
    with pytest.raises(ModuleNotFoundError):
        main([])


@pytest.mark.install
def test_the_wheel_installs_light_and_filters_real_glitch_output(champion, tmp_path):
    deps = _pyproject()["project"]["dependencies"]
    wheels = tmp_path / "wheels"
    base_wheelhouse(deps, wheels)
    build_own_wheel(REPO, wheels)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet"]
        + ["--disable-pip-version-check", "--no-compile", "--no-index", "--find-links", str(wheels)]
        + [f"iacsieve=={__version__}"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m, json; "
         "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    installed = set(json.loads(listed.stdout))
    assert installed == {name.lower() for name in dependency_closure(deps)} | {"iacsieve"}
    size_mb = sum(p.stat().st_size for p in venv.rglob("*") if p.is_file()) / 2**20
    assert size_mb <= BASE_VENV_BUDGET_MB, f"base venv {size_mb:.0f} MB (without .pyc: pip ran --no-compile)"

    iacsieve = str(venv / "bin" / "iacsieve")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no PYTHONPATH: the installed package only
    for tech in ("ansible", "chef", "puppet"):  # real GLITCH output, as users run it
        light, full = tmp_path / f"{tech}-light.csv", tmp_path / f"{tech}-full.csv"
        args = _filter_args(champion, light)
        args[args.index("--detections") + 1] = str(REAL / f"{tech}-glitch.csv")
        args[args.index("--scripts") + 1] = str(REAL / tech)
        run = subprocess.run(
            [iacsieve, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )
        assert run.returncode == 0, f"{tech}: {run.stderr}"
        args[args.index("--out") + 1] = str(full)
        assert main(args) == 0
        assert light.read_bytes() == full.read_bytes(), tech
        rows = light.read_text(encoding="utf-8").splitlines()
        assert len(rows) > 100, tech  # the fixture's warnings, not an empty run

    # the bundled champion: a fresh install filters with no --model, and verifies to the repository's archive
    bundled = tmp_path / "bundled.csv"
    argv = ["filter", "--detections", str(REAL / "puppet-glitch.csv"), "--scripts", str(REAL / "puppet")]
    run = subprocess.run([iacsieve, *argv, "--out", str(bundled)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    assert run.returncode == 0 and "(bundled)" in run.stderr, run.stderr
    verify = subprocess.run(
        [iacsieve, "champion", "verify"], capture_output=True, text=True, env=env, timeout=60
    )
    sha = hashlib.sha256((SRC / "iacsieve" / BUNDLED_CHAMPION).read_bytes()).hexdigest()
    assert verify.returncode == 0 and sha in verify.stdout, verify.stdout + verify.stderr

    train = subprocess.run(
        [iacsieve, "plots"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert train.returncode == 2
    assert "pip install '.[pipeline]'" in train.stderr and len(train.stderr.splitlines()) == 1
    shutil.rmtree(venv)


def test_make_bench_reports_a_fresh_1000_row_run_against_the_targets(monkeypatch):
    import iacsieve.reporting.bench_filter as bench

    calls = []

    def scale(model, rows, fixture, threshold):
        calls.append(rows)
        return {"rows": rows, "wall_s": 0.8, "cpu_s": 0.7, "peak_rss_mb": 150.0}

    monkeypatch.setattr(bench, "run_scale_benchmark", scale)
    result = bench.run_startup_benchmark("models/champion")
    assert calls == [1000] and (result["target_s"], result["target_mb"]) == (0.4, 80)
    assert bench.format_startup(result).startswith(
        "filter, 1000 rows in a fresh process: 0.80s wall, 0.70s CPU (target 0.4s), peak RSS 150 MB (target 80 MB)"
    )


def test_models_never_import_steps():
    """The layering models/ < steps/: a model family loads without the training steps."""
    import ast

    for path in sorted((SRC / "iacsieve" / "models").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            assert not [n for n in names if n.startswith("iacsieve.steps")], f"{path.name} imports {names}"
