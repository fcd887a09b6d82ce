"""features/pin_text: the teacher's text for every pin, one snapshot per as_of date.

A pin is in the snapshot of as_of when it was created on or before that day
(or has no created_ds). Its parts come from raw/pins (title, description), the
current caption, and the query-token, board-token and link-text snapshots of
the same as_of; a pin without some part still gets its row with what it has.
Each part is cut to its word budget and the text rendered by the Python
template (`features.text_template`) inside a pandas UDF, so the stored text is
byte for byte what `render_pin_text(parts)` gives the teacher.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from features.quality import null_rule, text_rules
from features.text_template import PARTS, render_pin_text, truncate_parts
from features.windows import explode_dates

PIN_TEXT_COLUMNS = ("pin_id", "as_of", "text", "template_version", "parts", "lang")

# The quarantine reason of a pin whose assembled text is empty (assemble-text; the
# features/pin_text suite reads it back to bound the share of such pins).
EMPTY_TEXT_REASON = "no text: no title, description or enrichment"


def pin_rules(max_text_chars: int) -> list[tuple[str, Column]]:
    """Rules that send a raw/pins row to quarantine (its text would be garbage or unbounded)."""
    return [null_rule("pin_id"), *text_rules(["title", "description"], max_text_chars)]


def _token_string(col: str) -> Column:
    """array<struct<token, weight>> -> the tokens in weight order, space-joined."""
    return F.array_join(F.transform(F.col(col), lambda s: s["token"]), " ")


def _link_string() -> Column:
    """Link titles then descriptions, '; '-separated (a title is often a phrase, not a sentence)."""
    return F.array_join(F.concat(F.coalesce("link_titles", F.array()), F.coalesce("link_descriptions", F.array())), "; ")


@lru_cache(maxsize=8)
def _render_udf(budgets_items: tuple[tuple[str, int], ...]):
    budgets = dict(budgets_items)
    fields = [StructField(name, StringType()) for name in PARTS] + [StructField("text", StringType())]

    @F.pandas_udf(StructType(fields))
    def _render(raw: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for record in raw.to_dict("records"):
            parts = truncate_parts({k: (v if isinstance(v, str) else None) for k, v in record.items()}, budgets)
            rows.append({**parts, "text": render_pin_text(parts)})
        return pd.DataFrame(rows, columns=[*PARTS, "text"])

    return _render


def assemble_pin_text(
    pins: DataFrame,
    start: str,
    end: str,
    budgets: Mapping[str, int],
    template_version: str,
    captions: DataFrame | None = None,
    query_tokens: DataFrame | None = None,
    board_tokens: DataFrame | None = None,
    link_text: DataFrame | None = None,
) -> DataFrame:
    """Clean pins + feature snapshots -> features/pin_text rows for every as_of in [start, end]."""
    created = F.coalesce(F.to_date("created_ds"), F.to_date(F.lit(start)))
    first = F.greatest(created, F.to_date(F.lit(start)))
    snap = (
        pins.where(F.col("created_ds").isNull() | (F.col("created_ds") <= end))
        .withColumn("as_of", explode_dates(first, F.to_date(F.lit(end))))
        .select("pin_id", "as_of", "title", "description", "lang")
    )
    empty = F.lit(None).cast("string")
    if captions is not None:
        snap = snap.join(captions.select("pin_id", "caption"), "pin_id", "left")
    else:
        snap = snap.withColumn("caption", empty)
    for name, frame, value in (
        ("query_tokens", query_tokens, lambda: _token_string("tokens")),
        ("board_tokens", board_tokens, lambda: _token_string("tokens")),
        ("link_text", link_text, _link_string),
    ):
        if frame is None:
            snap = snap.withColumn(name, empty)
            continue
        part = frame.where(F.col("as_of").between(start, end)).select("pin_id", "as_of", value().alias(name))
        snap = snap.join(part, ["pin_id", "as_of"], "left")
    rendered = snap.withColumn(
        "__r", _render_udf(tuple(sorted(budgets.items())))(F.struct(*[F.col(p) for p in PARTS]))
    )
    return rendered.select(
        "pin_id",
        "as_of",
        F.col("__r.text").alias("text"),
        F.lit(template_version).alias("template_version"),
        F.struct(*[F.col(f"__r.{p}").alias(p) for p in PARTS]).alias("parts"),
        "lang",
    )
