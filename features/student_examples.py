"""features/student_examples: the documented hand-off table between Spark and PyTorch.

One row per (query, pin_id, ds, source), partitioned by ds. `source` says where
the row comes from:

- `impression`: a search impression of that day (raw/impressions), usually
  with the teacher's soft label;
- `human_label`: a human-labelled pair (raw/human_labels, raters aggregated by
  median), at ds = its labelled day, with the teacher's probabilities when the
  teacher scored that pair on some day.

Schema (the contract `modeling/distillation.py` reads; add columns freely):

| column | type | meaning |
|---|---|---|
| query, pin_id, ds | string | key (ds = yyyy-MM-dd partition) |
| source | string | `impression` or `human_label` |
| split | string | train / validation / test (features.splits, by query) |
| sample_key | double | uniform in [0, 1) from a 53-bit hash of the key (`sample_key`): stable subsampling, distinct per row in practice |
| interest_type, query_lang | string | query categoricals |
| shopping_intent | double | in [0, 1] |
| n_terms | int | tokens in the query |
| query_embedding, pin_text_embedding | array<float>[384] | MiniLM, unit length |
| pin_graph_embedding | array<float>[graph_embedding_dim] | ALS over pin x board |
| bm25 | double | query vs pin text, corpus as of the day |
| title_match_frac, text_match_frac | double | share of query terms in title / whole text |
| query_pin_cosine | double | cosine of the two text embeddings |
| pair_impressions_before_ds, pin_impressions_before_ds | long | history counts (days < ds) |
| pair_engagement_rate_smoothed, pin_engagement_rate_smoothed | double | Beta-smoothed rates |
| teacher_probs | array<float>[5] or null | teacher softmax over L1..L5 |
| teacher_version | string or null | which teacher |
| human_label | int or null | 1..5 where the pair has a human label |

Pin features are taken as of the row's ds by `features.as_of.pin_as_of`'s rule
(newest features/pin_text and features/pin_embeddings with as_of <= ds); an
impression with none is quarantined ("no pin text", as labelling does). A
human-labelled row older than its pin's first snapshot takes that snapshot
(`before_history="earliest"`, the teacher's training rows do the same) and the
job counts those rows (`text_after_day`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.as_of import AFTER_DAY, AS_OF, BeforeHistory, pin_as_of
from features.bm25 import Corpus, bm25_scores
from features.interactions import cosine, engagement_features, match_fraction
from features.splits import split_column
from searchrel.core.config import Config
from searchrel.core.quarantine import reason_column

KEY = ("query", "pin_id", "ds")
SOURCE_IMPRESSION = "impression"
SOURCE_HUMAN = "human_label"

REASON_EMPTY_QUERY = "empty query"
REASON_DUPLICATE = "duplicate example (query, pin_id, ds, source)"
REASON_NO_QUERY_FEATURES = "no query features"
REASON_NO_PIN_TEXT = "no pin text"
REASON_NO_PIN_EMBEDDING = "no pin embedding"

CATEGORICAL = ("interest_type", "query_lang")
DENSE = (
    "shopping_intent",
    "n_terms",
    "bm25",
    "title_match_frac",
    "text_match_frac",
    "query_pin_cosine",
    "pair_impressions_before_ds",
    "pair_engagement_rate_smoothed",
    "pin_impressions_before_ds",
    "pin_engagement_rate_smoothed",
)
EMBEDDINGS = ("query_embedding", "pin_text_embedding", "pin_graph_embedding")


@dataclass(frozen=True)
class ExampleSettings:
    val_fraction: float
    test_fraction: float
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    engagement_window_days: int = 730
    engagement_prior: float = 0.1
    engagement_prior_strength: float = 20.0

    @classmethod
    def from_config(cls, config: Config) -> "ExampleSettings":
        """The settings of a run: the split fractions are the teacher's, so a query is in one split for both."""
        s = config.student
        return cls(
            val_fraction=config.teacher.val_fraction, test_fraction=config.teacher.test_fraction, bm25_k1=s.bm25_k1,
            bm25_b=s.bm25_b, engagement_window_days=s.engagement_window_days, engagement_prior=s.engagement_prior,
            engagement_prior_strength=s.engagement_prior_strength,
        )


