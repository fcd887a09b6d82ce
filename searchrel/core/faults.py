"""Named fault points: where a test or `bench/faults.py` kills a job, or holds it, on purpose.

A claim like "a killed run leaves the previous state intact" is only worth what a
real kill at the worst moment shows. Sleeping and then killing a subprocess hits
a different moment on every machine; instead the code calls `checkpoint(name)` at
the moments that matter, and an environment variable picks one:

    SEARCHREL_FAULT_AT=<name>[:<n>]     act at the n-th time (default 1) this process reaches <name>
    SEARCHREL_FAULT_ACTION=kill         SIGKILL this process there (the default): no handler, no cleanup
    SEARCHREL_FAULT_ACTION=barrier:<dir>:<parties>
                                        wait there until <parties> processes have reached it
                                        (each leaves a file in <dir>), then go on together: two
                                        writers released at once race for the same Delta commit
    SEARCHREL_FAULT_ACTION=hold:<dir>   leave <dir>/<pid>.held and wait there until <dir>/go exists: a
                                        caller does something to this process's machine meanwhile
                                        (tests/test_cluster.py kills the Spark worker whose executor
                                        is scoring), then lets it go on
    SEARCHREL_FAULT_LOG=<file>          append every checkpoint reached (name, count, detail), so a
                                        caller can list a job's points and pick one at random

The names (kept stable; DESIGN.md lists them):

    table.commit.before   a Delta write of searchrel.core.tables (or the labelling MERGE) is about to start
    table.commit.after    that write has committed
    label.chunk.after     the labelling job committed one chunk (after its table.commit.after)
    label.batch.scored    an executor's labelling UDF scored one Arrow batch, not yet handed back
                          (set SEARCHREL_FAULT_* through spark.executorEnv.* to reach executors)
    model.save.staged     a model version's files are all written in their hidden staging folder,
                          not yet renamed to models/<kind>/<version>
    file.rename.before    an atomic small file (a `current` pointer, a report) is written beside its
                          target, not yet renamed over it

Unset, a checkpoint costs two environment lookups.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

FAULT_AT = "SEARCHREL_FAULT_AT"
FAULT_ACTION = "SEARCHREL_FAULT_ACTION"
FAULT_LOG = "SEARCHREL_FAULT_LOG"
BARRIER_TIMEOUT_S = 600.0

NAMES = ("table.commit.before", "table.commit.after", "label.chunk.after", "label.batch.scored",
         "model.save.staged", "file.rename.before")

_counts: dict[str, int] = {}
_lock = threading.Lock()  # the aggregate job commits from several threads


def checkpoint(name: str, detail: str = "") -> None:
    """Mark that this process reached fault point `name` (`detail`: e.g. the table); act if told to."""
    at = os.environ.get(FAULT_AT)
    log_path = os.environ.get(FAULT_LOG)
    if at is None and log_path is None:
        return
    with _lock:
        count = _counts[name] = _counts.get(name, 0) + 1
        if log_path:
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(f"{name}\t{count}\t{detail}\n")
    if at is None:
        return
    wanted, _, nth = at.partition(":")
    if wanted != name or count != int(nth or 1):
        return
    action = os.environ.get(FAULT_ACTION, "kill")
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("barrier:"):
        _barrier(action)
    elif action.startswith("hold:"):
        _hold(action)
    else:
        raise ValueError(f"{FAULT_ACTION}={action!r}: expected 'kill', 'barrier:<dir>:<parties>' or 'hold:<dir>'")


def _barrier(action: str) -> None:
    """Wait until `parties` processes have reached the same point (each leaves a file in `dir`)."""
    _, folder, parties = action.rsplit(":", 2)
    where = Path(folder)
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{os.getpid()}.reached").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while len(list(where.glob("*.reached"))) < int(parties):
        if time.monotonic() > deadline:
            raise TimeoutError(f"fault barrier {folder}: {parties} parties never met")
        time.sleep(0.05)


def _hold(action: str) -> None:
    """Leave `<dir>/<pid>.held`, then wait until `<dir>/go` exists (or the process is killed meanwhile)."""
    where = Path(action.split(":", 1)[1])
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{os.getpid()}.held").write_text(str(os.getpid()))
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while not (where / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"fault hold {where}: never told to go on")
        time.sleep(0.05)
