"""features/pin_board_tokens: what people call the boards they save a pin to.

For each snapshot date, the tokens of the titles of every board that holds the
pin (saved on or before that date), weighted by the number of distinct users
whose boards carry the token: one user filing a pin on five boards named
"kitchen" is one vote, five users with one board each are five. A save without
a user_id counts its board as the user. Top K per pin, ties alphabetically.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.quality import null_rule, text_rules
from features.tokenizer import DEFAULT_MIN_LEN, tokenize_column
from features.windows import explode_dates, top_k_array


def board_pin_rules(max_text_chars: int) -> list[tuple[str, Column]]:
    """Rules that send a raw/board_pins row to quarantine."""
    return [
        null_rule("pin_id"),
        null_rule("board_id"),
        null_rule("saved_ds"),
        *text_rules(["board_title"], max_text_chars),
    ]


def pin_board_tokens(board_pins: DataFrame, start: str, end: str, top_k: int, min_len: int = DEFAULT_MIN_LEN) -> DataFrame:
    """Clean board saves -> (pin_id, as_of, tokens array<struct<token, weight>>) for as_of in [start, end]."""
    voter = F.coalesce(F.col("user_id").cast("string"), F.concat(F.lit("board:"), F.col("board_id").cast("string")))
    titled = board_pins.where(F.col("saved_ds") <= end).select(
        "pin_id", voter.alias("voter"), "saved_ds", F.col("board_title")
    )
    # Tokenize each distinct title once; titles repeat across users ("Kitchen", "Home decor").
    titles = titled.select("board_title").distinct().withColumn(
        "token", F.explode(F.array_distinct(tokenize_column("board_title", None, min_len)))
    )
    firsts = (
        titled.join(titles, "board_title")
        .groupBy("pin_id", "token", "voter")
        .agg(F.min("saved_ds").alias("first_ds"))
    )
    first = F.greatest(F.to_date("first_ds"), F.to_date(F.lit(start)))
    per_day = firsts.withColumn(
        "as_of", explode_dates(first, F.to_date(F.lit(end)))
    )
    weighted = per_day.groupBy("pin_id", "as_of", "token").agg(F.count(F.lit(1)).cast("double").alias("weight"))
    return top_k_array(weighted, ["pin_id", "as_of"], "token", "weight", top_k).select("pin_id", "as_of", "tokens")


def pins_saved_on(board_pins: DataFrame, ds: str) -> DataFrame:
    """The pins (pin_id) with a save on `ds`: the only ones whose board tokens can change that day."""
    return board_pins.where(F.col("saved_ds") == ds).select("pin_id").distinct()
