"""`searchrel aggregate --ds D | --start S --end E`: query tokens, board tokens and link text per as_of.

Incremental by day, in two layers:

* Daily partials of query tokens and link text (features/pin_query_token_daily,
  features/pin_link_text_daily, one partition per month holding a `ds` column)
  are recomputed from raw events for the dates asked for only; days of the
  trailing window that no run has processed yet
  (features/pin_feature_days records the processed days) are computed first,
  from the earliest missing one, so a fresh warehouse pays for its window once.
* Snapshots: a daily run for D whose D-1 snapshot exists re-sums the window
  only for the pins with a partial on the day entering (D) or the day leaving
  (D-W) the window, and copies D-1's row for every other pin
  (features.windows.carry_forward). A range, a first run or `--full` re-sums
  the window's partials for every pin; both give the same tables (tests
  compare them).

`--full` recomputes the partials of the whole window from raw events and every
snapshot from them. Every write replaces exactly its own partitions, so reruns
leave the same tables; each is one Delta commit, so a killed run leaves every
table as it was or with whole new partitions, and its rerun redoes the rest.
Late data for a day already aggregated (events, or board saves dated in the
past), or a changed feature setting (weights, top K), reaches the carried rows
after a rerun of the range or `--full`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.windows import carry_forward, window_start
from searchrel.core import catalog
from searchrel.core.dates import date_list
from spark_jobs import runner

log = logging.getLogger("searchrel.aggregate")

JOB = "aggregate"
QUERY_DAILY = catalog.PIN_QUERY_TOKEN_DAILY.name
LINK_DAILY = catalog.PIN_LINK_TEXT_DAILY.name
PROCESSED_DAYS = catalog.PIN_FEATURE_DAYS.name
BOARD = catalog.PIN_BOARD_TOKENS.name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true",
                        help="recompute the daily partials of the whole trailing window from raw events, "
                             "and every snapshot from them")


def _clean(ctx: runner.JobContext, table: str, df: DataFrame, rules, start: str, end: str,
           ds_col: str | None = "ds") -> tuple[DataFrame, int]:
    """Split off bad rows to quarantine, reconcile the counts; return the good rows and the rows read."""
    from searchrel.core.quarantine import reason_column, reconcile

    # Tagged once (a rule may be a window function, e.g. duplicate event ids, which an
    # aggregate cannot hold); one scan for both counts; the quarantined count is read back
    # from the quarantine table (a clean run, known to have 0, skips the quarantine commit).
    tagged = df.withColumn("__reason", reason_column(rules))
    good = tagged.where(F.col("__reason").isNull()).drop("__reason")
    bad = tagged.where(F.col("__reason").isNotNull()).withColumnRenamed("__reason", "reason")
    counts = tagged.agg(F.count(F.lit(1)).alias("n"), F.count("__reason").alias("bad")).first()
    n_bad = ctx.tables.quarantine(table, bad, JOB, ctx.run_id, start, end, ds_col=ds_col, known_count=counts["bad"])
    reconcile(JOB, table, counts["n"], counts["n"] - counts["bad"], n_bad)
    return good, counts["n"]


def _missing_days(ctx: runner.JobContext, first: str, last: str) -> list[str]:
    """Days of [first, last] no run has computed partials for."""
    wanted = date_list(first, last)
    if not ctx.tables.exists(PROCESSED_DAYS):
        return wanted
    done = {r["ds"] for r in ctx.tables.read_range(PROCESSED_DAYS, first, last).select("ds").collect()}
    return [d for d in wanted if d not in done]


def _in_parallel(tasks: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent Spark actions from threads, so one's Delta commit overlaps another's scan.

    A daily run is a dozen small jobs on a few tables; alone, each spends most of
    its time in Delta log round trips rather than on the cores.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(tasks)), thread_name_prefix="aggregate") as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        return {name: future.result() for name, future in futures.items()}


def _daily_partials(ctx: runner.JobContext, raw: str, rules, to_partials: Callable[[DataFrame], DataFrame],
                    out: str, span_start: str, end: str) -> int:
    """Raw rows of [span_start, end] -> quarantine + daily partials table `out`; return the rows read."""
    # Read once, used three times (counts, quarantine, partials).
    rows = ctx.tables.read_range(raw, span_start, end).persist(StorageLevel.MEMORY_AND_DISK)
    good, n = _clean(ctx, raw, rows, rules, span_start, end)
    # Stored a file per month: the window's re-sum opens ~25 files, not 730.
    ctx.tables.replace_days_in_months(out, to_partials(good), span_start, end)
    rows.unpersist()
    return n


def _partials(ctx: runner.JobContext, span_start: str, end: str) -> dict[str, int]:
    """Recompute the daily partials of [span_start, end] from raw events; return the raw rows read."""
    from features.pin_link_text import link_text_partials, link_visit_rules
    from features.pin_query_tokens import query_token_partials, search_event_rules

    cfg, tables = ctx.config.features, ctx.tables
    q, link = cfg.query_tokens, cfg.link_text
    pin_langs = tables.read(catalog.PINS.name).where(F.col("pin_id").isNotNull()).select("pin_id", "lang").dropDuplicates(["pin_id"])
    events_columns = tables.read(catalog.SEARCH_EVENTS.name).columns
    tasks: dict[str, Callable[[], Any]] = {"search_events_read": lambda: _daily_partials(
        ctx, catalog.SEARCH_EVENTS.name, search_event_rules(cfg.max_text_chars, events_columns),
        lambda good: query_token_partials(good, pin_langs, q.weights, q.long_click_dwell_s, cfg.min_token_len),
        QUERY_DAILY, span_start, end,
    )}
    if tables.exists(catalog.LINK_VISITS.name):
        tasks["link_visits_read"] = lambda: _daily_partials(
            ctx, catalog.LINK_VISITS.name, link_visit_rules(cfg.max_text_chars),
            lambda good: link_text_partials(good, link.min_dwell_s, link.max_chars),
            LINK_DAILY, span_start, end,
        )
    return _in_parallel(tasks)


def _record_processed(ctx: runner.JobContext, span_start: str, end: str) -> tuple[str, int]:
    """Mark [span_start, end] as having partials (after they are committed; snapshots do not read it)."""
    days = date_list(span_start, end)
    frame = ctx.spark.createDataFrame([(d, ctx.run_id) for d in days], "ds string, run_id string")
    ctx.tables.replace_range(PROCESSED_DAYS, frame.coalesce(1), span_start, end, partition_by=[])
    return "recorded", len(days)


def _shift(ds: str, days: int) -> str:
    return (dt.date.fromisoformat(ds) + dt.timedelta(days=days)).isoformat()


def _has_partition(ctx: runner.JobContext, name: str, ds: str, col: str = "as_of") -> bool:
    """A snapshot of day `ds` was committed with rows (Delta keeps no empty partitions: an empty
    snapshot of yesterday reads as missing, and today's run re-sums the whole window)."""
    return ctx.tables.exists(name) and ctx.tables.read_range(name, ds, col=col).limit(1).count() > 0


@dataclass(frozen=True)
class WindowedFeature:
    """A snapshot table made from daily partials summed over a trailing window."""

    snapshot: str
    daily: str
    window_days: int
    sums: Callable[[DataFrame, str, str, int], DataFrame]  # partials -> window sums per as_of
    top: Callable[[DataFrame], DataFrame]  # window sums -> snapshot rows


def _snapshots(ctx: runner.JobContext, feature: WindowedFeature, start: str, end: str,
               incremental: bool) -> tuple[str, int]:
    """Write the snapshots of [start, end]; return the path taken and the rows written."""
    tables = ctx.tables
    partials = tables.read_range(feature.daily, window_start(start, feature.window_days), end)
    if incremental:
        day = start
        touched = (
            tables.read_range(feature.daily, day).select("pin_id")
            .unionByName(tables.read_range(feature.daily, _shift(day, -feature.window_days)).select("pin_id"))
            .distinct()
            .persist()
        )
        fresh = feature.top(feature.sums(partials.join(F.broadcast(touched), "pin_id", "left_semi"), day, day,
                                         feature.window_days))
        previous = tables.read_range(feature.snapshot, _shift(day, -1), col="as_of")
        rows_written = tables.replace_range(feature.snapshot, carry_forward(previous, fresh, touched, day), day, day,
                                            col="as_of")
        log.info("%s: %d pin(s) touched by %s and %s re-summed, the rest carried from the day before",
                 feature.snapshot, touched.count(), day, _shift(day, -feature.window_days))
        touched.unpersist()
    else:
        rows = feature.top(feature.sums(partials, start, end, feature.window_days))
        rows_written = tables.replace_range(feature.snapshot, rows, start, end, col="as_of")
    return ("incremental" if incremental else "window"), rows_written


def _board_snapshots(ctx: runner.JobContext, start: str, end: str, one_day: bool) -> tuple[str, int]:
    """Board tokens: every save up to the snapshot day (board_pins is small and unpartitioned)."""
    from features.pin_board_tokens import board_pin_rules, pin_board_tokens, pins_saved_on

    cfg, tables = ctx.config.features, ctx.tables
    saves, _ = _clean(ctx, catalog.BOARD_PINS.name, tables.read(catalog.BOARD_PINS.name), board_pin_rules(cfg.max_text_chars),
                      start, end, ds_col=None)
    k, min_len = cfg.board_tokens.top_k, cfg.min_token_len
    if one_day and _has_partition(ctx, BOARD, _shift(start, -1)):
        # Saves only add up: only the pins saved today change.
        touched = F.broadcast(pins_saved_on(saves, start))
        fresh = pin_board_tokens(saves.join(touched, "pin_id", "left_semi"), start, end, k, min_len)
        board_tokens = carry_forward(tables.read_range(BOARD, _shift(start, -1), col="as_of"), fresh, touched, start)
        path = "incremental"
    else:
        board_tokens = pin_board_tokens(saves, start, end, k, min_len)
        path = "window"
    return path, tables.replace_range(BOARD, board_tokens, start, end, col="as_of")


def run(ctx: runner.JobContext) -> dict[str, Any]:
    from features.pin_link_text import link_text_window, top_link_text
    from features.pin_query_tokens import query_token_window, top_query_tokens

    cfg = ctx.config.features
    tables = ctx.tables
    start, end = ctx.start, ctx.end
    q, link = cfg.query_tokens, cfg.link_text
    features = [WindowedFeature(
        catalog.PIN_QUERY_TOKENS.name, QUERY_DAILY, q.window_days, query_token_window,
        lambda sums: top_query_tokens(sums, q.top_k),
    )]
    if tables.exists(catalog.LINK_VISITS.name):
        features.append(WindowedFeature(
            catalog.PIN_LINK_TEXT.name, LINK_DAILY, link.window_days, link_text_window,
            lambda sums: top_link_text(sums, link.max_items),
        ))
    else:
        log.warning("raw/link_visits does not exist: pin_link_text will be empty")
    window = max(q.window_days, link.window_days)
    first_needed = window_start(start, window)
    t0 = time.perf_counter()

    # The incremental path: one day, and yesterday's snapshot of the feature exists.
    one_day = start == end and not ctx.args.full
    incremental = {f.snapshot: one_day and _has_partition(ctx, f.snapshot, _shift(start, -1)) for f in features}

    # 1. Daily partials: the dates asked for, plus any day of the window never processed.
    if ctx.args.full:
        span_start = first_needed
    elif all(incremental.values()):
        span_start = start  # yesterday's snapshots were summed from a complete window
    else:
        missing = _missing_days(ctx, first_needed, start)
        span_start = min([start, *missing])
        if span_start < start:
            log.info("%d day(s) of the window from %s have no partials yet: computing them from raw events",
                     len(missing), span_start)
    log.info("partials for %s .. %s", span_start, end)
    result: dict[str, Any] = {"start": start, "end": end, "partials_from": span_start}
    result.update(_partials(ctx, span_start, end))
    t1 = time.perf_counter()

    # 2. Snapshots for every as_of in [start, end]: carried from yesterday or re-summed; the
    #    features are independent, so they run side by side.
    tasks: dict[str, Callable[[], Any]] = {
        f.snapshot: (lambda f=f: _snapshots(ctx, f, start, end, incremental[f.snapshot])) for f in features
    }
    if tables.exists(catalog.BOARD_PINS.name):
        tasks[BOARD] = lambda: _board_snapshots(ctx, start, end, one_day)
    else:
        log.warning("raw/board_pins does not exist: pin_board_tokens not written")
    tasks[PROCESSED_DAYS] = lambda: _record_processed(ctx, span_start, end)
    result["snapshots"] = {}
    for name, (path, rows) in _in_parallel(tasks).items():
        if name == PROCESSED_DAYS:
            result["processed_days"] = rows
            continue
        result["snapshots"][name] = path
        result[f"{name.split('/')[1]}_rows"] = rows
    t2 = time.perf_counter()
    result["partials_s"] = round(t1 - t0, 1)
    result["snapshots_s"] = round(t2 - t1, 1)
    log.info("aggregate %s .. %s done in %.1f s (partials %.1f s, snapshots %.1f s: %s)", start, end, t2 - t0,
             t1 - t0, t2 - t1, ", ".join(f"{k.split('/')[1]} {v}" for k, v in result["snapshots"].items()))
    return result


main = runner.entry_point(JOB, run, dates="required", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
