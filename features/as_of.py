"""The one as-of rule for per-pin snapshot tables (features/pin_text, features/pin_embeddings).

Every reader of a pin's text or embeddings for a day goes through `pin_as_of`,
so the teacher is trained, labels, and the student learns from text chosen by
the same rule:

1. **The newest snapshot on or before the day** (`as_of <= day`; a snapshot of
   the day itself counts). A human label collected on day D is joined with the
   text the labeller could have seen; an impression of day D is scored with the
   text that existed on D. A later snapshot would leak the future (engagement
   tokens gathered after D) and is never chosen while an earlier one exists.
2. **Within `lookback_days`** when given (`as_of >= day - lookback_days`): the
   labelling job passes `labelling.pin_text_lookback_days`, so a pin whose
   newest text is older than that is treated as having none, per row.
3. **No such snapshot -> no row.** The caller's left join leaves the columns
   null and the caller gives the row a reason: jobs quarantine it, training
   data drops it and counts it.

One explicit exception, `before_history="earliest"`, for human labels only:
a label older than the pin's *first* snapshot (the warehouse's pin-text
history starts after the label; no earlier text will ever exist) takes that
first snapshot, flagged `text_as_of_after_day` so the job counts and logs
it. Rule 1 still holds whenever the pin has any snapshot on or before the day.
"""

from __future__ import annotations

from typing import Literal, Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

AS_OF = "text_as_of"
AFTER_DAY = "text_as_of_after_day"
BeforeHistory = Literal["reject", "earliest"]


def pin_as_of(
    events: DataFrame,
    snapshots: DataFrame,
    columns: Sequence[str],
    *,
    day_col: str = "ds",
    lookback_days: int | None = None,
    before_history: BeforeHistory = "reject",
) -> DataFrame:
    """Distinct (pin_id, day) of `events` -> + `text_as_of`, `columns`, `text_as_of_after_day`.

    `snapshots` has pin_id, as_of and `columns`. The day is returned as a
    yyyy-MM-dd string under `day_col`. Works on the distinct (pin_id, day)
    pairs, so the range join is as small as the set of pins shown, not the
    number of events. (pin_id, day) pairs with no snapshot under the rule are
    absent from the result.
    """
    if before_history not in ("reject", "earliest"):
        raise ValueError(f"before_history must be 'reject' or 'earliest', not {before_history!r}")
    day, as_of = F.col(day_col), F.col(AS_OF)
    wanted = events.select("pin_id", F.col(day_col).cast("string").alias(day_col)).distinct()
    snaps = snapshots.select("pin_id", F.col("as_of").cast("string").alias(AS_OF), *columns)
    candidates = wanted.join(snaps, "pin_id")
    usable = as_of <= day
    if lookback_days is not None:
        usable = usable & (as_of >= F.date_format(F.date_sub(F.to_date(day), lookback_days), "yyyy-MM-dd"))
    if before_history == "earliest":
        first = F.min(as_of).over(Window.partitionBy("pin_id", day_col))
        candidates = candidates.withColumn("__first", first)
        usable = usable | ((F.col("__first") > day) & (as_of == F.col("__first")))
    newest = Window.partitionBy("pin_id", day_col).orderBy(as_of.desc())
    return (
        candidates.where(usable)
        .withColumn("__rank", F.row_number().over(newest))
        .where(F.col("__rank") == 1)
        .select("pin_id", day_col, AS_OF, *columns, (as_of > day).alias(AFTER_DAY))
    )


def pins_on(snapshots: DataFrame, day: str, columns: Sequence[str]) -> DataFrame:
    """(pin_id, `columns`) of every pin with a snapshot on or before `day`, by `pin_as_of`'s rule.

    The whole catalogue as of one day (an embedding snapshot, a BM25 corpus).
    """
    earlier = snapshots.where(F.col("as_of").cast("string") <= F.lit(day))
    pins = earlier.select("pin_id").distinct().withColumn("__day", F.lit(day))
    return pin_as_of(pins, earlier, columns, day_col="__day").select("pin_id", *columns)
