"""Run GLITCH (the pinned detector) over a folder, and read what it says on stderr about files it skipped.

GLITCH 1.x (sr-lab/GLITCH at 19c5020) is run as docs/filter.md shows:
`glitch --tech T --csv --folder-strategy include-all . OUT`, from inside the folder, so its paths read
`./x.pp` (what `--scripts` resolves). It exits 0 when files fail to parse: each is one line on stderr,
from its `exceptions.py` (`Puppet - Could not parse file: ./x.pp`, `Ansible - File is not a playbook:
...`, some releases prefix `Error: `), or a Python traceback; Chef without Ruby on PATH fails every file.
Each becomes a `NotAnalysed` entry. Its stdout (progress bars, a stats table) is discarded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from iacsieve.core.errors import IacsieveError
from iacsieve.core.smells import TECH_BY_SUFFIX
from iacsieve.filtering.analysed import UNNAMED, NotAnalysed
from iacsieve.io.safe_text import terminal_safe

EXECUTABLE = "glitch"  # found on PATH unless --glitch names it
FOLDER_STRATEGY = ("--folder-strategy", "include-all")  # without it GLITCH skips files (docs/filter.md)
EXCLUDED_BY_DEFAULT: tuple[str, ...] = (".github",)  # CI workflows are not the user's Ansible
MAX_STDERR_BYTES = 64 << 20  # what is kept of GLITCH's stderr (the rest is counted, not read)
# exceptions.py's messages that mean "this file was not analysed", by the reason they become.
_SKIPPED = {
    "Could not parse file": "could_not_parse",
    "File is not a playbook": "not_a_playbook",
    "File is not a tasks file": "not_a_tasks_file",
    "File is not a variables file": "not_a_variables_file",
    "Cannot detect file type": "unknown_file_type",
}
_MESSAGE = re.compile(
    r"^(?:Error: )?(?P<tech>[A-Za-z]+) - (?P<what>" + "|".join(map(re.escape, _SKIPPED)) + r"): (?P<file>.+)$"
)
_TRACEBACK = "Traceback (most recent call last):"
_QUOTED_OR_WORD = re.compile(r"'([^']+)'|\"([^\"]+)\"|(\S+)")


@dataclass(frozen=True)
class GlitchRun:
    """What one GLITCH run left: its command, exit status and stderr."""

    command: tuple[str, ...]
    returncode: int
    stderr: str


def command(executable: str, tech: str, out_csv: Path) -> list[str]:
    """GLITCH's command line for the folder it runs in."""
    return [executable, "--tech", tech, "--csv", *FOLDER_STRATEGY, ".", str(out_csv)]


def find_executable(given: str | None) -> str:
    """GLITCH's executable: `--glitch PATH`, else `glitch` on PATH; one line when there is none. The
    path is made absolute: GLITCH runs inside the scanned folder, where a relative one means nothing."""
    found = shutil.which(given or EXECUTABLE)
    if found is None:
        where = f"--glitch {given}: not an executable" if given else f"no `{EXECUTABLE}` on PATH"
        raise IacsieveError(
            f"{where}; install GLITCH at 19c5020 (docs/filter.md, section 3) or pass --glitch PATH"
        )
    return os.path.abspath(found)


def run_glitch(executable: str, tech: str, scripts: Path, out_csv: Path) -> GlitchRun:
    """Run GLITCH inside `scripts`, writing `out_csv`; IacsieveError when it fails as a whole."""
    argv = command(executable, tech, out_csv.resolve())
    try:
        done = subprocess.run(
            argv, cwd=scripts, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise IacsieveError(f"{executable}: cannot run GLITCH: {exc.strerror or exc}") from None
    stderr = done.stderr[:MAX_STDERR_BYTES].decode("utf-8", errors="replace")
    if done.returncode != 0:
        last = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "no message")
        raise IacsieveError(f"GLITCH exited {done.returncode} on {scripts}: {terminal_safe(last.strip())}")
    if not out_csv.is_file():
        raise IacsieveError(f"GLITCH exited 0 but wrote no {out_csv.name}; is {executable} GLITCH 1.x?")
    return GlitchRun(tuple(argv), done.returncode, stderr)