def human_label_pairs(human_labels: DataFrame) -> DataFrame:
    """(query, pin_id, ds=latest labelled day, human_label=median over raters, n_raters)."""
    return human_labels.where(F.col("label").between(1, 5)).groupBy("query", "pin_id").agg(
        F.percentile_approx("label", 0.5).cast("int").alias("human_label"),
        F.count(F.lit(1)).cast("int").alias("n_raters"),
        F.max(F.col("labeled_ds").cast("string")).alias("ds"),
    )


def sample_key(*columns: str) -> Column:
    """A double uniform in [0, 1) from the row key's 64-bit hash, keeping its top 53 bits.

    The training caps keep the rows below a bound on this key, so their exactness rests on keys
    being distinct: 53 bits (a double's mantissa) make a shared key a ~n**2 / 2**54 chance (1e-5
    at a million rows). A hash reduced modulo 1,000,003, as before, shared keys among a few
    hundred thousand rows by the thousands.
    """
    return F.shiftrightunsigned(F.xxhash64(*columns), 11).cast("double") / F.lit(float(2**53))


def latest_teacher_scores(teacher_scores: DataFrame, by_day: bool, version: str | None = None) -> DataFrame:
    """The newest teacher score per (query, pin_id, ds) or, by_day=False, per (query, pin_id).

    `version` keeps one teacher's scores only, so the students of several teachers can be
    compared on one warehouse; pairs that teacher never scored get none.
    """
    keys = ["query", "pin_id", "ds"] if by_day else ["query", "pin_id"]
    if version is not None:
        teacher_scores = teacher_scores.where(F.col("teacher_version") == version)
    w = Window.partitionBy(*keys).orderBy(F.col("scored_at").desc(), F.col("teacher_version").desc())
    return (
        teacher_scores.withColumn("__r", F.row_number().over(w))
        .where("__r = 1")
        .select(*keys, F.col("probs").alias("teacher_probs"), "teacher_version")
    )


def _blank(col: Column) -> Column:
    return col.isNull() | (F.length(F.trim(col)) == 0)


def tagged_examples(
    base: DataFrame,
    query_features: DataFrame,
    pin_text: DataFrame,
    pin_embeddings: DataFrame,
    teacher: DataFrame,
    human: DataFrame,
    tokenize,
    before_history: BeforeHistory = "reject",
) -> DataFrame:
    """Rows of one source joined with every input they need, and a `reason` (null when usable).

    One frame rather than (good, bad), so a job can cache this join once: the
    rejected rows, the usable rows and the BM25 and engagement features computed
    from them all read it, and without the cache each would re-run the as-of
    joins and the tokenizer.

    base: (query, pin_id, ds, source[, corpus.by columns]); teacher:
    `latest_teacher_scores` keyed by (query, pin_id, ds) or (query, pin_id);
    human: `human_label_pairs`; tokenize: the shared tokenizer's Spark column
    function; before_history: `features.as_of.pin_as_of`'s, "earliest" for
    human-labelled rows only. `text_as_of_after_day` says which rows took a
    snapshot after their day. The usable rows go on to `example_features`.
    """
    by_key = Window.partitionBy("query", "pin_id", "ds", "source").orderBy(F.col("query"))
    base = base.withColumn("ds", F.col("ds").cast("string")).withColumn("__dup", F.row_number().over(by_key) > 1)
    pin_days = base.select("pin_id", "ds").distinct()
    texts = pin_as_of(
        pin_days,
        pin_text.select("pin_id", "as_of", "text", F.col("parts.title").alias("title"), F.col("lang").alias("pin_lang")),
        ["text", "title", "pin_lang"],
        before_history=before_history,
    )
    texts = texts.select(
        "pin_id",
        "ds",
        "text",
        tokenize(F.col("title"), F.col("pin_lang")).alias("title_tokens"),
        tokenize(F.col("text"), F.col("pin_lang")).alias("text_tokens"),
        AFTER_DAY,
    )
    embs = pin_as_of(pin_days, pin_embeddings, ["text_embedding", "graph_embedding"],
                     before_history=before_history).drop(AS_OF, AFTER_DAY)
    qf = query_features.select(
        "query",
        F.col("embedding").alias("query_embedding"),
        "interest_type",
        F.col("lang").alias("query_lang"),
        "shopping_intent",
        "n_terms",
        F.lit(True).alias("__has_qf"),
    )
    teacher_keys = [c for c in ("query", "pin_id", "ds") if c in teacher.columns]
    joined = (
        base.join(qf, "query", "left")
        .join(texts, ["pin_id", "ds"], "left")
        .join(embs, ["pin_id", "ds"], "left")
        .join(teacher, teacher_keys, "left")
        .join(human.select("query", "pin_id", "human_label"), ["query", "pin_id"], "left")
    )
    reason = reason_column([
        (REASON_EMPTY_QUERY, _blank(F.col("query"))),
        (REASON_DUPLICATE, F.col("__dup")),
        (REASON_NO_QUERY_FEATURES, F.col("__has_qf").isNull()),
        (REASON_NO_PIN_TEXT, F.col("text").isNull()),
        (REASON_NO_PIN_EMBEDDING, F.col("text_embedding").isNull()),
    ])
    return joined.withColumn("reason", reason).drop("__dup", "__has_qf")


