"""What the fault tests (tests/test_faults.py) and `bench/faults.py` share: jobs as real processes, state snapshots.

A job runs as `python -m searchrel.cli <command> …`, a process of its own with its
own Spark JVM, so a SIGKILL (`searchrel.core.faults`, `SEARCHREL_FAULT_AT`) takes
the driver down mid-write as a crash would. The state it leaves is read without
Spark where it can be (Delta versions from `_delta_log`, model folders and
pointers from the file system) and with Spark for the rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from searchrel.core.class_archive import ensure_archive, java_options
from searchrel.core.session import SHORT_LIVED_JVM, TINY_DATA_CONF

REPO = Path(__file__).resolve().parents[1]
# Columns that differ between two correct runs of the same job: who ran it and when.
VOLATILE = frozenset({"run_id", "quarantined_at", "scored_at", "updated_at"})
# Floats are compared to this many decimals: a resumed labelling run scores a chunk in other
# batches than an uninterrupted one, and batch composition moves the last float bits.
DECIMALS = 5
# Rows of this many distinct table contents are kept (table_rows): a scenario's tables, with
# room to spare; a bench run copies many warehouses, so the memory stays bounded.
ROWS_KEPT = 256
_ROWS: dict[str, tuple[str, ...]] = {}
_ROWS_LOCK = threading.Lock()
MODEL_KINDS = {"teacher": "teacher.json", "student": "student.safetensors"}
KILLED = -9


@dataclass(frozen=True)
class JobRun:
    """One finished (or killed) job process."""

    command: str
    returncode: int
    seconds: float
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == KILLED

    def last_line(self) -> str:
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else ""


def job_env(fault_at: str | None = None, action: str | None = None, fault_log: str | Path | None = None,
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This interpreter's environment for a job process: no SEARCHREL_* of the caller, the repo first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCHREL_") or k == "SEARCHREL_CACHE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYARROW_IGNORE_TIMEZONE"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    if fault_at:
        env["SEARCHREL_FAULT_AT"] = fault_at
    if action:
        env["SEARCHREL_FAULT_ACTION"] = action
    if fault_log:
        env["SEARCHREL_FAULT_LOG"] = str(fault_log)
    env.update(extra or {})
    return env


def job_argv(command: str, args: Iterable[str], warehouse: str | Path, config: str | Path) -> list[str]:
    return [sys.executable, "-m", "searchrel.cli", command, *args, "--warehouse", str(warehouse),
            "--config", str(config)]


def write_config(path: str | Path, extra: str = "") -> Path:
    """A job config for fault runs: two cores, two shuffle partitions, the tiny world's session settings
    (searchrel.core.session.TINY_DATA_CONF); `extra` YAML appended.

    Each job's JVM lives for one job: the C1 compiler alone (searchrel.core.session.SHORT_LIVED_JVM)
    and the class archive (searchrel.core.class_archive, built first on a machine that has none).
    """
    target = Path(path)
    conf = {"spark.driver.extraJavaOptions": f"{SHORT_LIVED_JVM} {java_options(ensure_archive())}".strip(),
            **TINY_DATA_CONF}
    target.write_text(
        "spark:\n  master: local[2]\n  shuffle_partitions: 2\n  driver_memory: 2g\n  app_name: searchrel-faults\n"
        "  conf:\n" + "".join(f"    {key}: \"{value}\"\n" for key, value in conf.items()) + extra, encoding="utf-8")
    return target


def start_job(command: str, args: Iterable[str], warehouse: str | Path, config: str | Path,
              **env: Any) -> tuple[subprocess.Popen, float]:
    """Start a job process (stderr to a pipe, read by `finish`)."""
    proc = subprocess.Popen(job_argv(command, args, warehouse, config), cwd=str(REPO), env=job_env(**env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, time.perf_counter()


def finish(command: str, started: tuple[subprocess.Popen, float], timeout: float = 900) -> JobRun:
    proc, t0 = started
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise
    return JobRun(command, proc.returncode, time.perf_counter() - t0, err or "")


def run_job(command: str, args: Iterable[str], warehouse: str | Path, config: str | Path, timeout: float = 900,
            **env: Any) -> JobRun:
    """Run a job process to its end (or its kill)."""
    return finish(command, start_job(command, args, warehouse, config, **env), timeout)


# Points reached in a Spark task, not in the driver: in local mode the Python workers inherit
# SEARCHREL_FAULT_LOG and log them too, but a kill there takes a worker, not the job (Spark's task
# retry is its recovery; tests/test_cluster.py kills a whole Spark worker there instead).
EXECUTOR_POINTS = frozenset({"label.batch.scored"})


def fault_points(log_path: str | Path) -> list[tuple[str, int, str]]:
    """The driver's checkpoints a run passed (name, n-th, detail), read from its SEARCHREL_FAULT_LOG file."""
    path = Path(log_path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name, nth, detail = (line.split("\t") + ["", ""])[:3]
        if name not in EXECUTOR_POINTS:
            out.append((name, int(nth), detail))
    return out


# -- state ------------------------------------------------------------------------------


def delta_tables(warehouse: str | Path) -> list[str]:
    """`layer/name` of every Delta table under the warehouse."""
    root = Path(warehouse)
    return sorted(f"{p.parent.parent.name}/{p.parent.name}" for p in root.glob("*/*/_delta_log"))


def delta_version(warehouse: str | Path, table: str) -> int | None:
    """The table's last committed version, from its log; checks every commit file is whole JSON."""
    log = Path(warehouse) / table / "_delta_log"
    commits = sorted(log.glob("[0-9]*.json"))
    if not commits:
        return None
    for commit in commits:  # a commit file is written by rename: never half a file
        for line in commit.read_text(encoding="utf-8").splitlines():
            json.loads(line)
    return int(commits[-1].name.split(".")[0])


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, DECIMALS)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value if isinstance(value, (int, str, bool, type(None))) else str(value)


