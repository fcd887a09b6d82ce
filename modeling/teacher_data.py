"""The teacher's training rows: human labels joined with the pin text as of the label date, split.

Pure DataFrame transforms (no session, no paths). The pin text comes from
features/pin_text, whose `parts` struct is kept so that any subset of parts can
be re-rendered with `features.text_template.render_pin_text` (the paper's
enriched-text ablation) in the driver, where the rows are few (human labels).
When features/pin_text has not been built, `labelled_raw_pins` gives title +
description from raw/pins in the same template.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.as_of import AFTER_DAY, AS_OF, pin_as_of
from features.splits import TEST, TRAIN, VALIDATION, split_column

log = logging.getLogger(__name__)

_BUCKETS = 10_000


def assign_split(
    df: DataFrame, how: str, val_fraction: float, test_fraction: float, seed: int
) -> DataFrame:
    """Add `split`: by query hash (no query in two splits) or, with how="rows", by a seeded row hash.

    The row split exists only to compare with public benchmarks that used one
    (Home Depot's Kaggle split shares queries between train and test).
    """
    if how == "query":
        return df.withColumn("split", split_column(F.col("query"), val_fraction, test_fraction))
    if how != "rows":
        raise ValueError(f"unknown split {how!r}")
    bucket = F.pmod(F.xxhash64(F.col("query"), F.col("pin_id"), F.lit(seed)), F.lit(_BUCKETS))
    return df.withColumn(
        "split",
        F.when(bucket < test_fraction * _BUCKETS, F.lit(TEST))
        .when(bucket < (test_fraction + val_fraction) * _BUCKETS, F.lit(VALIDATION))
        .otherwise(F.lit(TRAIN)),
    )


def _label_columns(labels: DataFrame) -> list[Any]:
    cols = [F.col("l.query").alias("query"), F.col("l.pin_id").alias("pin_id"), F.col("l.label").cast("int").alias("label"),
            F.col("l.labeled_ds").cast("string").alias("labeled_ds")]
    if "raw_score" in labels.columns:
        cols.append(F.col("l.raw_score").cast("double").alias("raw_score"))
    return cols


def labelled_pin_text(labels: DataFrame, pin_text: DataFrame) -> DataFrame:
    """Each label row with its pin text as of `labeled_ds`, by `features.as_of.pin_as_of`'s rule.

    The newest snapshot on or before the label date: the text the rater could
    have seen, and never a later one while an earlier exists. A label older
    than its pin's first snapshot (the demo builds pin text only for its last
    days, after every simulated label) takes that first snapshot
    (`before_history="earliest"`); `text_as_of_after_label` marks those rows so
    the job counts and logs them. Label rows whose pin has no snapshot at all
    are dropped (the job counts them).
    """
    part_names = [f.name for f in pin_text.schema["parts"].dataType.fields]
    days = labels.select("pin_id", F.col("labeled_ds").cast("string").alias("labeled_ds"))
    texts = pin_as_of(days, pin_text, ["template_version", "parts"], day_col="labeled_ds",
                      before_history="earliest")
    on = (F.col("l.pin_id") == F.col("t.pin_id")) & (F.col("l.labeled_ds").cast("string") == F.col("t.labeled_ds"))
    joined = labels.alias("l").join(texts.alias("t"), on, "inner")
    return joined.select(
        *_label_columns(labels),
        F.col(f"t.{AS_OF}").alias("text_as_of"),
        F.col(f"t.{AFTER_DAY}").alias("text_as_of_after_label"),
        F.col("t.template_version").alias("template_version"),
        *[F.col("t.parts")[name].alias(f"part_{name}") for name in part_names],
    )


def labelled_raw_pins(labels: DataFrame, pins: DataFrame) -> DataFrame:
    """Fallback before features/pin_text exists: title and description from raw/pins."""
    desc = F.col("p.description") if "description" in pins.columns else F.lit(None).cast("string")
    return labels.alias("l").join(pins.alias("p"), F.col("l.pin_id") == F.col("p.pin_id"), "inner").select(
        *_label_columns(labels),
        F.lit(None).cast("string").alias("text_as_of"),
        F.lit(False).alias("text_as_of_after_label"),
        F.lit("raw_pins").alias("template_version"),
        F.col("p.title").alias("part_title"),
        desc.alias("part_description"),
    )


def render_texts(frame: pd.DataFrame, include: Sequence[str], budgets: dict[str, int] | None = None) -> list[str]:
    """The pin text of each row from its `part_*` columns, rendered with only the parts in `include`."""
    from features.text_template import render_pin_text, truncate_parts

    names = [c[len("part_"):] for c in frame.columns if c.startswith("part_")]
    out = []
    for record in frame[[f"part_{n}" for n in names]].itertuples(index=False, name=None):
        parts = {n: (v if isinstance(v, str) else None) for n, v in zip(names, record)}
        if budgets is not None:
            parts = truncate_parts(parts, budgets)
        out.append(render_pin_text(parts, include=include))
    return out


def check_parts(include: Iterable[str]) -> list[str]:
    """The parts, validated against the template's names (a typo is an error, not less text)."""
    from features.text_template import PARTS

    chosen = [p.strip() for p in include if p.strip()]
    unknown = [p for p in chosen if p not in PARTS]
    if unknown or not chosen:
        raise ValueError(f"unknown pin text part(s) {unknown}; known: {', '.join(PARTS)}")
    return chosen
