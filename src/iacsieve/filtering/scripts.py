"""Confined reading of the scanned scripts: a detections file is untrusted, so no path leads outside `--scripts`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import IacsieveError

TECH_BY_SUFFIX: dict[str, str] = {".pp": "puppet", ".rb": "chef", ".yml": "ansible", ".yaml": "ansible"}


class ScriptProblem(Exception):
    """A warning whose script cannot be used: not found, outside --scripts, or too short."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason, self.message = reason, message
        super().__init__(message)


class ScriptFolder:
    """Resolves detector paths inside one folder and reads scripts, each at most once.

    A detections file is untrusted: a path whose real location (symlinks followed) is outside the
    folder is refused before anything is opened. Paths may be absolute (inside the folder), relative
    to it, or carry a leading prefix the folder lacks (GLITCH writes `scripts/x.pp` when run on
    `scripts`): relative paths are tried with leading parts dropped, down to the bare file name.
    """

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise IacsieveError(f"{root}: scripts folder not found")
        self.given = root
        self.root = Path(os.path.realpath(root))
        self._resolved: dict[str, Path | ScriptProblem] = {}
        self._lines: dict[Path, list[str] | ScriptProblem] = {}

    def resolve(self, raw: str) -> Path:
        """The real path of the script `raw` names, inside the folder; raises ScriptProblem."""
        if raw not in self._resolved:
            try:
                self._resolved[raw] = self._resolve(raw)
            except ScriptProblem as problem:
                self._resolved[raw] = problem
        found = self._resolved[raw]
        if isinstance(found, ScriptProblem):
            raise found
        return found

    def relative(self, path: Path) -> str:
        """A resolved script's path relative to the folder (POSIX), for SARIF URIs."""
        return path.relative_to(self.root).as_posix()

    def line(self, path: Path, line: int) -> tuple[str, list[str]]:
        """The text of 1-based `line` and all the script's lines; raises ScriptProblem past the end."""
        if path not in self._lines:
            self._lines[path] = self._read(path)
        lines = self._lines[path]
        if isinstance(lines, ScriptProblem):
            raise lines
        if line > len(lines):
            raise ScriptProblem("line_past_end", f"line {line} is past the end of {self.relative(path)} "
                                                 f"({len(lines)} lines)")
        return lines[line - 1], lines

    def _resolve(self, raw: str) -> Path:
        given = Path(raw)
        if ".." in given.parts:
            raise ScriptProblem("outside_scripts", f"path {raw!r} climbs out of --scripts with '..'; refused")
        if given.is_absolute():
            candidates = [given]
        else:
            parts = given.parts
            candidates = [self.root.joinpath(*parts[i:]) for i in range(len(parts))]
        for candidate in candidates:
            if not os.path.lexists(candidate):
                continue
            real = Path(os.path.realpath(candidate))
            if not self._inside(real):
                raise ScriptProblem("outside_scripts", f"path {raw!r} resolves outside --scripts {self.given}; refused")
            try:
                mode = os.stat(real).st_mode
            except OSError:
                raise ScriptProblem("not_found", f"script {raw!r} not found under --scripts {self.given}") from None
            if not stat.S_ISREG(mode):
                raise ScriptProblem("not_found", f"script {raw!r} is not a regular file under --scripts {self.given}")
            return real
        if given.is_absolute() and not self._inside(Path(os.path.realpath(given))):
            raise ScriptProblem("outside_scripts", f"path {raw!r} is outside --scripts {self.given}; refused")
        raise ScriptProblem("not_found", f"script {raw!r} not found under --scripts {self.given}")

    def _inside(self, real: Path) -> bool:
        return real == self.root or self.root in real.parents

    @staticmethod
    def _read(path: Path) -> list[str] | ScriptProblem:
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            return ScriptProblem("not_found", f"cannot read script {path.name}: {exc.strerror or exc}")
        lines = text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines


def infer_tech(path: str) -> str | None:
    """The IaC technology a script's extension implies (.pp puppet, .rb chef, .yml/.yaml ansible)."""
    return TECH_BY_SUFFIX.get(Path(path).suffix.lower())
