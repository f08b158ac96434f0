"""One filter context (issue 28): every input `filter` accepts, `review` and `explain` accept too (a champion
archive, --path-prefix-strip, the input limits, an operating point), declared once in cli.filter_context."""

from __future__ import annotations

from pathlib import Path

import pytest
from filter_golden import REAL, golden_champion

from iacsieve.cli.app import main
from iacsieve.release import archive

SCRIPTS = REAL / "puppet"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, prepared_small) -> dict:
    root = tmp_path_factory.mktemp("context")
    champion = golden_champion(root, prepared_small)  # frozen: champion.json, val_curve.json, index
    packed = root / "champion.tar.gz"
    archive.pack(champion, packed)
    lines = (REAL / "puppet-glitch.csv").read_text(encoding="utf-8").splitlines()
    prefixed = root / "prefixed.csv"  # GLITCH run in a container on /src
    prefixed.write_text("".join("/src/" + ln[2:] + "\n" for ln in lines), encoding="utf-8")
    row = next(n for n, ln in enumerate(lines, 1) if ",sec_hard" in ln)
    return {"champion": champion, "archive": packed, "prefixed": prefixed, "row": row, "root": root}


def _command(name: str, setup: dict, model: Path, detections: Path, tmp_path: Path) -> list[str]:
    common = ["--model", str(model), "--detections", str(detections), "--scripts", str(SCRIPTS)]
    if name == "filter":
        return ["filter", *common, "--out", str(tmp_path / "out.csv")]
    if name == "review":
        return [
            "review",
            *common,
            "--budget",
            "3",
            "--human",
            str(tmp_path / "human"),
            "--out",
            str(tmp_path / "s.csv"),
        ]
    return ["explain", *common, "--row", str(setup["row"])]


COMMANDS = ("filter", "review", "explain")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", ["archive", "prefix_strip", "operating_point", "limits_ok", "limits_refuse"])
def test_every_filter_input_is_accepted_by_all_three(setup, tmp_path, capsys, command, case):
    model = setup["archive"] if case == "archive" else setup["champion"]
    detections = setup["prefixed"] if case == "prefix_strip" else REAL / "puppet-glitch.csv"
    argv = _command(command, setup, model, detections, tmp_path)
    extra = {
        "prefix_strip": ["--path-prefix-strip", "/src"],
        "operating_point": ["--min-retention", "0.9"],
        "limits_ok": ["--max-rows", "100000", "--max-line-length", "500"],
        "limits_refuse": ["--max-rows", "3"],
    }.get(case, [])
    code = main([*argv, *extra])
    err = capsys.readouterr().err
    if case == "limits_refuse":
        assert code == 2 and "more than 3 rows" in err, err
    else:
        assert code == 0, err


def test_run_filter_takes_the_two_option_objects(setup, tmp_path):
    """The single entry `scan` and `filter` call: same bytes as the long keyword form."""
    from iacsieve.filtering import filter_detections
    from iacsieve.filtering.context import FilterOptions, OutputOptions, run_filter

    options = FilterOptions(
        model=str(setup["champion"]),
        detections=str(setup["prefixed"]),
        scripts=str(SCRIPTS),
        path_prefix_strip="/src",
    )
    summary = run_filter(options, OutputOptions(out=str(tmp_path / "a.jsonl")))
    filter_detections(
        setup["champion"], setup["prefixed"], SCRIPTS, tmp_path / "b.jsonl", path_prefix_strip="/src"
    )
    assert summary["missing"] == 0 and summary["scored"] > 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
