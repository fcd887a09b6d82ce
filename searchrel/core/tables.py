"""The one place tables are read and written.

Tables are Delta tables under the warehouse root, addressed `<layer>/<name>`.
Writes are idempotent by construction: a date range is replaced with Delta's
`replaceWhere` (one atomic commit, so a killed run leaves the previous version
in place), keyed tables are MERGEd, and rejected rows go to
`quarantine/<table>` with a reason so that rows in = rows written + rows
quarantined.

Every write goes through `Tables.commit`, which marks the fault points around the
commit (`searchrel.core.faults`: `table.commit.before`, `table.commit.after`) and
retries a write that lost Delta's optimistic-concurrency race to another writer:
since each write here replaces exactly its partitions or MERGEs on keys, running
it again against the winner's commit yields the rows one run would have written,
never a doubled or dropped one. After `commit_attempts` tries the job fails with
one line (`ConcurrentWriteConflict`, exit 1).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import re
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from searchrel.core.dates import ds_predicate
from searchrel.core.errors import ConcurrentWriteConflict, TableNotFound
from searchrel.core.faults import checkpoint
from searchrel.core.quarantine import quarantine_name

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_COMMIT_ATTEMPTS = 5

_NAME = re.compile(r"^[a-z][a-z0-9_]*/[a-z][a-z0-9_]*$")


def new_run_id() -> str:
    """Sortable and unique: UTC timestamp plus a random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Tables:
    """Delta tables under one warehouse root (a folder or any Hadoop-compatible URI)."""

    spark: SparkSession
    root: str
    commit_attempts: int = DEFAULT_COMMIT_ATTEMPTS

    def path(self, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"table names look like 'layer/name', got {name!r}")
        return self.root.rstrip("/") + "/" + name

    def exists(self, name: str) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, self.path(name))

    def read(self, name: str) -> DataFrame:
        if not self.exists(name):
            raise TableNotFound(f"table {name} does not exist under {self.root} (has its job run?)")
        return self.spark.read.format("delta").load(self.path(name))

    def read_range(self, name: str, start: str, end: str | None = None, col: str = "ds") -> DataFrame:
        """Rows of a date-partitioned table in [start, end]; Delta prunes the other partitions."""
        return self.read(name).where(ds_predicate(start, end, col))

    def version(self, name: str) -> int | None:
        if not self.exists(name):
            return None
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.spark, self.path(name)).history(1).collect()[0]["version"]

    def commit(self, name: str, write: Callable[[], T]) -> T:
        """Run `write` (one Delta commit to table `name`), again if a concurrent writer won the race.

        `write` must be idempotent and build its DataFrames afresh (a retry then reads the
        winner's commit). A conflict is one of Delta's concurrent-modification errors; any
        other error is raised at once. Between tries a short random wait keeps two losers
        from colliding again.
        """
        for attempt in range(1, self.commit_attempts + 1):
            checkpoint("table.commit.before", name)
            try:
                result = write()
            except Exception as exc:  # noqa: BLE001 - only Delta's conflicts are retried
                if not is_commit_conflict(exc):
                    raise
                first_line = (str(exc).strip().splitlines() or [""])[0][:200]
                if attempt >= self.commit_attempts:
                    raise ConcurrentWriteConflict(
                        f"{name}: another writer committed first ({type(exc).__name__}) on each of "
                        f"{attempt} attempt(s); nothing of this write was committed, rerun the job"
                    ) from None
                log.warning("%s: lost a commit race (%s: %s); retrying (%d/%d)", name, type(exc).__name__,
                            first_line, attempt + 1, self.commit_attempts)
                time.sleep(random.uniform(0.2, 1.0) * attempt)
                continue
            checkpoint("table.commit.after", name)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def overwrite(self, name: str, df: DataFrame, partition_by: Sequence[str] = ()) -> None:
        """Replace the whole table in one commit (for small, fully recomputed tables)."""
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        self.commit(name, lambda: writer.save(self.path(name)))
        log.info("wrote %s (full overwrite)", name)

    def replace_range(
        self,
        name: str,
        df: DataFrame,
        start: str,
        end: str | None = None,
        col: str = "ds",
        partition_by: Sequence[str] | None = None,
        extra_predicate: str | None = None,
        merge_schema: bool = False,
    ) -> int:
        """Replace exactly the partitions in [start, end] with `df`, atomically; return the rows written.

        Running it twice with the same input leaves the same rows. Delta refuses
        the write if `df` holds a row outside the range, so a job cannot clobber
        partitions it does not own. `merge_schema` lets a write add columns to an
        existing table (older partitions read them as null). The count is observed
        during the write itself: reading the partitions back to count them costs a
        second scan and a Delta snapshot, about a second on small tables.
        """
        return self.commit(name, lambda: self._replace_range_once(
            name, df, start, end, col, partition_by, extra_predicate, merge_schema))

    def _replace_range_once(
        self, name: str, df: DataFrame, start: str, end: str | None, col: str, partition_by: Sequence[str] | None,
        extra_predicate: str | None, merge_schema: bool,
    ) -> int:
        """One try of `replace_range` (its retries call it again)."""
        predicate = ds_predicate(start, end, col)
        if extra_predicate:
            predicate = f"({predicate}) AND ({extra_predicate})"
        parts = [col] if partition_by is None else list(partition_by)
        if not self.exists(name) and df.where(f"NOT ({predicate})").limit(1).count():
            # Delta checks replaceWhere against existing tables only; hold a new one to the same rule.
            raise ValueError(f"{name}: rows outside replaceWhere range ({predicate}) would be written")
        written = Observation()
        observed = df.observe(written, F.count(F.lit(1)).alias("rows"))
        writer = observed.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        if parts:
            writer = writer.partitionBy(*parts)
        writer.save(self.path(name))
        rows = int(written.get["rows"])
        log.info("wrote %s where %s: %d rows", name, predicate, rows)
        return rows

    def replace_days_in_months(
        self, name: str, df: DataFrame, start: str, end: str | None = None, col: str = "ds", month_col: str = "month"
    ) -> int:
        """Replace the days [start, end] of a day-grained table kept as one partition, one file, per month.

        A partition per day is a file per day, and reading a two-year window is
        then opening 730 small files, which costs more than their rows. Here a
        write rewrites each month it touches whole (its other days kept), so a
        month stays one file and the write stays one atomic commit that reruns
        repeat exactly. A table still partitioned by day (the older layout) is
        rewritten by month first, once. Returns the rows written: the months' rows,
        their kept days included.
        """
        ds_predicate(start, end, col)  # validates the dates
        # Retried whole: a retry must read the months' kept days again, the winner's included.
        return self.commit(name, lambda: self._replace_days_in_months_once(name, df, start, end, col, month_col))

    def _replace_days_in_months_once(self, name: str, df: DataFrame, start: str, end: str | None, col: str,
                                     month_col: str) -> int:
        days = ds_predicate(start, end, col)
        first, last = start[:7], (end or start)[:7]
        months = ds_predicate(first, last, month_col)
        new = df.withColumn(month_col, F.substring(F.col(col), 1, 7))
        if self.exists(name):
            current = self.read(name)
            if month_col not in current.columns:
                log.warning("%s is partitioned by %s (an older layout): rewriting it by %s, once", name, col, month_col)
                self.overwrite(name, current.withColumn(month_col, F.substring(F.col(col), 1, 7))
                               .repartition(month_col).sortWithinPartitions(col), partition_by=[month_col])
                current = self.read(name)
            kept = current.where(months).where(f"NOT ({days})")
            new = new.unionByName(kept.select(*new.columns))
        # One task per month: one file per month, sorted by day so a one-day read skips most row groups.
        return self._replace_range_once(name, new.repartition(month_col).sortWithinPartitions(col), first, last,
                                        month_col, [month_col], None, False)

    def merge(self, name: str, df: DataFrame, keys: Sequence[str], update: bool = True) -> None:
        """Upsert by key (insert new keys; update matched rows unless `update` is False)."""
        self.commit(name, lambda: self._merge_once(name, df, keys, update))

    def _merge_once(self, name: str, df: DataFrame, keys: Sequence[str], update: bool) -> None:
        if not self.exists(name):
            # Not "overwrite": a creator that lost the race for version 0 would replace the
            # winner's rows. It finds the table there instead and MERGEs into it below.
            try:
                df.write.format("delta").mode("errorifexists").save(self.path(name))
                log.info("created %s by merge", name)
                return
            except Exception as exc:  # noqa: BLE001
                if "DELTA_PATH_EXISTS" not in str(exc) and "already exist" not in str(exc):
                    raise
                log.warning("%s was created by a concurrent writer: merging into it", name)
        from delta.tables import DeltaTable

        condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        builder = DeltaTable.forPath(self.spark, self.path(name)).alias("t").merge(df.alias("s"), condition)
        if update:
            builder = builder.whenMatchedUpdateAll()
        builder.whenNotMatchedInsertAll().execute()
        log.info("merged into %s on %s", name, ", ".join(keys))

    def append(self, name: str, df: DataFrame, partition_by: Sequence[str] = ()) -> None:
        """Append; only for writes whose idempotency the caller guarantees (e.g. resumable scoring).

        Never retried: an append is not idempotent, and a blind append does not conflict anyway.
        """
        writer = df.write.format("delta").mode("append")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        checkpoint("table.commit.before", name)
        writer.save(self.path(name))
        checkpoint("table.commit.after", name)

    # -- quarantine ---------------------------------------------------------

    def quarantine(
        self,
        table: str,
        rejected: DataFrame,
        job: str,
        run_id: str,
        start: str,
        end: str | None = None,
        ds_col: str | None = "ds",
        known_count: int | None = None,
    ) -> int:
        """Write rejected rows (with a `reason` column) to quarantine/<layer>_<name>.

        The rejected row is kept whole as JSON. Earlier quarantine rows of the same
        job and date range are replaced, so reruns do not pile up duplicates.
        Returns the number of rows quarantined.

        `known_count` is the caller's own count of `rejected` when it has one. A
        clean run (0) with no earlier quarantine rows for this job and range has
        nothing to replace, so it costs a lookup instead of a Delta commit: most
        daily runs of a job are clean, and each commit is seconds of fixed cost.
        """
        if "reason" not in rejected.columns:
            raise ValueError("rejected rows need a 'reason' column")
        qname = quarantine_name(table)
        if known_count == 0 and (
            not self.exists(qname)
            or self.read_range(qname, start, end).where(F.col("job") == job).limit(1).count() == 0
        ):
            log.info("%s: nothing to quarantine for %s (%s .. %s)", qname, job, start, end or start)
            return 0
        payload = [c for c in rejected.columns if c != "reason"]
        ds_value = (
            F.coalesce(F.col(ds_col).cast("string"), F.lit(start))
            if ds_col and ds_col in rejected.columns
            else F.lit(start)
        )
        out = rejected.select(
            ds_value.alias("ds"),
            F.to_json(F.struct(*[F.col(f"`{c}`") for c in payload])).alias("row"),
            F.col("reason").cast("string").alias("reason"),
            F.lit(job).alias("job"),
            F.lit(run_id).alias("run_id"),
            F.current_timestamp().alias("quarantined_at"),
        ).withColumn("ds", F.when(F.col("ds").between(start, end or start), F.col("ds")).otherwise(F.lit(start)))
        return self.replace_range(qname, out, start, end, extra_predicate=f"job = '{job}'")


