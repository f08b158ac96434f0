"""Confined reading of the scanned scripts: a detections file is untrusted, so no path leads outside `--scripts`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from iacsieve.errors import IacsieveError
from iacsieve.limits import DEFAULT, Limits
from iacsieve.reading import read_regular_bytes
from iacsieve.smells import TECH_BY_SUFFIX


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
    Each try walks the real tree one part at a time and stops at the first part that does not exist,
    so a long hostile path costs time linear in its length (times the folder's depth), not quadratic.

    Only regular files of at most `limits.max_file_bytes` are read; lines longer than
    `limits.max_line_chars` are cut (a model reads a few hundred tokens anyway) and remembered.
    """

    def __init__(self, root: str | Path, limits: Limits = DEFAULT) -> None:
        root = Path(root)
        if not root.is_dir():
            raise IacsieveError(f"{root}: scripts folder not found")
        self.given = root
        self.root = Path(os.path.realpath(root))
        self.limits = limits
        self._resolved: dict[str, Path | ScriptProblem] = {}
        self._lines: dict[Path, list[str] | ScriptProblem] = {}
        self._cut: dict[Path, frozenset[int]] = {}

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
            raise ScriptProblem(
                "line_past_end", f"line {line} is past the end of {self.relative(path)} ({len(lines)} lines)"
            )
        return lines[line - 1], lines

    def was_cut(self, path: Path, line: int) -> bool:
        """Whether 1-based `line` of a script read by `line()` was cut to `limits.max_line_chars`."""
        return line in self._cut.get(path, ())

    def _resolve(self, raw: str) -> Path:
        given = Path(raw)
        if ".." in given.parts:
            raise ScriptProblem("outside_scripts", f"path {raw!r} climbs out of --scripts with '..'; refused")
        if given.is_absolute():
            candidates = iter([given] if os.path.lexists(given) else [])
        else:
            parts = given.parts
            candidates = (c for c in (self._walk(parts, i) for i in range(len(parts))) if c is not None)
        for candidate in candidates:
            real = Path(os.path.realpath(candidate))
            if not self._inside(real):
                raise ScriptProblem(
                    "outside_scripts", f"path {raw!r} resolves outside --scripts {self.given}; refused"
                )
            try:
                mode = os.stat(real).st_mode
            except OSError:
                raise ScriptProblem(
                    "not_found", f"script {raw!r} not found under --scripts {self.given}"
                ) from None
            if not stat.S_ISREG(mode):
                raise ScriptProblem(
                    "not_found", f"script {raw!r} is not a regular file under --scripts {self.given}"
                )
            return real
        if given.is_absolute() and not self._inside(Path(os.path.realpath(given))):
            raise ScriptProblem("outside_scripts", f"path {raw!r} is outside --scripts {self.given}; refused")
        raise ScriptProblem("not_found", f"script {raw!r} not found under --scripts {self.given}")

    def _walk(self, parts: tuple[str, ...], start: int) -> Path | None:
        """root/parts[start:] when every step exists (checked one part at a time, stopping at the first miss)."""
        current = str(self.root)
        for i in range(start, len(parts)):
            current = os.path.join(current, parts[i])
            if not os.path.lexists(current):
                return None
        return Path(current)

    def _inside(self, real: Path) -> bool:
        return real == self.root or self.root in real.parents

    def _read(self, path: Path) -> list[str] | ScriptProblem:
        try:
            data = read_regular_bytes(path, max_bytes=self.limits.max_file_bytes, what="script")
        except IacsieveError as exc:
            return ScriptProblem("unreadable", str(exc))
        lines = data.decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        width = self.limits.max_line_chars
        cut = frozenset(n for n, text in enumerate(lines, start=1) if len(text) > width)
        if cut:
            self._cut[path] = cut
            lines = [text[:width] for text in lines]
        return lines


def infer_tech(path: str) -> str | None:
    """The IaC technology a script's extension implies (.pp puppet, .rb chef, .yml/.yaml ansible)."""
    return TECH_BY_SUFFIX.get(Path(path).suffix.lower())
