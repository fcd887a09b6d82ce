"""What the teacher is asked to score: impressions joined with their pin's text as of that day.

Pure DataFrame transforms (no session, no paths) used by `spark_jobs/label_impressions.py`.
The as-of join (`features.as_of.pin_as_of`, the rule every pin-text reader shares) takes,
for every impression, the newest `features/pin_text` row whose `as_of` is on or before
the impression's `ds` and within `labelling.pin_text_lookback_days`, so a backfill
scores a day with the text that existed that day and never with text assembled later.
Rows the teacher cannot score are returned separately with a reason, so the job can
quarantine them and the counts reconcile.
"""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.as_of import AFTER_DAY, AS_OF, pin_as_of
from searchrel.core.dates import ds_predicate
from searchrel.core.quarantine import reason_column

KEY: tuple[str, ...] = ("query", "pin_id", "ds")
SCORE_KEY: tuple[str, ...] = (*KEY, "teacher_version")

REASON_EMPTY_QUERY = "empty query"
REASON_DUPLICATE = "duplicate impression (query, pin_id, ds)"
REASON_NO_PIN_TEXT = "no pin text as of ds"
# What the as-of join adds to an impression row.
TEXT_COLUMNS: tuple[str, ...] = ("pin_text_as_of", "text", "pin_text_template_version")


def _blank(col: Column) -> Column:
    return col.isNull() | (F.length(F.trim(col)) == 0)


def render_parts(parts: Column, include: Sequence[str]) -> Column:
    """The template's rendering of only the `include`d parts (a teacher trained on a subset)."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    from features.text_template import render_pin_text

    chosen = list(include)

    @pandas_udf("string")  # type: ignore[call-overload]
    def render(frame: pd.DataFrame) -> pd.Series:
        return pd.Series([render_pin_text(row, include=chosen) for row in frame.to_dict("records")])

    return render(parts)


def texts_as_of(
    impressions: DataFrame, pin_text: DataFrame, parts: Sequence[str] | None = None,
    lookback_days: int | None = None,
) -> DataFrame:
    """Per (pin_id, ds) of the impressions, the pin text by `features.as_of.pin_as_of`'s rule.

    With `parts` (the teacher's `parts` from teacher.json) other than the full
    template, the text is re-rendered from the stored parts so the teacher sees
    what it was trained on.
    """
    from features.text_template import PARTS

    subset = parts is not None and tuple(parts) != PARTS
    if subset and "parts" not in pin_text.columns:
        raise ValueError(f"the teacher reads parts {list(parts or [])} but pin_text has no 'parts' column")

    texts = pin_text.select("pin_id", "as_of", "text", F.col("template_version").alias("pin_text_template_version"),
                            *(["parts"] if subset else []))
    chosen = pin_as_of(impressions, texts, ["text", "pin_text_template_version", *(["parts"] if subset else [])],
                       lookback_days=lookback_days).withColumnRenamed(AS_OF, "pin_text_as_of").drop(AFTER_DAY)
    if subset:
        chosen = chosen.withColumn("text", render_parts(F.col("parts"), parts or [])).drop("parts")
    return chosen


def tagged_inputs(
    impressions: DataFrame, pin_text: DataFrame, start: str, end: str, parts: Sequence[str] | None = None,
    lookback_days: int | None = None,
) -> DataFrame:
    """Impressions in [start, end] with their pin text and a `reason` (null when scorable).

    One frame rather than two, so the job can cache the as-of join once and take every
    count it reconciles from it. Columns: the impression columns, then TEXT_COLUMNS,
    then `reason`. Rules in order: empty query, duplicate key (the first by position is
    kept), no pin text as of ds (`features.as_of`: on or before ds, within
    `lookback_days` when given).
    """
    window = impressions.where(ds_predicate(start, end)).withColumn("ds", F.col("ds").cast("string"))
    cols = window.columns
    by_key = Window.partitionBy(*KEY).orderBy(F.col("position").asc_nulls_last()) if "position" in cols \
        else Window.partitionBy(*KEY).orderBy(*KEY)
    texts = texts_as_of(window, pin_text, parts, lookback_days)
    joined = window.withColumn("_dup", F.row_number().over(by_key) > 1).join(texts, ["pin_id", "ds"], "left")
    reason = reason_column([
        (REASON_EMPTY_QUERY, _blank(F.col("query"))),
        (REASON_DUPLICATE, F.col("_dup")),
        (REASON_NO_PIN_TEXT, _blank(F.col("text"))),
    ])
    return joined.select(*cols, *TEXT_COLUMNS, reason.alias("reason"))


def split_inputs(tagged: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(scorable, rejected) rows of a `tagged_inputs` frame.

    Scorable rows: query, pin_id, ds, text, lang, pin_text_as_of, pin_text_template_version.
    Rejected rows carry every impression column plus `reason`.
    """
    impression_cols = [c for c in tagged.columns if c not in TEXT_COLUMNS and c != "reason"]
    keep = [*KEY, "text", *(["lang"] if "lang" in impression_cols else []), "pin_text_as_of",
            "pin_text_template_version"]
    good = tagged.where(F.col("reason").isNull()).select(*keep)
    bad = tagged.where(F.col("reason").isNotNull()).select(*impression_cols, "reason")
    return good, bad


def labelling_inputs(
    impressions: DataFrame, pin_text: DataFrame, start: str, end: str, parts: Sequence[str] | None = None,
    lookback_days: int | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Impressions in [start, end] with their pin text, split into (scorable, rejected)."""
    return split_inputs(tagged_inputs(impressions, pin_text, start, end, parts, lookback_days))


def pending(pairs: DataFrame, scored: DataFrame | None, teacher_version: str) -> DataFrame:
    """The pairs this teacher version has not scored yet (what makes a rerun resume, or a no-op)."""
    if scored is None:
        return pairs
    done = scored.where(F.col("teacher_version") == teacher_version).select(*KEY)
    return pairs.join(done, list(KEY), "left_anti")


def with_chunk(pairs: DataFrame, n_chunks: int) -> DataFrame:
    """Add `chunk` in [0, n_chunks): a stable hash of the key, so chunks are disjoint and even."""
    return pairs.withColumn("chunk", F.pmod(F.xxhash64(*KEY), F.lit(max(1, n_chunks))).cast("int"))