def table_rows(spark, warehouse: str | Path, table: str) -> list[str]:
    """The table's rows as sorted JSON lines, volatile columns left out: equal lists, equal tables.

    Read with Spark once per distinct content: a table whose folder holds the same files with
    the same bytes as one read before (an untouched table in a copy of a warehouse, or the same
    table read again with nothing committed since) has the same rows. A scenario reads each of
    ~20 tables in two to four warehouses several times, and most of them no job touched; the
    Spark reads were most of the test session's own CPU time.
    """
    folder = Path(warehouse) / table
    return list(_rows_of_content(spark, folder, _content_digest(folder)))


def _content_digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and bytes (hidden checksum files included)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _rows_of_content(spark, folder: Path, digest: str) -> tuple[str, ...]:
    """The rows read for this content before, else read now; the last ROWS_KEPT contents are kept."""
    with _ROWS_LOCK:  # bench/faults.py --parallel checks repeats from several threads
        rows = _ROWS.pop(digest, None)
    if rows is None:
        df = spark.read.format("delta").load(str(folder))
        keep = [c for c in df.columns if c not in VOLATILE]
        rows = tuple(sorted(json.dumps(_normal(r.asDict(recursive=True)), sort_keys=True)
                            for r in df.select(*keep).collect()))
    with _ROWS_LOCK:
        _ROWS[digest] = rows  # most recently used last
        while len(_ROWS) > ROWS_KEPT:
            del _ROWS[next(iter(_ROWS))]
    return rows


def duplicated_keys(rows: list[str], keys: Iterable[str]) -> int:
    """Rows whose key is already held by another row."""
    seen: set[tuple] = set()
    dups = 0
    for line in rows:
        row = json.loads(line)
        key = tuple(json.dumps(row.get(k), sort_keys=True) for k in keys)
        dups += key in seen
        seen.add(key)
    return dups


def models_state(models: str | Path) -> dict[str, Any]:
    """Per kind: the listed versions (as the registry lists them), the pointer's version, hidden leftovers."""
    from modeling import registry

    out: dict[str, Any] = {}
    for kind, marker in MODEL_KINDS.items():
        root = Path(models) / kind
        out[kind] = {
            "versions": registry.versions(root, marker),
            "current": registry.current_version(root) if root.exists() else None,
            "hidden": sorted(p.name for p in root.glob(".*")) if root.exists() else [],
        }
    return out


def check_models(models: str | Path) -> list[str]:
    """What is wrong with a models folder after a fault: a pointer to a version that does not
    resolve or load, a listed version missing its files. Empty when all is whole."""
    from modeling import registry

    problems = []
    for kind, marker in MODEL_KINDS.items():
        root = Path(models) / kind
        if not root.exists():
            continue
        pointer = root / registry.POINTER_FILE
        if pointer.exists():
            try:
                json.loads(pointer.read_text(encoding="utf-8"))
                target = registry.resolve(root, "current", marker, kind)
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                problems.append(f"{kind}: current does not resolve: {exc}")
                continue
            problems += [f"{kind}: current {target.name}: {p}" for p in _version_problems(kind, target)]
        for version in registry.versions(root, marker):
            problems += [f"{kind}: {version}: {p}" for p in _version_problems(kind, root / version)]
    return problems


def _version_problems(kind: str, folder: Path) -> list[str]:
    """A version folder is whole when its model loads (teacher) or its files all parse (student)."""
    try:
        if kind == "teacher":
            from modeling.teacher_store import load_teacher

            load_teacher(folder)
        else:
            from modeling.student import load_student

            load_student(folder)
            for name in ("student.onnx",):
                if not (folder / name).exists():
                    return [f"no {name}"]
    except Exception as exc:  # noqa: BLE001
        return [f"does not load: {type(exc).__name__}: {exc}"]
    return []


# Loading a model to check it goes through transformers' lazy imports, which are not thread-safe:
# two repeats checking at once once failed with "cannot import name 'AutoTokenizer'" (--parallel).
_MODEL_CHECKS = threading.Lock()


def check_models_locked(models: Path) -> list[str]:
    with _MODEL_CHECKS:
        return check_models(models)


def forget_tables(spark) -> None:
    """Drop the Delta logs this session cached: each copy's ~25 tables are read three times and then
    deleted, and the cached logs of a few dozen repeats filled the bench's driver memory
    (SparkOutOfMemoryError after ~45 runs). Costs the next read one log listing."""
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    spark.catalog.clearCache()


def snapshot(spark, warehouse: Path) -> dict[str, Any]:
    """Every Delta table's version and normalised rows, and the models' state: what a run is compared by."""
    return {"tables": {t: (delta_version(warehouse, t), table_rows(spark, warehouse, t))
                       for t in delta_tables(warehouse)},
            "models": models_state(warehouse / "models")}
