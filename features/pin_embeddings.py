"""features/pin_embeddings: a text embedding and a graph embedding per pin and as_of date.

The text embedding is the sentence embedding of the assembled pin text; it is
recomputed only for pins whose text changed since their last embedding (the
text's SHA-256 is kept), so a daily run embeds one day's changes, not the
catalogue. The graph embedding is the PinSage analogue: implicit-feedback ALS
over the pin x board co-curation matrix (a pin saved to a board is a 1), whose
item factors place pins that share boards close together. Pins on no board
get a zero vector, which the student reads as "no graph signal". The graph is
refitted every `graph_refresh_days`; the snapshots in between reuse the last
fit, and `graph_as_of` says which fit a row's vector comes from.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.as_of import pins_on


def latest_text(pin_text: DataFrame, as_of: str) -> DataFrame:
    """(pin_id, text[, lang]) of every pin as of the date (`features.as_of`: newest on or before it)."""
    extra = ["lang"] if "lang" in pin_text.columns else []
    return pins_on(pin_text, as_of, ["text", *extra])


def text_embeddings(
    texts: DataFrame, previous: DataFrame | None, embed: Callable[[Column], Column]
) -> DataFrame:
    """(pin_id, text) -> (pin_id, text_sha256, text_embedding), reusing unchanged embeddings.

    `previous` holds earlier (pin_id, text_sha256, text_embedding) rows; a pin
    whose text hash is unchanged keeps its vector instead of being re-embedded.
    """
    hashed = texts.select("pin_id", "text", F.sha2(F.coalesce(F.col("text"), F.lit("")), 256).alias("text_sha256"))
    # Adaptive execution folds a few thousand short texts into one partition, and one task
    # embeds on one core; an explicit repartition (which AQE keeps) spreads the model work
    # over every core Spark has.
    parallelism = texts.sparkSession.sparkContext.defaultParallelism
    if previous is None:
        return hashed.repartition(parallelism).select(
            "pin_id", "text_sha256", embed(F.col("text")).alias("text_embedding")
        )
    prev = previous.select("pin_id", "text_sha256", "text_embedding").dropDuplicates(["pin_id", "text_sha256"])
    reused = hashed.join(prev, ["pin_id", "text_sha256"], "inner").select("pin_id", "text_sha256", "text_embedding")
    fresh = hashed.join(prev, ["pin_id", "text_sha256"], "left_anti").repartition(parallelism).select(
        "pin_id", "text_sha256", embed(F.col("text")).alias("text_embedding")
    )
    return reused.unionByName(fresh)


def graph_embeddings(
    board_pins: DataFrame, as_of: str, rank: int, iterations: int = 10, reg: float = 0.05, alpha: float = 10.0,
    seed: int = 17, checkpoint_interval: int = 5,
) -> DataFrame:
    """(pin_id, graph_embedding) from implicit ALS over boards saved on or before as_of.

    Each ALS iteration adds a level to the factors' lineage, and a task carries its
    lineage: from about 25 iterations (10 under the C1 compiler, whose frames are
    larger) deserialising one overflows an executor thread's stack. Every
    `checkpoint_interval` iterations ALS checkpoints the factors, which cuts the
    lineage, but only in a SparkContext with a checkpoint folder: the job sets one.
    """
    from pyspark.ml.recommendation import ALS

    edges = (
        board_pins.where(F.col("saved_ds") <= F.lit(as_of))
        .select("board_id", "pin_id")
        .where(F.col("board_id").isNotNull() & F.col("pin_id").isNotNull())
        .distinct()
    )
    # ALS wants integer ids; a dense rank keeps them stable for a given graph.
    boards = edges.select("board_id").distinct().withColumn(
        "board_idx", F.dense_rank().over(Window.orderBy("board_id")).cast("int") - 1
    )
    pins = edges.select("pin_id").distinct().withColumn(
        "pin_idx", F.dense_rank().over(Window.orderBy("pin_id")).cast("int") - 1
    )
    ratings = edges.join(boards, "board_id").join(pins, "pin_id").select(
        "board_idx", "pin_idx", F.lit(1.0).alias("rating")
    )
    als = ALS(
        rank=rank, maxIter=iterations, regParam=reg, alpha=alpha, implicitPrefs=True, seed=seed,
        userCol="board_idx", itemCol="pin_idx", ratingCol="rating", nonnegative=False,
        checkpointInterval=checkpoint_interval,
    )
    model = als.fit(ratings)
    factors = model.itemFactors.select(F.col("id").alias("pin_idx"), F.col("features").alias("graph_embedding"))
    return pins.join(factors, "pin_idx").select("pin_id", "graph_embedding")


def reusable_graph_as_of(fits: Iterable[str], as_of: str, refresh_days: int) -> str | None:
    """The ALS fit a snapshot may reuse: the newest fit on or before as_of, younger than refresh_days.

    None means fit the graph anew for this snapshot. A fit is never reused
    backwards in time (a later graph would leak saves from after as_of).
    """
    day = dt.date.fromisoformat(as_of)
    usable = [f for f in fits if f <= as_of and (day - dt.date.fromisoformat(f)).days < refresh_days]
    return max(usable) if usable else None


def assemble_pin_embeddings(
    text_emb: DataFrame, graph_emb: DataFrame, as_of: str, graph_dim: int, graph_as_of: str | None = None
) -> DataFrame:
    """One features/pin_embeddings partition: every pin with text; zero graph vector when off-graph."""
    zeros = F.array_repeat(F.lit(0.0).cast("float"), graph_dim)
    return text_emb.join(graph_emb.select("pin_id", "graph_embedding"), "pin_id", "left").select(
        "pin_id",
        F.lit(as_of).alias("as_of"),
        "text_sha256",
        "text_embedding",
        F.coalesce(F.col("graph_embedding"), zeros).alias("graph_embedding"),
        F.lit(graph_as_of or as_of).alias("graph_as_of"),
    )
