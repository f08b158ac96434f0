"""`iacsieve <command>`: `app.py` builds the parser; each command group (a module here) registers
its own subcommands, each a thin layer over one library function."""

from iacsieve.cli.app import main

__all__ = ["main"]
