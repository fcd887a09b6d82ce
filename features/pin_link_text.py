"""features/pin_link_text: titles and descriptions of the pages people stayed on after a pin.

Only visits with dwell >= `min_dwell_s` (10 s by default; exactly 10 s counts)
say the page matched the pin. Like query tokens this is incremental: daily
partial counts per (pin, field, text) in features/pin_link_text_daily, summed
over the trailing window for each snapshot.

Texts are cut to `max_chars` first and deduplicated by their normalised form
(lower-cased, whitespace collapsed: "Red  Chair" and "red chair" are one
text); the form shown is the most frequent spelling, ties
alphabetically. The `max_items` most visited texts per field are kept, ties
alphabetically.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.quality import null_rule, text_rules
from features.windows import explode_to_as_of

FIELDS = {"title": "link_title", "description": "link_description"}


def link_visit_rules(max_text_chars: int) -> list[tuple[str, Column]]:
    """Rules that send a raw/link_visits row to quarantine."""
    return [null_rule("pin_id"), *text_rules(list(FIELDS.values()), max_text_chars), ("negative dwell_s", F.col("dwell_s") < 0)]


def _clip(col: str, max_chars: int) -> Column:
    squashed = F.trim(F.regexp_replace(F.col(col), r"\s+", " "))
    return F.trim(F.substring(squashed, 1, max_chars))


def link_text_partials(visits: DataFrame, min_dwell_s: float, max_chars: int) -> DataFrame:
    """Clean link visits -> (pin_id, ds, field, text_key, text, n): long-dwell visits counted per day."""
    long_visits = visits.where(F.col("dwell_s") >= min_dwell_s)
    per_field = [
        long_visits.select("pin_id", "ds", F.lit(field).alias("field"), _clip(col, max_chars).alias("text"))
        for field, col in FIELDS.items()
    ]
    stacked = per_field[0].unionByName(per_field[1])
    return (
        stacked.where(F.col("text").isNotNull() & (F.length("text") > 0))
        .withColumn("text_key", F.lower(F.col("text")))
        .groupBy("pin_id", "ds", "field", "text_key", "text")
        .agg(F.count(F.lit(1)).alias("n"))
        .select("pin_id", "ds", "field", "text_key", "text", "n")
    )


KEYS = ("pin_id", "field", "text_key", "text")


def link_text_window(partials: DataFrame, start: str, end: str, window_days: int) -> DataFrame:
    """Daily partials -> (pin_id, field, text_key, text, n, as_of): visits in the window of each as_of."""
    return (
        explode_to_as_of(partials, start, end, window_days)
        .groupBy(*KEYS, "as_of")
        .agg(F.sum("n").alias("n"))
    )


def top_link_text(window_counts: DataFrame, max_items: int) -> DataFrame:
    """Window counts -> (pin_id, as_of, link_titles array<string>, link_descriptions array<string>)."""
    # One entry per normalised text: total visits, shown in its most frequent spelling.
    per_key = window_counts.groupBy("pin_id", "as_of", "field", "text_key").agg(
        F.sum("n").alias("n"),
        F.sort_array(F.collect_list(F.struct((-F.col("n")).alias("neg"), F.col("text").alias("text"))))[0]["text"].alias("text"),
    )
    ranked = per_key.groupBy("pin_id", "as_of", "field").agg(
        F.slice(F.sort_array(F.collect_list(F.struct((-F.col("n")).alias("neg"), F.col("text").alias("text")))), 1, max_items)
        .alias("top")
    )
    texts = ranked.select("pin_id", "as_of", "field", F.transform("top", lambda s: s["text"]).alias("texts"))
    empty = F.array().cast("array<string>")
    return (
        texts.groupBy("pin_id", "as_of")
        .pivot("field", list(FIELDS))
        .agg(F.first("texts"))
        .select(
            "pin_id",
            "as_of",
            F.coalesce(F.col("title"), empty).alias("link_titles"),
            F.coalesce(F.col("description"), empty).alias("link_descriptions"),
        )
    )


def pin_link_text_as_of(partials: DataFrame, start: str, end: str, window_days: int, max_items: int) -> DataFrame:
    """Daily partials -> (pin_id, as_of, link_titles array<string>, link_descriptions array<string>)."""
    return top_link_text(link_text_window(partials, start, end, window_days), max_items)
