"""Query x pin interaction features: term matches, embedding cosine, smoothed engagement.

Engagement history is read strictly before the example's ds (the day being
labelled is never its own feature: that would leak the outcome), within a
trailing window, and smoothed with a Beta prior so a pair seen twice with one
click does not look like a 50% winner:
rate = (engaged + prior * strength) / (impressions + strength).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ENGAGEMENT_EVENTS = ("click", "save", "closeup")


def match_fraction(query_tokens: Column, doc_tokens: Column) -> Column:
    """Share of the query's distinct terms found in the document's tokens (0 for an empty query)."""
    q = F.array_distinct(query_tokens)
    hits = F.size(F.array_intersect(q, F.coalesce(doc_tokens, F.array().cast("array<string>"))))
    return F.when(F.size(q) > 0, hits / F.size(q)).otherwise(F.lit(0.0)).cast("double")


def cosine(a: Column, b: Column) -> Column:
    """Cosine of two equal-length float arrays in Spark SQL; 0 when either is missing or zero."""
    dot = F.aggregate(F.zip_with(a, b, lambda x, y: x * y), F.lit(0.0).cast("double"), lambda acc, v: acc + v)
    na = F.sqrt(F.aggregate(a, F.lit(0.0).cast("double"), lambda acc, v: acc + v * v))
    nb = F.sqrt(F.aggregate(b, F.lit(0.0).cast("double"), lambda acc, v: acc + v * v))
    return F.coalesce(F.when((na > 0) & (nb > 0), dot / (na * nb)), F.lit(0.0)).cast("double")


def daily_engagement(events: DataFrame, start: str, end: str) -> DataFrame:
    """(query, pin_id, ds, impressions, engaged) from raw/search_events with start <= ds < end."""
    return (
        events.where((F.col("ds") >= F.lit(start)) & (F.col("ds") < F.lit(end)))
        .groupBy("query", "pin_id", "ds")
        .agg(
            F.sum(F.when(F.col("event") == "impression", 1).otherwise(0)).cast("long").alias("impressions"),
            F.sum(F.when(F.col("event").isin(*ENGAGEMENT_EVENTS), 1).otherwise(0)).cast("long").alias("engaged"),
        )
    )


def engagement_features(
    pairs: DataFrame, daily: DataFrame, window_days: int, prior: float, strength: float
) -> DataFrame:
    """(query, pin_id, ds) -> + pair/pin impression counts and smoothed rates from days before ds.

    `daily` is `daily_engagement` over at least [min(ds) - window_days, max(ds)).
    """
    keys = pairs.select("query", "pin_id", "ds").distinct()
    lo = F.date_format(F.date_sub(F.to_date(F.col("k.ds")), window_days), "yyyy-MM-dd")
    in_window = (F.col("e.ds") < F.col("k.ds")) & (F.col("e.ds") >= lo)

    pair_hist = (
        keys.alias("k")
        .join(daily.alias("e"), (F.col("k.query") == F.col("e.query")) & (F.col("k.pin_id") == F.col("e.pin_id")) & in_window)
        .groupBy(F.col("k.query").alias("query"), F.col("k.pin_id").alias("pin_id"), F.col("k.ds").alias("ds"))
        .agg(F.sum("e.impressions").alias("pair_imp"), F.sum("e.engaged").alias("pair_eng"))
    )
    pin_daily = daily.groupBy("pin_id", "ds").agg(F.sum("impressions").alias("impressions"), F.sum("engaged").alias("engaged"))
    pin_keys = keys.select("pin_id", "ds").distinct()
    pin_hist = (
        pin_keys.alias("k")
        .join(pin_daily.alias("e"), (F.col("k.pin_id") == F.col("e.pin_id")) & in_window)
        .groupBy(F.col("k.pin_id").alias("pin_id"), F.col("k.ds").alias("ds"))
        .agg(F.sum("e.impressions").alias("pin_imp"), F.sum("e.engaged").alias("pin_eng"))
    )

    def rate(eng: str, imp: str) -> Column:
        return (F.coalesce(F.col(eng), F.lit(0)) + F.lit(prior * strength)) / (
            F.coalesce(F.col(imp), F.lit(0)) + F.lit(strength)
        )

    return (
        keys.join(pair_hist, ["query", "pin_id", "ds"], "left")
        .join(pin_hist, ["pin_id", "ds"], "left")
        .select(
            "query",
            "pin_id",
            "ds",
            F.coalesce(F.col("pair_imp"), F.lit(0)).cast("long").alias("pair_impressions_before_ds"),
            rate("pair_eng", "pair_imp").cast("double").alias("pair_engagement_rate_smoothed"),
            F.coalesce(F.col("pin_imp"), F.lit(0)).cast("long").alias("pin_impressions_before_ds"),
            rate("pin_eng", "pin_imp").cast("double").alias("pin_engagement_rate_smoothed"),
        )
    )
