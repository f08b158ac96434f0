"""Options whose default is an environment variable, read when the command runs.

Why: the parser is built once per process (`app.build_parser` is cached), so a default taken from
`os.environ` while building it would be whatever the environment held then; the variable is read
after parsing instead, for the options left out.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

_KEY = "env_defaults"  # the namespace attribute mapping an option's dest to its variable


def env_option(parser: argparse.ArgumentParser, *flags: str, var: str, **kwargs: Any) -> argparse.Action:
    """`parser.add_argument(*flags, **kwargs)`, defaulting to `$var` when the option is left out."""
    action = parser.add_argument(*flags, **kwargs)
    parser.set_defaults(**{_KEY: {**(parser.get_default(_KEY) or {}), action.dest: var}})
    return action


def apply_env_defaults(args: argparse.Namespace) -> None:
    """Fill each env option left out from its variable (None where that is unset)."""
    for dest, var in (getattr(args, _KEY, None) or {}).items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, os.environ.get(var))
