"""Confined reading of the scanned scripts: a detections file is untrusted, so no path leads outside `--scripts`.

Scripts are decoded as UTF-8, or by their BOM (UTF-8/16/32); a binary or otherwise undecodable script is a
`ScriptProblem` the filter reports and keeps unscored (never scored on replacement characters, never
dropped). Read scripts are cached within a byte budget, least recently used first out.
"""

from __future__ import annotations

import bisect
import codecs
import os
import posixpath
import stat
from collections import OrderedDict
from pathlib import Path, PurePosixPath

from iacsieve.core.errors import IacsieveError
from iacsieve.core.smells import TECH_BY_SUFFIX
from iacsieve.io.limits import DEFAULT, Limits
from iacsieve.io.reading import read_regular_bytes

# BOMs, longest first (UTF-32 LE starts with UTF-16 LE's BOM).
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Problems that say nothing about whether the warning is real: the row is kept, unscored, whatever
# --on-missing says (dropping it would hide a warning the model never saw).
UNREADABLE_REASONS: frozenset[str] = frozenset({"binary", "undecodable"})
SCRIPT_CACHE_BYTES = 64 << 20  # scripts kept in memory between rows (a 2M-row run re-reads the rest)
RESOLVED_CACHE_ENTRIES = 1 << 16  # detector paths remembered with where they resolved