def is_commit_conflict(exc: BaseException) -> bool:
    """Delta's optimistic-concurrency failures: another writer committed what this one read or wrote."""
    from delta.exceptions import (
        ConcurrentAppendException,
        ConcurrentDeleteDeleteException,
        ConcurrentDeleteReadException,
        ConcurrentTransactionException,
        ConcurrentWriteException,
        DeltaConcurrentModificationException,
        MetadataChangedException,
        ProtocolChangedException,
    )

    conflicts = (ConcurrentAppendException, ConcurrentDeleteDeleteException, ConcurrentDeleteReadException,
                 ConcurrentTransactionException, ConcurrentWriteException, DeltaConcurrentModificationException,
                 MetadataChangedException, ProtocolChangedException)
    if isinstance(exc, conflicts):
        return True
    # Raised through a path Delta's converter does not patch (a plain Py4J error, say): go by the class name.
    text = str(exc)
    return any(f"io.delta.exceptions.{c.__name__}" in text for c in conflicts) or (
        "DELTA_CONCURRENT" in text or "DELTA_PROTOCOL_CHANGED" in text or "DELTA_METADATA_CHANGED" in text)


def tables_for(spark: SparkSession, warehouse: str, commit_attempts: int = DEFAULT_COMMIT_ATTEMPTS) -> Tables:
    if "://" not in warehouse:
        os.makedirs(warehouse, exist_ok=True)
    return Tables(spark, warehouse, commit_attempts)
