"""The query split is the same in Python and Spark and never leaks a query."""

from __future__ import annotations

import pytest

from features.splits import TEST, TRAIN, VALIDATION, split_column, split_for_query


def test_same_query_same_split_whatever_its_spacing_or_case():
    assert split_for_query("Red  Velvet Sofa ", 0.1, 0.2) == split_for_query("red velvet sofa", 0.1, 0.2)


def test_fractions_are_roughly_honoured():
    queries = [f"query number {i}" for i in range(5000)]
    splits = [split_for_query(q, 0.1, 0.2) for q in queries]
    assert abs(splits.count(TEST) / 5000 - 0.2) < 0.03
    assert abs(splits.count(VALIDATION) / 5000 - 0.1) < 0.03
    assert splits.count(TRAIN) > splits.count(TEST)


@pytest.mark.spark
def test_spark_and_python_agree(spark):
    queries = ["sofá de terciopelo rojo", "Red Chair", "rote lampe", "chaise en bois", "blue  rug", "x"] + [
        f"q{i} lamp" for i in range(200)
    ]
    df = spark.createDataFrame([(q,) for q in queries], "query string")
    got = {r.query: r.split for r in df.select("query", split_column(df.query, 0.1, 0.2).alias("split")).collect()}
    assert got == {q: split_for_query(q, 0.1, 0.2) for q in queries}