def split_examples(tagged: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(usable joined rows, rejected rows: query, pin_id, ds, source, reason) of a `tagged_examples` frame."""
    good = tagged.where(F.col("reason").isNull()).drop("reason")
    rejected = tagged.where(F.col("reason").isNotNull()).select("query", "pin_id", "ds", "source", "reason")
    return good, rejected


def example_features(
    good: DataFrame, daily_engagement: DataFrame, corpus: Corpus, tokenize, settings: ExampleSettings
) -> DataFrame:
    """Usable joined rows -> the documented student_examples rows (BM25, term match, cosine, engagement)."""
    query_tokens = tokenize(F.col("query"), F.col("query_lang"))
    good = good.withColumn("query_tokens", query_tokens)
    bm25 = bm25_scores(
        good.select("query", "pin_id", *corpus.by, "query_tokens"), corpus, settings.bm25_k1, settings.bm25_b
    )
    engagement = engagement_features(
        good.select(*KEY), daily_engagement, settings.engagement_window_days, settings.engagement_prior,
        settings.engagement_prior_strength,
    )
    return (
        good.join(bm25, ["query", "pin_id", *corpus.by], "left")
        .join(engagement, list(KEY), "left")
        .select(
            "query",
            "pin_id",
            "ds",
            "source",
            split_column(F.col("query"), settings.val_fraction, settings.test_fraction).alias("split"),
            sample_key("query", "pin_id", "ds", "source").alias("sample_key"),
            "interest_type",
            "query_lang",
            F.col("shopping_intent").cast("double").alias("shopping_intent"),
            F.col("n_terms").cast("int").alias("n_terms"),
            F.col("query_embedding").cast("array<float>").alias("query_embedding"),
            F.col("text_embedding").cast("array<float>").alias("pin_text_embedding"),
            F.col("graph_embedding").cast("array<float>").alias("pin_graph_embedding"),
            F.coalesce(F.col("bm25"), F.lit(0.0)).alias("bm25"),
            match_fraction(F.col("query_tokens"), F.col("title_tokens")).alias("title_match_frac"),
            match_fraction(F.col("query_tokens"), F.col("text_tokens")).alias("text_match_frac"),
            cosine(F.col("query_embedding"), F.col("text_embedding")).alias("query_pin_cosine"),
            "pair_impressions_before_ds",
            "pair_engagement_rate_smoothed",
            "pin_impressions_before_ds",
            "pin_engagement_rate_smoothed",
            F.col("teacher_probs").cast("array<float>").alias("teacher_probs"),
            "teacher_version",
            F.col("human_label").cast("int").alias("human_label"),
        )
    )

