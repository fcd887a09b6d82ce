"""The one way a small file (a report, a summary, a model pointer) is written.

Readers of these files run concurrently with their writers (the report is
read while a DAG writes it; labelling reads the teacher pointer while a new
teacher is promoted), so a file is written beside its target under a name
unique to the writing process and renamed over it: a reader sees the old file
or the new one, never half of one, and a killed writer leaves only a hidden
temporary behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

from searchrel.core.faults import checkpoint


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` (parents created) by rename; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        checkpoint("file.rename.before", str(target))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_json_atomic(path: str | os.PathLike[str], obj: Any, **dumps: Any) -> Path:
    """`obj` as indented JSON (non-JSON values through str, e.g. dates) written by rename."""
    dumps.setdefault("indent", 2)
    dumps.setdefault("default", str)
    return write_text_atomic(path, json.dumps(obj, **dumps) + "\n")


def add_record(folder: str, record: dict[str, Any], spark: Any = None) -> str:
    """Add one record (a run's summary) to a log folder, as a file of its own; returns its path.

    A log kept as one JSON list is a read-modify-write, and of two runs at once the
    later rename drops the other's record. One new file per record needs no lock and
    no rename, on a local disk or an object store. The name starts with the UTC time,
    so name order is time order. A folder given as a URI (`s3a://…`) is written through
    `spark`'s Hadoop file system, which has the store's endpoint and credentials; a
    local path directly.
    """
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{stamp}-{uuid.uuid4().hex[:8]}.json"
    data = json.dumps(record, indent=2, default=str).encode("utf-8")
    if "://" in folder and (spark is not None or not folder.startswith("file://")):
        if spark is None:
            raise ValueError(f"a record under {folder} needs the job's SparkSession (its Hadoop file system)")
        fs, path = _hadoop_path(spark, f"{folder.rstrip('/')}/{name}")
        out = fs.create(path, False)
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        return str(path.toString())
    where = Path(folder.removeprefix("file://"))
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_bytes(data)
    return str(where / name)


def _hadoop_path(spark: Any, uri: str) -> tuple[Any, Any]:
    """(Hadoop FileSystem, Path) for `uri` through `spark`'s Hadoop configuration (the store's endpoint and keys)."""
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def delete_tree(spark: Any, uri: str) -> None:
    """Delete a folder and everything under it, on a local disk or an object store (nothing if it is absent)."""
    fs, path = _hadoop_path(spark, uri)
    fs.delete(path, True)


def read_records(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records `add_record` wrote to a local folder, oldest first; unreadable files are skipped."""
    base = Path(folder)
    records = []
    for path in sorted(base.glob("*.json")) if base.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a record being written by a run that is still going, or a stray file
        if isinstance(record, dict):
            records.append(record)
    return records
