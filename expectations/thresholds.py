"""Thresholds that depend on other data than the batch: the row-count bounds from the previous partition.

A suite cannot know how many rows a healthy day has; the last comparable day
(or the previous Delta version of an unpartitioned table) can. Computed with
Spark before the suite runs, and recorded in the summary so a reader sees
where each bound came from.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pyspark.sql import functions as F

from expectations.spec import TableSuite
from searchrel.core.config import Config
from searchrel.core.dates import ds_predicate
from searchrel.core.tables import Tables


def latest_partition(tables: Tables, table: str, col: str) -> str | None:
    row = tables.read(table).agg(F.max(F.col(col).cast("string")).alias("m")).first()
    return row["m"] if row else None


def previous_partition(
    tables: Tables, table: str, col: str, ds: str, lookback_days: int, comparable_rows: str | None = None
) -> tuple[str, int] | None:
    """(partition, rows) of the newest partition before `ds` within the lookback window.

    Bounded by the window so that Delta reads only those partitions' metadata,
    however long the table's history.
    """
    first = (dt.date.fromisoformat(ds) - dt.timedelta(days=lookback_days)).isoformat()
    last = (dt.date.fromisoformat(ds) - dt.timedelta(days=1)).isoformat()
    window = tables.read(table).where(ds_predicate(first, last, col))
    if comparable_rows:
        window = window.where(comparable_rows)
    rows = (
        window
        .groupBy(F.col(col).cast("string").alias("p")).count()
        .orderBy(F.col("p").desc()).limit(1).collect()
    )
    return (rows[0]["p"], int(rows[0]["count"])) if rows else None


def previous_version_rows(tables: Tables, table: str) -> tuple[int, int] | None:
    """(version, rows) of the Delta version before the current one, for unpartitioned tables."""
    version = tables.version(table)
    if not version:
        return None
    df = tables.spark.read.format("delta").option("versionAsOf", version - 1).load(tables.path(table))
    return version - 1, df.count()


def row_count_bounds(
    tables: Tables, config: Config, spec: TableSuite, ds: str | None
) -> tuple[tuple[int, int | None], str, dict[str, Any]]:
    """Bounds for this batch's row count and a note that says where they come from."""
    setting = spec.row_count_tolerance
    tol = getattr(config.validation, setting)
    if spec.partition and ds:
        prev = previous_partition(
            tables, spec.table, spec.partition, ds, config.validation.previous_lookback_days, spec.comparable_rows
        )
        if prev is None:
            note = (
                f"No earlier partition within {config.validation.previous_lookback_days} days "
                f"(validation.previous_lookback_days): the partition only has to be non-empty."
            )
            return (1, None), note, {"previous_partition": None}
        p, n = prev
        low, high = max(1, math.floor(n * (1 - tol))), math.ceil(n * (1 + tol))
        note = (
            f"The previous partition {spec.partition}={p} had {n:,} rows; validation.{setting}="
            f"{tol:g} allows {low:,} to {high:,}."
        )
        return (low, high), note, {"previous_partition": p, "previous_rows": n}
    prev_v = previous_version_rows(tables, spec.table)
    if prev_v is None or prev_v[1] == 0:
        return (1, None), "First version of the table: it only has to be non-empty.", {"previous_version": None}
    version, n = prev_v
    low = max(1, math.floor(n * (1 - tol)))
    note = (
        f"The previous table version {version} had {n:,} rows; it may grow, but shrink by at most "
        f"validation.{setting}={tol:g} (at least {low:,} rows)."
    )
    return (low, None), note, {"previous_version": version, "previous_rows": n}
