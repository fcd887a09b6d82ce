"""features/pin_query_tokens: the tokens of the queries that led people to engage with a pin.

Two steps, so that a daily run costs one day of events:

1. `query_token_partials(events, pin_langs, ...)` turns the search events of
   some days into per-(pin, token, day) engagement weights, the rows of
   features/pin_query_token_daily.
2. `query_tokens_as_of(partials, start, end, ...)` sums those partials over
   the trailing window (730 days by default, the snapshot day included, a day
   exactly 730 days back excluded) for every snapshot date in [start, end] and
   keeps the top K tokens per pin.

Engagement weights come from configuration: a click with dwell >= the
long-click threshold weighs `long_click` instead of `click`; impressions weigh
nothing. A token repeated in one query counts once for that query. Queries are
tokenized with the stop words of the pin's language (a query has no language
tag of its own; it led to this pin, so the pin's language is the best guess).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.quality import null_rule, text_rules
from features.tokenizer import DEFAULT_MIN_LEN, tokenize_column
from features.windows import explode_to_as_of, top_k_array

EVENT_TYPES = ("impression", "click", "save", "closeup")
WEIGHT_DECIMALS = 6


def search_event_rules(max_text_chars: int, columns: Sequence[str] = ()) -> list[tuple[str, Column]]:
    """Rules that send a raw/search_events row to quarantine.

    `columns` are the table's columns: a logging system that records an `event_ts`
    (the event's time) and an `event_id` gets two more rules. An event whose UTC date
    is not its `ds` partition is quarantined (a late or mis-partitioned row would
    count for the wrong day), and so is every copy of an `event_id` after the first
    among the rows read (a retried upload would count twice; copies in different
    runs' days are not compared). The simulator writes neither column; without
    them the partition is the day and a row cannot lie outside it.
    A pin_id missing from raw/pins is not a reason here: the catalogue may lag the
    logs, and labelling and student-features quarantine pins without text anyway.
    """
    rules = [
        null_rule("pin_id"),
        null_rule("query"),
        ("unknown event", F.col("event").isNull() | ~F.col("event").isin(*EVENT_TYPES)),
        *text_rules(["query"], max_text_chars),
        ("negative dwell_s", F.col("dwell_s") < 0),
    ]
    if "event_ts" in columns:
        day = F.date_format(F.col("event_ts").cast("timestamp"), "yyyy-MM-dd")  # the session runs in UTC
        rules.append(("event_ts outside ds", F.col("event_ts").isNull() | (day != F.col("ds"))))
    if "event_id" in columns:
        order = [c for c in ("ds", "event_ts", "user_id", "query", "pin_id", "event", "dwell_s") if c in columns]
        copy = F.row_number().over(Window.partitionBy("event_id").orderBy(*order))
        rules += [null_rule("event_id"), ("duplicate event_id", copy > 1)]
    return rules


def engagement_weight(weights: Mapping[str, float], long_click_dwell_s: float) -> Column:
    """Weight of one event row; 0 for impressions and event types without a weight."""
    event, dwell = F.col("event"), F.coalesce(F.col("dwell_s"), F.lit(0.0))
    long_click = (event == "click") & (dwell >= long_click_dwell_s)
    expr = F.when(long_click, F.lit(float(weights.get("long_click", weights.get("click", 0.0)))))
    for name, value in sorted(weights.items()):
        if name != "long_click":
            expr = expr.when(event == name, F.lit(float(value)))
    return expr.otherwise(F.lit(0.0))


def query_token_partials(
    events: DataFrame,
    pin_langs: DataFrame | None,
    weights: Mapping[str, float],
    long_click_dwell_s: float,
    min_len: int = DEFAULT_MIN_LEN,
) -> DataFrame:
    """Clean search events -> (pin_id, token, ds, weight), one row per pin, token and day.

    `pin_langs` (pin_id, lang) picks each pin's stop-word language; None or a
    missing pin means the default languages.
    """
    engaged = (
        events.withColumn("weight", engagement_weight(weights, long_click_dwell_s))
        .where(F.col("weight") > 0)
        .groupBy("pin_id", "query", "ds")
        .agg(F.sum("weight").alias("weight"))
    )
    if pin_langs is not None:
        engaged = engaged.join(pin_langs.select("pin_id", "lang"), "pin_id", "left")
    else:
        engaged = engaged.withColumn("lang", F.lit(None).cast("string"))
    tokens = engaged.withColumn(
        "token", F.explode(F.array_distinct(tokenize_column("query", "lang", min_len)))
    )
    return (
        tokens.groupBy("pin_id", "token", "ds")
        .agg(F.round(F.sum("weight"), WEIGHT_DECIMALS).alias("weight"))
        .select("pin_id", "token", "ds", "weight")
    )


def query_token_window(partials: DataFrame, start: str, end: str, window_days: int) -> DataFrame:
    """Daily partials -> (pin_id, token, weight, as_of): the window sums of every as_of in [start, end].

    `partials` must hold every day of [start - window_days + 1, end]; rows
    outside are ignored. A daily run calls it on the partials of the pins the
    day touched only (features.windows.carry_forward keeps the rest).
    """
    return (
        explode_to_as_of(partials, start, end, window_days)
        .groupBy("pin_id", "token", "as_of")
        .agg(F.round(F.sum("weight"), WEIGHT_DECIMALS).alias("weight"))
    )


def top_query_tokens(window_sums: DataFrame, top_k: int) -> DataFrame:
    """Window sums -> (pin_id, as_of, tokens array<struct<token, weight>>); by weight, ties alphabetically."""
    return top_k_array(window_sums, ["pin_id", "as_of"], "token", "weight", top_k).select("pin_id", "as_of", "tokens")


def query_tokens_as_of(partials: DataFrame, start: str, end: str, window_days: int, top_k: int) -> DataFrame:
    """Daily partials -> (pin_id, as_of, tokens array<struct<token, weight>>) for each as_of in [start, end]."""
    return top_query_tokens(query_token_window(partials, start, end, window_days), top_k)
