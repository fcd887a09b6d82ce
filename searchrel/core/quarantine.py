"""Quarantine rules: how a job splits bad rows from good ones, and the count identity it must keep.

A job tags each row with the reason of the first rule it breaks; tagged rows go to
`quarantine/<layer>_<name>` (`Tables.quarantine`) and `reconcile` fails the job when
rows in != rows written + rows quarantined, so no row is ever dropped silently.
"""

from __future__ import annotations

import logging
from typing import Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from searchrel.core.errors import ReconciliationError

log = logging.getLogger(__name__)
QUARANTINE_LAYER = "quarantine"


def quarantine_name(table: str) -> str:
    """quarantine/<layer>_<name>: one quarantine table per source table."""
    layer, name = table.split("/")
    return f"{QUARANTINE_LAYER}/{layer}_{name}"


def reason_column(rules: Iterable[tuple[str, Column]]) -> Column:
    """The reason of the first rule that fires, else null: one column a job can cache and count.

    Each rule is (reason, condition that marks a row bad). A null condition counts as
    not firing, so rules should handle nulls themselves (`F.col(x).isNull()` is its own rule).
    """
    reason: Column = F.lit(None).cast("string")
    for text, bad in reversed(list(rules)):
        reason = F.when(F.coalesce(bad, F.lit(False)), F.lit(text)).otherwise(reason)
    return reason


def split_by_rules(df: DataFrame, rules: Iterable[tuple[str, Column]]) -> tuple[DataFrame, DataFrame]:
    """Split rows into (good, rejected-with-reason) by ordered rules (see `reason_column`)."""
    tagged = df.withColumn("__reason", reason_column(rules))
    good = tagged.where(F.col("__reason").isNull()).drop("__reason")
    bad = tagged.where(F.col("__reason").isNotNull()).withColumnRenamed("__reason", "reason")
    return good, bad


def reconcile(job: str, table: str, rows_in: int, rows_written: int, rows_quarantined: int) -> None:
    """Log the count identity and fail loudly when it does not hold."""
    line = (
        f"{job}: {table}: rows in {rows_in} = written {rows_written} + quarantined {rows_quarantined}"
    )
    if rows_in != rows_written + rows_quarantined:
        raise ReconciliationError(line.replace(" = ", " != "))
    log.info(line)
