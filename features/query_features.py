"""features/query_features: what the student knows about a query on its own.

One row per query (key `query`, no partition): the sentence embedding, an
interest type (the nearest interest-category centroid in embedding space; the
centroids are the mean embeddings of a few phrases per category defined
below: simple, inspectable, no training data needed), a shopping-intent score,
the language and the number of terms. Queries are embedded once: a daily run
only computes the queries it has not seen (`new_queries`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

# Interest categories, each described by a few phrases; the centroid of their
# embeddings is the category's point in embedding space.
INTEREST_CATEGORIES: dict[str, list[str]] = {
    "kitchen": ["kitchen", "kitchen cabinets", "kitchen faucet and sink", "cookware and appliances"],
    "bath": ["bathroom", "bathroom vanity", "shower and bathtub", "toilet"],
    "furniture_decor": ["furniture", "home decor", "living room sofa", "rugs and curtains"],
    "lighting_electrical": ["lighting", "ceiling light fixture", "electrical wiring and outlets", "light bulbs"],
    "tools_hardware": ["power tools", "drill and saw", "hardware screws and bolts", "hand tools"],
    "building_materials": ["building materials", "lumber and drywall", "concrete and cement", "roofing"],
    "flooring_walls": ["flooring", "tile and hardwood floor", "wall paint", "wallpaper"],
    "garden_outdoor": ["garden", "outdoor patio furniture", "plants and flowers", "lawn mower"],
    "plumbing_hvac": ["plumbing pipes", "water heater", "air conditioner", "heating and ventilation"],
    "doors_windows": ["doors", "windows", "door locks and handles", "window blinds"],
    "storage_cleaning": ["storage and organisation", "shelves and closet", "cleaning supplies", "trash can"],
    "fashion_beauty": ["fashion outfits", "clothing and shoes", "makeup and beauty", "hairstyles"],
    "food_recipes": ["recipes", "dinner ideas", "baking desserts", "healthy meals"],
    "travel_lifestyle": ["travel destinations", "wedding ideas", "fitness workout", "quotes and art"],
}

# Words that mark a query as a purchase intent (a few languages of the worlds we simulate).
SHOPPING_TERMS: tuple[str, ...] = (
    "buy", "price", "prices", "cheap", "cheapest", "sale", "deal", "deals", "discount", "shop", "store",
    "order", "coupon", "cost", "affordable", "best", "review", "reviews", "brand", "under", "kit", "set",
    "comprar", "precio", "barato", "oferta", "acheter", "prix", "soldes", "kaufen", "preis", "günstig",
)
SHOPPING_PHRASES: tuple[str, ...] = ("buy online", "best price", "cheap deals on sale", "where to buy", "product reviews")

UNKNOWN_LANG = "und"


def interest_centroids(embed: Callable[[list[str]], np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Category names and their unit-length centroids [n_categories, dim]."""
    names = list(INTEREST_CATEGORIES)
    rows = []
    for name in names:
        vectors = embed(INTEREST_CATEGORIES[name])
        centroid = vectors.mean(axis=0)
        rows.append(centroid / max(float(np.linalg.norm(centroid)), 1e-9))
    return names, np.stack(rows).astype(np.float32)


def shopping_centroid(embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    vectors = embed(list(SHOPPING_PHRASES))
    centroid = vectors.mean(axis=0)
    return (centroid / max(float(np.linalg.norm(centroid)), 1e-9)).astype(np.float32)


def _classify_udf(names: list[str], centroids: np.ndarray, shopping: np.ndarray):
    """pandas UDF embedding -> (interest_type, interest_similarity, shopping_similarity)."""
    schema = T.StructType(
        [
            T.StructField("interest_type", T.StringType()),
            T.StructField("interest_similarity", T.DoubleType()),
            T.StructField("shopping_similarity", T.DoubleType()),
        ]
    )
    name_arr = np.array(names, dtype=object)

    @F.pandas_udf(schema)
    def classify(embeddings: pd.Series) -> pd.DataFrame:
        matrix = np.stack([np.asarray(e, dtype=np.float32) for e in embeddings]) if len(embeddings) else np.zeros(
            (0, centroids.shape[1]), np.float32
        )
        sims = matrix @ centroids.T
        best = sims.argmax(axis=1) if len(matrix) else np.zeros(0, dtype=int)
        return pd.DataFrame(
            {
                "interest_type": name_arr[best],
                "interest_similarity": sims[np.arange(len(matrix)), best].astype(np.float64),
                "shopping_similarity": (matrix @ shopping).astype(np.float64),
            }
        )

    return classify


def query_languages(impressions: DataFrame) -> DataFrame:
    """(query, lang): the language most impressions of the query were served in."""
    counts = impressions.where(F.col("lang").isNotNull()).groupBy("query", "lang").count()
    return counts.groupBy("query").agg(
        F.max_by("lang", F.struct(F.col("count"), F.col("lang"))).alias("lang")
    )


def new_queries(candidates: DataFrame, existing: DataFrame | None) -> DataFrame:
    """Distinct candidate queries (query, lang) not yet in features/query_features."""
    named = candidates.where(F.col("query").isNotNull() & (F.length(F.trim(F.col("query"))) > 0))
    distinct = named.groupBy("query").agg(F.max("lang").alias("lang"))
    if existing is None:
        return distinct
    return distinct.join(existing.select("query"), "query", "left_anti")


def shopping_term_hit(tokens: Column) -> Column:
    """1.0 when any token is a shopping word."""
    terms = F.array(*[F.lit(t) for t in SHOPPING_TERMS])
    return F.when(F.size(F.array_intersect(tokens, terms)) > 0, F.lit(1.0)).otherwise(F.lit(0.0))


def compute_query_features(
    queries: DataFrame,
    embed: Callable[[Column], Column],
    tokenize: Callable[[Column, Column | None], Column],
    names: list[str],
    centroids: np.ndarray,
    shopping: np.ndarray,
) -> DataFrame:
    """(query, lang) -> features/query_features rows.

    `embed` maps a string column to its embedding (the MiniLM pandas UDF in
    production); `tokenize` is the shared tokenizer's Spark twin. The shopping
    intent is the larger of a shopping word being present and the (clipped)
    cosine to the shopping-phrase centroid, so it is in [0, 1].
    """
    lang = F.coalesce(F.col("lang"), F.lit(UNKNOWN_LANG))
    with_emb = queries.select("query", lang.alias("lang")).withColumn("embedding", embed(F.col("query")))
    tokens = tokenize(F.col("query"), F.col("lang"))
    classified = with_emb.withColumn("__c", _classify_udf(names, centroids, shopping)(F.col("embedding")))
    return classified.select(
        "query",
        "embedding",
        F.col("__c.interest_type").alias("interest_type"),
        F.col("__c.interest_similarity").alias("interest_similarity"),
        F.greatest(
            shopping_term_hit(tokens), F.least(F.greatest(F.col("__c.shopping_similarity"), F.lit(0.0)), F.lit(1.0))
        ).alias("shopping_intent"),
        "lang",
        F.size(tokens).cast("int").alias("n_terms"),
    )
