"""The demo's terminal: one progress display owns it; every stage's own output goes to a log file.

The stages run in this process and write to stdout and stderr in three ways:
Python's `print` and logging (through `sys.stdout`/`sys.stderr`), and the
processes they start, above all Spark's JVM and its log4j, which write to file
descriptors 1 and 2 directly. Redirecting only the Python streams leaves the
JVM's lines breaking into the progress lines; so while a stage runs both the
streams and the descriptors point at `<logs>/<stage>.log`, and the display
writes to its own duplicate of the original stdout. The JVM keeps the
descriptors it was started with, so the demo starts Spark under
`<logs>/spark.log` before the first stage.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import IO, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

LABEL_WIDTH = 58


def terminal_stream() -> IO[str]:
    """Where the display writes: a duplicate of stdout's descriptor, which redirecting fd 1 does not move.

    A stdout without a descriptor (pytest's capsys, a notebook) is used as it
    is: redirecting the descriptors does not touch it either.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return sys.stdout
    sys.stdout.flush()
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding=getattr(sys.stdout, "encoding", None) or "utf-8")


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[Path]:
    """Send everything written to stdout/stderr (Python's and the descriptors') to `path` (appended)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with open(path, "a", encoding="utf-8", buffering=1) as log:
        saved = os.dup(1), os.dup(2)
        streams = sys.stdout, sys.stderr
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
        try:
            yield path
        finally:
            log.flush()
            sys.stdout, sys.stderr = streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def tail(path: Path, lines: int = 12) -> list[str]:
    """The last non-blank lines of a log (what a failed stage said last)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


class StageDisplay:
    """A line per finished stage, and a live line for the running one (spinner, elapsed time, stages done)."""

    def __init__(self, total: int) -> None:
        self.console = Console(file=terminal_stream(), highlight=False)
        self.total = total
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, transient=True, redirect_stdout=False, redirect_stderr=False,
        )
        self._task = self.progress.add_task("", total=total)

    def __enter__(self) -> StageDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def label(self, index: int, title: str) -> str:
        return f"[{index:2d}/{self.total}] {title}"

    def running(self, index: int, title: str) -> None:
        self.progress.reset(self._task, total=self.total, completed=index - 1, description=self.label(index, title))

    def finished(self, index: int, title: str, outcome: str) -> None:
        self.progress.update(self._task, completed=index)
        self.progress.console.print(f"{self.label(index, title):<{LABEL_WIDTH}} {outcome}", soft_wrap=True)

    def failed(self, index: int, title: str, outcome: str, logs: list[Path]) -> None:
        """The failure line, the end of the stage's log and the logs' paths: what to open next."""
        self.finished(index, title, outcome)
        print_ = self.progress.console.print
        for line in tail(logs[0]):
            print_(f"    {line}", style="dim", markup=False, highlight=False, soft_wrap=True)
        for path in logs:
            print_(f"    log: {path}", markup=False, soft_wrap=True)
