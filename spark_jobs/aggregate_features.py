"""`searchrel aggregate --ds D | --start S --end E`: query tokens, board tokens and link text per as_of.

Incremental by day. The daily partials of query tokens and link text
(features/pin_query_token_daily, features/pin_link_text_daily) are recomputed
from raw events for the dates asked for only; days of the trailing window that
no run has processed yet (features/pin_feature_days records the processed
days) are computed first, from the earliest missing one, so a fresh warehouse
pays for its window once and every later daily run reads one day of raw events.
`--full` recomputes the partials of the whole window from raw events.

Every write replaces exactly its own partitions, so reruns leave the same tables.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs import runner

log = logging.getLogger("searchrel.aggregate")

JOB = "aggregate"
QUERY_DAILY = "features/pin_query_token_daily"
LINK_DAILY = "features/pin_link_text_daily"
PROCESSED_DAYS = "features/pin_feature_days"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--full", action="store_true",
                        help="recompute the daily partials of the whole trailing window from raw events")


def _clean(ctx: runner.JobContext, table: str, df: DataFrame, rules, start: str, end: str,
           ds_col: str | None = "ds") -> tuple[DataFrame, int]:
    """Split off bad rows to quarantine, reconcile the counts; return the good rows and the rows read."""
    from spark_jobs.tables import reconcile, split_by_rules

    good, bad = split_by_rules(df, rules)
    flagged = F.lit(False)
    for _, rule in rules:
        flagged = flagged | F.coalesce(rule, F.lit(False))
    # One scan for both counts; the quarantined count is read back from the quarantine table
    # (a clean run, known to have 0, skips the quarantine commit).
    counts = df.agg(F.count(F.lit(1)).alias("n"), F.count(F.when(flagged, 1)).alias("bad")).first()
    n_bad = ctx.tables.quarantine(table, bad, JOB, ctx.run_id, start, end, ds_col=ds_col, known_count=counts["bad"])
    reconcile(JOB, table, counts["n"], counts["n"] - counts["bad"], n_bad)
    return good, counts["n"]


def _missing_days(ctx: runner.JobContext, first: str, last: str) -> list[str]:
    """Days of [first, last] no run has computed partials for."""
    wanted = runner.date_list(first, last)
    if not ctx.tables.exists(PROCESSED_DAYS):
        return wanted
    done = {r["ds"] for r in ctx.tables.read_range(PROCESSED_DAYS, first, last).select("ds").collect()}
    return [d for d in wanted if d not in done]


def _partials(ctx: runner.JobContext, span_start: str, end: str) -> dict[str, int]:
    """Recompute the daily partials of [span_start, end] from raw events."""
    from features.pin_link_text import link_text_partials, link_visit_rules
    from features.pin_query_tokens import query_token_partials, search_event_rules

    cfg = ctx.config.features
    tables = ctx.tables
    counts: dict[str, int] = {}
    # Read once, used three times (counts, quarantine, partials).
    events = tables.read_range("raw/search_events", span_start, end).persist(StorageLevel.MEMORY_AND_DISK)
    good, counts["search_events_read"] = _clean(
        ctx, "raw/search_events", events, search_event_rules(cfg.max_text_chars), span_start, end
    )
    pin_langs = tables.read("raw/pins").where(F.col("pin_id").isNotNull()).select("pin_id", "lang").dropDuplicates(["pin_id"])
    q = cfg.query_tokens
    partials = query_token_partials(good, pin_langs, q.weights, q.long_click_dwell_s, cfg.min_token_len)
    # One task per day: one file per daily partition instead of one per (day, shuffle partition).
    tables.replace_range(QUERY_DAILY, partials.repartition("ds"), span_start, end)
    events.unpersist()

    link = cfg.link_text
    if tables.exists("raw/link_visits"):
        visits = tables.read_range("raw/link_visits", span_start, end).persist(StorageLevel.MEMORY_AND_DISK)
        good_visits, counts["link_visits_read"] = _clean(
            ctx, "raw/link_visits", visits, link_visit_rules(cfg.max_text_chars), span_start, end
        )
        link_partials = link_text_partials(good_visits, link.min_dwell_s, link.max_chars)
        tables.replace_range(LINK_DAILY, link_partials.repartition("ds"), span_start, end)
        visits.unpersist()
    else:
        log.warning("raw/link_visits does not exist: pin_link_text will be empty")

    days = ctx.spark.createDataFrame([(d, ctx.run_id) for d in runner.date_list(span_start, end)], "ds string, run_id string")
    tables.replace_range(PROCESSED_DAYS, days.coalesce(1), span_start, end, partition_by=[])
    return counts


def run(ctx: runner.JobContext) -> dict[str, Any]:
    from features.pin_board_tokens import board_pin_rules, pin_board_tokens
    from features.pin_link_text import pin_link_text_as_of
    from features.pin_query_tokens import query_tokens_as_of
    from features.windows import window_start

    cfg = ctx.config.features
    tables = ctx.tables
    start, end = ctx.start, ctx.end
    window = max(cfg.query_tokens.window_days, cfg.link_text.window_days)
    first_needed = window_start(start, window)
    t0 = time.perf_counter()

    # 1. Daily partials: the dates asked for, plus any day of the window never processed.
    if ctx.args.full:
        span_start = first_needed
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

    # 2. Snapshots for every as_of in [start, end] from the window's partials.
    q = cfg.query_tokens
    query_tokens = query_tokens_as_of(
        tables.read_range(QUERY_DAILY, window_start(start, q.window_days), end), start, end, q.window_days, q.top_k
    )
    tables.replace_range("features/pin_query_tokens", query_tokens, start, end, col="as_of")
    result["pin_query_tokens_rows"] = tables.read_range("features/pin_query_tokens", start, end, col="as_of").count()

    link = cfg.link_text
    if tables.exists(LINK_DAILY):
        link_text = pin_link_text_as_of(
            tables.read_range(LINK_DAILY, window_start(start, link.window_days), end), start, end,
            link.window_days, link.max_items,
        )
        tables.replace_range("features/pin_link_text", link_text, start, end, col="as_of")
        result["pin_link_text_rows"] = tables.read_range("features/pin_link_text", start, end, col="as_of").count()

    # 3. Board tokens: every save up to the snapshot day (board_pins is small and unpartitioned).
    if tables.exists("raw/board_pins"):
        saves, _ = _clean(ctx, "raw/board_pins", tables.read("raw/board_pins"), board_pin_rules(cfg.max_text_chars),
                       start, end, ds_col=None)
        board_tokens = pin_board_tokens(saves, start, end, cfg.board_tokens.top_k, cfg.min_token_len)
        tables.replace_range("features/pin_board_tokens", board_tokens, start, end, col="as_of")
        result["pin_board_tokens_rows"] = tables.read_range("features/pin_board_tokens", start, end, col="as_of").count()
    else:
        log.warning("raw/board_pins does not exist: pin_board_tokens not written")
    t2 = time.perf_counter()
    result["partials_s"] = round(t1 - t0, 1)
    result["snapshots_s"] = round(t2 - t1, 1)
    log.info("aggregate %s .. %s done in %.1f s (partials %.1f s, snapshots %.1f s)", start, end, t2 - t0, t1 - t0, t2 - t1)
    return result


main = runner.entry_point(JOB, run, dates="required", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
