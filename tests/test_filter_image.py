"""`make image-filter` for real: build the filter image offline (container/build_filter_image.py) with a
champion archive packed from the test champion, run it on real GLITCH output, and check it writes
what the filter writes here, with no torch inside. Skips, saying why, where no engine answers (CI
installs podman first, so there it runs); a rebuild with unchanged inputs comes from the layer cache."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from images import answering_engine, build_script

from iacsieve.cli.app import main
from iacsieve.release.archive import pack

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "tests" / "fixtures" / "glitch-real"
TAG = "localhost/iacsieve-filter:test"


def _script():
    return build_script("build_filter_image")


def test_the_default_tag_is_the_package_version():
    from iacsieve import __version__

    assert _script().default_tag() == f"iacsieve-filter:{__version__}"


def test_a_missing_champion_archive_is_one_line(tmp_path, capsys):
    assert _script().main(["--champion", str(tmp_path / "none.tar.gz")]) == 2
    assert "no champion archive" in capsys.readouterr().err


@pytest.mark.slow
def test_the_filter_image_filters_real_glitch_output_without_torch(champion, tmp_path):
    engine = answering_engine()
    if engine is None:
        pytest.skip("no container engine answers (as root: container/install-engine.sh)")
    if (
        os.geteuid() != 0
        and subprocess.run([engine, "image", "exists", "localhost/iacsieve-base:bookworm"]).returncode != 0
    ):
        pytest.skip("the debootstrapped base needs root to make")
    archive = tmp_path / "champion.tar.gz"
    pack(champion, archive)
    assert _script().main(["--engine", engine, "--champion", str(archive), "--tag", TAG]) == 0
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the image runs as uid 1000
    run = subprocess.run(
        [
            engine,
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{REAL / 'ansible'}:/src:ro",
            "-v",
            f"{REAL}:/in:ro",
        ]
        + [
            "-v",
            f"{out}:/out",
            TAG,
            "--detections",
            "/in/ansible-glitch.csv",
            "--scripts",
            ".",
            "--out",
            "/out/kept.csv",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert main(["filter", "--model", str(champion), "--detections", str(REAL / "ansible-glitch.csv"), "--scripts",
                 str(REAL / "ansible"), "--out", str(tmp_path / "here.csv")]) == 0  # fmt: skip
    assert (out / "kept.csv").read_bytes() == (tmp_path / "here.csv").read_bytes()
    probe = subprocess.run(
        [engine, "run", "--rm", "--network", "none", "--entrypoint", "python3", TAG, "-c",
         "import importlib.util as u, os; print(u.find_spec('torch'), os.getuid())"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert probe.stdout.split() == ["None", "1000"], probe.stderr