def not_analysed(run: GlitchRun, tech: str, scripts: Path, ruby: bool | None = None) -> list[NotAnalysed]:
    """Every file GLITCH said it skipped, each once, in the order said: its messages, its tracebacks
    (named by the script path they mention, when one exists under `scripts`), and for Chef without Ruby
    on PATH (`ruby`: whether there is one; default: looked up) every Chef file."""
    ruby = shutil.which("ruby") is not None if ruby is None else ruby
    found: dict[tuple[str, str], NotAnalysed] = {}
    if tech == "chef" and not ruby:
        for path in tech_files(scripts, tech):
            found[(path, "")] = NotAnalysed(
                path, "no_ruby", f"Chef needs Ruby on PATH; {path} was not parsed"
            )
    messages, tracebacks = _read_stderr(run.stderr)
    for what, file, line in messages:
        found.setdefault((file, ""), NotAnalysed(file, _SKIPPED[what], line))
    if not (tech == "chef" and not ruby):  # without Ruby every traceback is a Chef file already listed
        for n, block in enumerate(tracebacks, start=1):
            file = _named_script(block, scripts) or UNNAMED
            last = block[-1].strip() if block else "a traceback"
            key = (file, "") if file != UNNAMED else ("", f"traceback {n}")
            found.setdefault(key, NotAnalysed(file, "traceback", terminal_safe(last)[:500]))
    return list(found.values())


def tech_files(scripts: Path, tech: str) -> Iterator[str]:
    """`./`-relative paths of the files under `scripts` GLITCH reads for `tech` (by extension, no links)."""
    suffixes = {s for s, t in TECH_BY_SUFFIX.items() if t == tech}
    for root, dirs, files in os.walk(scripts):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix.lower() in suffixes and not path.is_symlink():
                yield "./" + path.relative_to(scripts).as_posix()


def excluded(path: str, folders: Iterable[str]) -> bool:
    """Whether a detector's path (`./a/b.yml`, or its row's first field) lies under one of `folders`."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    for folder in folders:
        want = [p for p in folder.split("/") if p not in ("", ".")]
        if want and parts[: len(want)] == want:
            return True
    return False


def _read_stderr(text: str) -> tuple[list[tuple[str, str, str]], list[list[str]]]:
    """(what, file, line) of each skip message, and each traceback's lines."""
    messages: list[tuple[str, str, str]] = []
    tracebacks: list[list[str]] = []
    block: list[str] | None = None
    for line in text.splitlines():
        if block is not None:
            block.append(line)
            if line and not line[0].isspace():  # the exception's own line ends the traceback
                tracebacks.append(block)
                block = None
            continue
        if line.strip() == _TRACEBACK:
            block = [line]
            continue
        match = _MESSAGE.match(line.strip())
        if match:
            messages.append((match["what"], match["file"].strip(), terminal_safe(line.strip())))
    if block is not None:
        tracebacks.append(block)
    return messages, tracebacks


def _named_script(block: list[str], scripts: Path) -> str | None:
    """The first script under `scripts` a traceback mentions (a quoted path or a bare word), as `./x`."""
    root = scripts.resolve()
    for line in block:
        for match in _QUOTED_OR_WORD.finditer(line):
            word = next(g for g in match.groups() if g is not None).rstrip(",:;)")
            if Path(word).suffix.lower() not in TECH_BY_SUFFIX or "\x00" in word:
                continue
            candidate = (scripts / word).resolve() if not Path(word).is_absolute() else Path(word).resolve()
            if candidate.is_file() and (candidate == root or root in candidate.parents):
                return "./" + candidate.relative_to(root).as_posix()
    return None
