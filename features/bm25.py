"""BM25 of a query against pin text, with corpus statistics from features/pin_text.

Okapi BM25 with Lucene's non-negative idf, ln(1 + (N - df + 0.5) / (df + 0.5)),
so a term present in most pins adds little but never subtracts. Query terms
count once each (queries are short; a repeated word is rarely a stronger
request). Everything is Spark joins on (pin_id, term): no per-pair Python, and
the corpus statistics cost one pass over the pin tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class Corpus:
    """Per-pin term frequencies and document lengths plus corpus-wide df, N and mean length."""

    term_freqs: DataFrame  # pin_id, term, tf
    doc_lengths: DataFrame  # pin_id, dl
    doc_freqs: DataFrame  # term, df
    n_docs: int
    avg_doc_len: float


def corpus_stats(pin_tokens: DataFrame) -> Corpus:
    """(pin_id, tokens array<string>) -> Corpus; one row per pin is expected."""
    term_freqs = (
        pin_tokens.select("pin_id", F.explode("tokens").alias("term")).groupBy("pin_id", "term").agg(
            F.count(F.lit(1)).cast("double").alias("tf")
        )
    )
    doc_lengths = pin_tokens.select("pin_id", F.size("tokens").cast("double").alias("dl"))
    doc_freqs = term_freqs.groupBy("term").agg(F.count(F.lit(1)).cast("double").alias("df"))
    row = doc_lengths.agg(F.count(F.lit(1)).alias("n"), F.avg("dl").alias("avgdl")).collect()[0]
    return Corpus(term_freqs, doc_lengths, doc_freqs, int(row["n"]), float(row["avgdl"] or 0.0))


def bm25_scores(pairs: DataFrame, corpus: Corpus, k1: float = 1.2, b: float = 0.75) -> DataFrame:
    """(query, pin_id, query_tokens) -> (query, pin_id, bm25); 0.0 when no query term is in the pin."""
    keys = pairs.select("query", "pin_id", "query_tokens").dropDuplicates(["query", "pin_id"])
    terms = keys.select("query", "pin_id", F.explode(F.array_distinct("query_tokens")).alias("term"))
    n, avgdl = float(corpus.n_docs), max(corpus.avg_doc_len, 1e-9)
    idf = F.log(F.lit(1.0) + (F.lit(n) - F.col("df") + F.lit(0.5)) / (F.col("df") + F.lit(0.5)))
    norm = F.lit(k1) * (F.lit(1.0 - b) + F.lit(b) * F.col("dl") / F.lit(avgdl))
    term_scores = (
        terms.join(corpus.term_freqs, ["pin_id", "term"])
        .join(corpus.doc_freqs, "term")
        .join(corpus.doc_lengths, "pin_id")
        .select("query", "pin_id", (idf * F.col("tf") * F.lit(k1 + 1.0) / (F.col("tf") + norm)).alias("s"))
    )
    summed = term_scores.groupBy("query", "pin_id").agg(F.sum("s").alias("bm25"))
    return keys.select("query", "pin_id").join(summed, ["query", "pin_id"], "left").select(
        "query", "pin_id", F.coalesce(F.col("bm25"), F.lit(0.0)).alias("bm25")
    )
