"""Trailing date windows over daily partial aggregates, shared by query tokens and link text.

A feature "as of D over W days" covers the days D-(W-1) .. D inclusive: the day
of the snapshot itself is in, and a day exactly W days before D is out (with
W = 730 an event on D-730 no longer counts, one on D-729 does).

Keeping per-day partial sums makes the features incremental: a daily run adds
one day of partials and re-sums the window's partials, never the raw events
behind them, and a backfill of N days computes N days of partials. With
yesterday's snapshot at hand it re-sums only the pins that day touched
(`carry_forward`).
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def window_start(as_of: str, window_days: int) -> str:
    """First day (inclusive) of the window that ends on `as_of`."""
    return (dt.date.fromisoformat(as_of) - dt.timedelta(days=window_days - 1)).isoformat()


def ds_in_window(ds_col: Column, as_of_col: Column, window_days: int) -> Column:
    """True when the day is inside the trailing window ending on as_of."""
    days_back = F.datediff(F.to_date(as_of_col), F.to_date(ds_col))
    return (days_back >= 0) & (days_back < window_days)


def explode_dates(first: Column, last: Column) -> Column:
    """Generator of the yyyy-MM-dd strings from date `first` to date `last` inclusive (none if first > last)."""
    return F.explode(F.transform(F.sequence(first, last), lambda d: F.date_format(d, "yyyy-MM-dd")))


def explode_to_as_of(df: DataFrame, start: str, end: str, window_days: int, ds_col: str = "ds") -> DataFrame:
    """One copy of each daily row per snapshot date in [start, end] whose window holds it.

    A row of day d belongs to the snapshots d .. d+W-1, clipped to [start, end];
    rows that reach no snapshot disappear. Adds `as_of` (yyyy-MM-dd string).
    """
    day = F.to_date(F.col(ds_col))
    first = F.greatest(day, F.to_date(F.lit(start)))
    last = F.least(F.date_add(day, window_days - 1), F.to_date(F.lit(end)))
    return (
        df.where(F.col(ds_col).between(window_start(start, window_days), end))
        .withColumn("__first", first)
        .withColumn("__last", last)
        .where(F.col("__first") <= F.col("__last"))
        .withColumn("as_of", explode_dates(F.col("__first"), F.col("__last")))
        .drop("__first", "__last")
    )


def top_k_array(
    df: DataFrame, group_cols: Sequence[str], item_col: str, weight_col: str, k: int, out_col: str = "tokens"
) -> DataFrame:
    """Per group, the k items of highest weight as array<struct<item, weight>>.

    Ties in weight go to the alphabetically first item, so the order is total
    and reruns give identical arrays.
    """
    ranked = F.sort_array(F.collect_list(F.struct((-F.col(weight_col)).alias("neg"), F.col(item_col).alias("item"))))
    top = F.slice(ranked, 1, k)
    return df.groupBy(*group_cols).agg(
        F.transform(top, lambda s: F.struct(s["item"].alias(item_col), (-s["neg"]).alias(weight_col))).alias(out_col)
    )


def carry_forward(previous: DataFrame, fresh: DataFrame, touched: DataFrame, as_of: str, key: str = "pin_id") -> DataFrame:
    """Snapshot of D: yesterday's rows for the keys nothing touched, the recomputed rows for the rest.

    A pin with no partial on the day entering the window (D) or the day leaving
    it (D-W) has the same window sums, hence the same snapshot row, as the day
    before; only the touched pins need their window re-summed, which is what
    makes a daily run cost a day of events plus a filtered scan of the
    partials instead of a full re-sum. A touched pin missing from `fresh`
    (everything left its window) is gone.
    """
    cols = fresh.columns
    kept = previous.join(F.broadcast(touched.select(key).distinct()), key, "left_anti").withColumn("as_of", F.lit(as_of))
    return kept.select(*cols).unionByName(fresh.select(*cols))
