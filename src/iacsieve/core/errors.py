"""User-facing errors: the CLI prints these as one line and exits non-zero, never a traceback."""

from __future__ import annotations

from iacsieve.core.layout import PARAMS_FILE


class IacsieveError(Exception):
    """A problem caused by the user's input (file, config, arguments), not by a bug."""

    exit_code = 2


class DataError(IacsieveError):
    """A malformed data row: names the file, the 1-based line number and the field at fault."""

    def __init__(self, path: object, line: int, field: str, problem: str) -> None:
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        super().__init__(f"{path}:{line}: field '{field}': {problem}")


class ConfigError(IacsieveError):
    """A bad setting: names the file and the dotted key path at fault."""

    def __init__(self, key_path: str, problem: str, source: object = PARAMS_FILE) -> None:
        self.key_path, self.problem, self.source = key_path, problem, str(source)
        super().__init__(f"{source}: {key_path}: {problem}")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every cleanup for an interrupt also runs for a `kill`."""