class ScriptProblem(Exception):
    """A warning whose script cannot be used: not found, outside --scripts, too short, or not text."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason, self.message = reason, message
        super().__init__(message)

    @property
    def unreadable(self) -> bool:
        """The script is there but is binary or undecodable: keep the warning, unscored."""
        return self.reason in UNREADABLE_REASONS


class _Script:
    """A read script: its lines, which were cut, and (on demand) where each distinct line occurs."""

    __slots__ = ("cost", "cut", "lines", "occurrences")

    def __init__(self, lines: list[str], cut: frozenset[int]) -> None:
        self.lines, self.cut = lines, cut
        self.occurrences: dict[str, list[int]] | None = None
        self.cost = sum(len(text) + 64 for text in lines) + 256  # rough bytes held (str headers)


class ScriptFolder:
    """Resolves detector paths inside one folder and reads scripts, cached within `cache_bytes`.

    A detections file is untrusted: a path whose real location (symlinks followed) is outside the
    folder is refused before anything is opened. Paths may be absolute (inside the folder), relative
    to it (`./x.pp` too), or carry a leading prefix the folder lacks (GLITCH writes `scripts/x.pp` when
    run on `scripts`): relative paths are tried with leading parts dropped, down to the bare file name.
    An absolute path that does not exist here (GLITCH run in a container or on another machine) is
    tried the same way; `strip_prefix` (`--path-prefix-strip`) removes a known foreign root first.
    Each try walks the real tree one part at a time and stops at the first part that does not exist,
    so a long hostile path costs time linear in its length (times the folder's depth), not quadratic.

    Only regular files of at most `limits.max_file_bytes` are read; lines longer than
    `limits.max_line_chars` are cut (a model reads a few hundred tokens anyway) and remembered.
    """

    def __init__(
        self,
        root: str | Path,
        limits: Limits = DEFAULT,
        *,
        strip_prefix: str | None = None,
        cache_bytes: int = SCRIPT_CACHE_BYTES,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise IacsieveError(f"{root}: scripts folder not found")
        self.given = root
        self.root = Path(os.path.realpath(root))
        self.limits = limits
        self.strip_prefix = strip_prefix.rstrip("/") if strip_prefix else None
        self.cache_bytes = cache_bytes
        self._resolved: OrderedDict[str, Path | ScriptProblem] = OrderedDict()
        self._scripts: OrderedDict[Path, _Script | ScriptProblem] = OrderedDict()
        self._cached_bytes = 0

    def resolve(self, raw: str) -> Path:
        """The real path of the script `raw` names, inside the folder; raises ScriptProblem."""
        found = self._resolved.get(raw)
        if found is None:
            try:
                found = self._resolve(self.strip(raw))
            except ScriptProblem as problem:
                found = problem
            self._resolved[raw] = found
            if len(self._resolved) > RESOLVED_CACHE_ENTRIES:
                self._resolved.popitem(last=False)
        if isinstance(found, ScriptProblem):
            raise found
        return found

    @property
    def cached_bytes(self) -> int:
        """Roughly how many bytes the cached scripts hold (at most `cache_bytes`, or one script)."""
        return self._cached_bytes

    @property
    def cached_scripts(self) -> int:
        """How many scripts are cached."""
        return len(self._scripts)

    def strip(self, raw: str) -> str:
        """`raw` without `--path-prefix-strip` (GLITCH run where the repository sat elsewhere)."""
        prefix = self.strip_prefix
        if prefix is not None and (raw == prefix or raw.startswith(prefix + "/")):
            return raw[len(prefix) :].lstrip("/") or "."
        return raw

    def mapped(self, raw: str) -> PurePosixPath:
        """Where a script that could not be resolved would sit under the folder (relative, POSIX), so that a
        warning about a deleted or foreign script still points at a file in the repository:
        cwd-relative paths inside the folder, paths starting with the folder's own name (GLITCH run on
        its parent), absolute paths under it or under a foreign root holding a folder of its name."""
        text = self.strip(raw)
        given = PurePosixPath(posixpath.normpath(text.replace(os.sep, "/")))
        names = [p for p in given.parts if p not in ("/", "..", ".")]
        for base in (Path(os.path.abspath(self.given)), self.root):
            full = Path(os.path.abspath(text))
            if full == base or base in full.parents:
                return PurePosixPath(full.relative_to(base).as_posix())
        own = self.given.resolve().name
        if own in names:  # .../<folder name>/x.pp: what follows the last occurrence
            last = len(names) - 1 - names[::-1].index(own)
            if names[last + 1 :]:
                return PurePosixPath(*names[last + 1 :])
        if given.is_absolute():  # a foreign root with nothing in common: the file name alone
            return PurePosixPath(names[-1]) if names else PurePosixPath("unknown")
        return PurePosixPath(*names) if names else PurePosixPath("unknown")

    def relative(self, path: Path) -> str:
        """A resolved script's path relative to the folder (POSIX), for SARIF URIs."""
        return path.relative_to(self.root).as_posix()

    def line(self, path: Path, line: int) -> tuple[str, list[str]]:
        """The text of 1-based `line` and all the script's lines; raises ScriptProblem past the end.
        A whole-file warning (line -1) gives an empty text: the file only has to be readable."""
        script = self._script(path)
        lines = script.lines
        if line < 1:
            return "", lines
        if line > len(lines):
            raise ScriptProblem(
                "line_past_end", f"line {line} is past the end of {self.relative(path)} ({len(lines)} lines)"
            )
        return lines[line - 1], lines

    def was_cut(self, path: Path, line: int) -> bool:
        """Whether 1-based `line` of a script read by `line()` was cut to `limits.max_line_chars`."""
        return line in self._script(path).cut

    def occurrence(self, path: Path, line: int, key: str) -> int:
        """How many earlier lines of the script normalise to `key` (a fingerprint that survives lines
        moving up or down tells two identical lines apart by their order, not their numbers)."""
        script = self._script(path)
        if script.occurrences is None:
            script.occurrences = {}
            for n, text in enumerate(script.lines, start=1):
                script.occurrences.setdefault(normalise_line(text), []).append(n)
        return bisect.bisect_left(script.occurrences.get(key, []), line)

    def _script(self, path: Path) -> _Script:
        found = self._scripts.get(path)
        if found is None:
            found = self._read(path)
            self._scripts[path] = found
            self._cached_bytes += found.cost if isinstance(found, _Script) else 256
            while self._cached_bytes > self.cache_bytes and len(self._scripts) > 1:
                _, old = self._scripts.popitem(last=False)
                self._cached_bytes -= old.cost if isinstance(old, _Script) else 256
        else:
            self._scripts.move_to_end(path)
        if isinstance(found, ScriptProblem):
            raise found
        return found

    def _resolve(self, raw: str) -> Path:
        given = Path(raw)
        if ".." in given.parts:
            raise ScriptProblem("outside_scripts", f"path {raw!r} climbs out of --scripts with '..'; refused")
        if given.is_absolute() and os.path.lexists(given):
            candidates = iter([given])
        elif given.is_absolute():  # GLITCH run elsewhere (a container): try the path's tails under the folder
            parts = given.parts[1:]
            candidates = (c for c in (self._walk(parts, i) for i in range(len(parts))) if c is not None)
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

    def _read(self, path: Path) -> _Script | ScriptProblem:
        try:
            data = read_regular_bytes(path, max_bytes=self.limits.max_file_bytes, what="script")
        except IacsieveError as exc:
            return ScriptProblem("unreadable", str(exc))
        try:
            text = decode_script(data)
        except ScriptProblem as problem:
            return ScriptProblem(problem.reason, f"{self.relative(path)}: {problem.message}")
        lines = text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        width = self.limits.max_line_chars
        cut = frozenset(n for n, line in enumerate(lines, start=1) if len(line) > width)
        if cut:
            lines = [line[:width] for line in lines]
        return _Script(lines, cut)


def decode_script(data: bytes) -> str:
    """A script's text: by its BOM (UTF-8/16/32), else UTF-8; ScriptProblem for binary or other bytes."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise ScriptProblem(
                    "undecodable",
                    f"not valid {encoding} after its BOM (byte {exc.start + len(bom)}); kept unscored",
                ) from None
    if b"\x00" in data:
        raise ScriptProblem("binary", "a binary file (NUL bytes), not a script; kept unscored")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScriptProblem(
            "undecodable", f"not UTF-8 text (byte {exc.start}) and no BOM names its encoding; kept unscored"
        ) from None


def normalise_line(text: str) -> str:
    """A script line as fingerprints see it: whitespace runs collapsed, ends stripped."""
    return " ".join(text.split())


def infer_tech(path: str) -> str | None:
    """The IaC technology a script's extension implies (.pp puppet, .rb chef, .yml/.yaml ansible)."""
    return TECH_BY_SUFFIX.get(Path(path).suffix.lower())
