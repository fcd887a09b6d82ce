"""BM25 of a query against pin text, with corpus statistics from features/pin_text.

Okapi BM25 with Lucene's non-negative idf, ln(1 + (N - df + 0.5) / (df + 0.5)),
so a term present in most pins adds little but never subtracts. Query terms
count once each (queries are short; a repeated word is rarely a stronger
request). Everything is Spark joins on (pin_id, term): no per-pair Python, and
the corpus statistics cost one pass over the pin tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class Corpus:
    """Per-pin term frequencies and document lengths, per-term df, and N and mean length per corpus.

    `by` names the columns that tell corpora apart (the corpus day when one
    pass scores several days, each against the pin text of its own day); empty
    for a single corpus.
    """

    term_freqs: DataFrame  # *by, pin_id, term, tf
    doc_lengths: DataFrame  # *by, pin_id, dl
    doc_freqs: DataFrame  # *by, term, df
    sizes: DataFrame  # *by, n_docs, avg_doc_len
    by: tuple[str, ...] = ()

    def size(self) -> tuple[int, float]:
        """(N, mean length) of a single corpus, for tests and logs."""
        row = self.sizes.collect()
        if len(row) != 1:
            raise ValueError(f"size() needs exactly one corpus, this one has {len(row)}")
        return int(row[0]["n_docs"]), float(row[0]["avg_doc_len"] or 0.0)


def corpus_stats(pin_tokens: DataFrame, by: Sequence[str] = ()) -> Corpus:
    """(*by, pin_id, tokens array<string>) -> Corpus; one row per pin (per `by` value) is expected."""
    keys = list(by)
    term_freqs = (
        pin_tokens.select(*keys, "pin_id", F.explode("tokens").alias("term")).groupBy(*keys, "pin_id", "term").agg(
            F.count(F.lit(1)).cast("double").alias("tf")
        )
    )
    doc_lengths = pin_tokens.select(*keys, "pin_id", F.size("tokens").cast("double").alias("dl"))
    doc_freqs = term_freqs.groupBy(*keys, "term").agg(F.count(F.lit(1)).cast("double").alias("df"))
    sizes = doc_lengths.groupBy(*keys).agg(
        F.count(F.lit(1)).cast("double").alias("n_docs"), F.avg("dl").alias("avg_doc_len")
    )
    return Corpus(term_freqs, doc_lengths, doc_freqs, sizes, tuple(keys))


def bm25_scores(pairs: DataFrame, corpus: Corpus, k1: float = 1.2, b: float = 0.75) -> DataFrame:
    """(query, pin_id, *corpus.by, query_tokens) -> (query, pin_id, *corpus.by, bm25); 0.0 when no query term is in the pin."""
    by = list(corpus.by)
    pair_keys = ["query", "pin_id", *by]
    keys = pairs.select(*pair_keys, "query_tokens").dropDuplicates(pair_keys)
    terms = keys.select(*pair_keys, F.explode(F.array_distinct("query_tokens")).alias("term"))
    idf = F.log(F.lit(1.0) + (F.col("n_docs") - F.col("df") + F.lit(0.5)) / (F.col("df") + F.lit(0.5)))
    avgdl = F.greatest(F.coalesce(F.col("avg_doc_len"), F.lit(0.0)), F.lit(1e-9))
    norm = F.lit(k1) * (F.lit(1.0 - b) + F.lit(b) * F.col("dl") / avgdl)
    scored = (
        terms.join(corpus.term_freqs, [*by, "pin_id", "term"])
        .join(corpus.doc_freqs, [*by, "term"])
        .join(corpus.doc_lengths, [*by, "pin_id"])
    )
    sizes = F.broadcast(corpus.sizes)
    scored = scored.join(sizes, by) if by else scored.crossJoin(sizes)
    term_scores = scored.select(*pair_keys, (idf * F.col("tf") * F.lit(k1 + 1.0) / (F.col("tf") + norm)).alias("s"))
    summed = term_scores.groupBy(*pair_keys).agg(F.sum("s").alias("bm25"))
    return keys.select(*pair_keys).join(summed, pair_keys, "left").select(
        *pair_keys, F.coalesce(F.col("bm25"), F.lit(0.0)).alias("bm25")
    )
