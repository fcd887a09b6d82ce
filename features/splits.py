"""The one train/validation/test split, by query, shared by the teacher and the student.

A query's split is a pure function of its normalised text, so it is the same in
Python and in Spark, on every run and every machine: no query is ever in two
splits, and the student is evaluated on exactly the queries the teacher never saw.
"""

from __future__ import annotations

import hashlib
import unicodedata

from pyspark.sql import Column
from pyspark.sql import functions as F

TRAIN, VALIDATION, TEST = "train", "validation", "test"
_BUCKETS = 10_000


def normalise_query(query: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


def _bucket(query: str) -> int:
    digest = hashlib.sha256(normalise_query(query).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % _BUCKETS


def split_for_query(query: str, val_fraction: float, test_fraction: float) -> str:
    """Test takes the lowest buckets, validation the next ones, train the rest."""
    bucket = _bucket(query)
    if bucket < test_fraction * _BUCKETS:
        return TEST
    if bucket < (test_fraction + val_fraction) * _BUCKETS:
        return VALIDATION
    return TRAIN


def split_column(query: Column, val_fraction: float, test_fraction: float) -> Column:
    """Spark twin of `split_for_query`: the same answer for the same query.

    NFKC normalisation has no Spark builtin; queries here are NFKC'd at import,
    so lower-casing and whitespace collapsing suffice in Spark. A test holds the
    two versions equal on mixed-language samples.
    """
    norm = F.trim(F.regexp_replace(F.lower(query), r"\s+", " "))
    bucket = F.conv(F.substring(F.sha2(norm, 256), 1, 8), 16, 10).cast("long") % _BUCKETS
    return (
        F.when(bucket < F.lit(test_fraction * _BUCKETS), F.lit(TEST))
        .when(bucket < F.lit((test_fraction + val_fraction) * _BUCKETS), F.lit(VALIDATION))
        .otherwise(F.lit(TRAIN))
    )
