"""docs/cli.md is the parser's own help, fresh, and every command says what it is for."""

from __future__ import annotations

from pathlib import Path

import pytest

from iacsieve.cli.app import build_parser
from iacsieve.cli.reference import commands, render, subparser

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
PATHS = list(commands(build_parser()))


def test_the_reference_page_is_fresh():
    assert PAGE.read_text(encoding="utf-8") == render(), "docs/cli.md is stale: run make cli-reference"


def test_the_walk_finds_nested_commands():
    assert ("filter",) in PATHS and ("champion", "verify") in PATHS and ("kfp", "submit") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_every_command_has_a_description(path):
    parser = build_parser()
    parent = subparser(parser, path[:-1])
    helps = {
        a.dest: a.help
        for action in parent._actions
        if hasattr(action, "_choices_actions")
        for a in action._choices_actions
    }
    assert helps.get(path[-1]), f"`iacsieve {' '.join(path)}` has no help line in `--help`"
    for action in subparser(parser, path)._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"`iacsieve {' '.join(path)}` {action.option_strings[0]}: no help text"
