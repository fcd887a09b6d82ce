"""Derived columns that turn array- and distribution-level rules into column checks.

great-expectations checks columns of scalars. An embedding's dimension, a
probability vector's sum or a day's label distribution are not scalars, so the
suites add a derived column (`text_embedding_dim`, `probs_sum`, …) to the
batch and put an ordinary expectation on it; the Data Docs then name the
derived column, which says what was measured. Pure Column/DataFrame
functions: no session, no paths.
"""

from __future__ import annotations

from typing import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def array_size(col: str) -> Column:
    """Element count; null arrays stay null (so not-null checks catch them, not the size check)."""
    return F.when(F.col(col).isNull(), F.lit(None)).otherwise(F.size(F.col(col)))


def l2_norm(col: str) -> Column:
    """Euclidean length of an array<float>; NaN anywhere makes it NaN (and fails range checks)."""
    return F.sqrt(F.aggregate(F.col(col), F.lit(0.0).cast("double"), lambda acc, x: acc + x.cast("double") * x.cast("double")))


def array_sum(col: str) -> Column:
    return F.aggregate(F.col(col), F.lit(0.0).cast("double"), lambda acc, x: acc + x.cast("double"))


def array_min(col: str) -> Column:
    """Smallest element (null for an empty or null array)."""
    return F.array_min(F.col(col))


def struct_field_min(col: str, field: str) -> Column:
    """Smallest value of `field` over an array<struct>, e.g. the lowest token weight."""
    return F.array_min(F.transform(F.col(col), lambda s: s[field]))


def distribution(df: DataFrame, column: str, levels: list[int], by: list[str] | None = None) -> DataFrame:
    """Share of each level per group: columns *by, share_<level> (levels absent get 0)."""
    by = by or []
    counts = df.groupBy(*by).agg(
        F.count(F.lit(1)).alias("__n"),
        *[F.sum(F.when(F.col(column) == level, 1).otherwise(0)).alias(f"__c{level}") for level in levels],
    )
    return counts.select(*by, *[(F.col(f"__c{level}") / F.col("__n")).alias(f"share_{level}") for level in levels])


def total_variation(shares: Mapping[int, float], reference: Mapping[int, float]) -> float:
    """Total-variation distance 1/2 * sum |p - q| between two distributions over the same levels."""
    levels = set(shares) | set(reference)
    return 0.5 * sum(abs(shares.get(k, 0.0) - reference.get(k, 0.0)) for k in levels)
