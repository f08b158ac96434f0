"""Quiet kfp.local: one line per finished task instead of its executor JSON and logs (600+ lines a stage).

kfp.local writes everything to `sys.stdout` (its logger's handler, and each task subprocess's
streamed output through `print`), one thread per running task. `TaskLines` stands in for stdout
during a run, keeps each thread's lines apart and, when kfp.local reports a task finished, writes
one line: status, task, seconds and the task's first log line of its own (what it trained or
scored); for a failed task, the exception it ended with. With `verbose`, kfp.local's output passes
through untouched.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import logging
import re
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTED = re.compile(r"Executing task '([^']+)'")
FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
EXECUTOR_LINE = re.compile(r"^\s*\[KFP Executor [^\]]*\]: (.*)$")
# kfp's own executor chatter, not the component's log
BOILERPLATE = (
    "Looking for component",
    "Loading KFP component",
    "Got executor_input",
    "Wrote executor output",
)
DETAIL_WIDTH = 100
FAILED_LOG_LINES = 40
UNEXPLAINED_LINES = 10
# kfp.local warns per task that our image is not a Python base image: true, and irrelevant here.
BASE_IMAGE_WARNING = r"You may be attemping to run a task that uses custom or non-Python base image"


def plain(text: str) -> str:
    """`text` without kfp.local's terminal colours."""
    return ANSI.sub("", text)


@dataclass
class _Task:
    name: str
    started: float = field(default_factory=time.monotonic)
    log: list[str] = field(default_factory=list)  # the component's own log lines (no executor chatter)
    tail: deque[str] = field(
        default_factory=lambda: deque(maxlen=FAILED_LOG_LINES)
    )  # every line, for a failure


class TaskLines(io.TextIOBase):
    """A stdout for kfp.local's run: one line per finished task on `out`; `failed` lists (task, reason)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.partial: dict[int, str] = {}
        self.running: dict[int, _Task] = {}
        self.failed: list[tuple[str, str | None]] = []  # (task, the exception it ended with)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        thread = threading.get_ident()
        with self.lock:
            *lines, rest = (self.partial.pop(thread, "") + text).split("\n")
            if rest:
                self.partial[thread] = rest
            for line in lines:
                self._line(thread, plain(line))
        return len(text)

    def _line(self, thread: int, line: str) -> None:
        if match := STARTED.search(line):
            self.running[thread] = _Task(match.group(1))
            return
        task = self.running.get(thread)
        if match := FINISHED.search(line):
            task = self.running.pop(thread, None) or _Task(match.group(1))
            self._report(task, match.group(2))
            return
        if task is None or not line.strip():
            return
        task.tail.append(line.strip())
        executor = EXECUTOR_LINE.match(line)
        if executor and not executor.group(1).startswith(BOILERPLATE):
            task.log.append(executor.group(1))

    def _report(self, task: _Task, status: str) -> None:
        ok = status == "SUCCESS"
        detail = task.log[0].split(" -> ")[0] if task.log else ""
        if len(detail) > DETAIL_WIDTH:
            detail = detail[: DETAIL_WIDTH - 1] + "…"
        reason = None if ok else exception_line(list(task.tail))
        if not ok:
            detail = reason or "no exception reported; its last lines:"
            self.failed.append((task.name, reason))
        self.out.write(
            f"{'ok' if ok else 'FAILED':<6} {task.name:<16} {time.monotonic() - task.started:6.1f}s"
            f"  {detail}".rstrip()
            + "\n"
        )
        if not ok and reason is None:  # e.g. killed: show what it said last
            for line in list(task.tail)[-UNEXPLAINED_LINES:]:
                self.out.write(f"       | {line}\n")
        self.out.flush()


def exception_line(tail: list[str]) -> str | None:
    """The exception a task's traceback ends with (`DataError: file:3: ...`), or None without a traceback."""
    if not any(line.startswith("Traceback") for line in tail):
        return None
    name, sep, message = tail[-1].partition(": ")
    return f"{name.rsplit('.', 1)[-1]}{sep}{message}" if re.fullmatch(r"[\w.]+", name) else tail[-1]


@contextlib.contextmanager
def task_lines(verbose: bool = False, out: TextIO | None = None) -> Iterator[TaskLines | None]:
    """Run kfp.local inside this: quiet (one line per task on `out`, default stdout) unless `verbose`.

    Either way `print` is restored afterwards: kfp.local swaps `builtins.print` per task from
    several threads and can leave an indenting `print` behind.
    """
    saved_print = builtins.print
    try:
        if verbose:
            yield None
            return
        lines = TaskLines(out or sys.stdout)
        # kfp.local swaps the root logger's handlers and level per task, from several threads, and
        # restores what it found: racing threads can log a task's end through whatever handler was
        # there. So for the run, what is there writes into `lines` too, at INFO.
        root = logging.getLogger()
        saved = root.handlers[:], root.level
        handler = logging.StreamHandler(lines)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(lines):
                warnings.filterwarnings("ignore", message=BASE_IMAGE_WARNING, category=RuntimeWarning)
                yield lines
        finally:
            root.handlers[:], level = saved
            root.setLevel(level)
    finally:
        builtins.print = saved_print
