"""Compare Delta tables under two warehouse roots row for row; run with spark-submit (tests/test_cluster.py).

    spark-submit … compare_tables.py OUT.json LEFT_ROOT RIGHT_ROOT TABLE[:DROP_COL,…][@KEY_COL,…] …

Writes {table: {"left": n, "right": n, "left_only": n, "right_only": n, "columns_equal": bool, …}}
to OUT.json (a local path: the driver runs on this machine). Columns named after a
`:` are dropped first: they record which run wrote a row or when (`run_id`,
`scored_at`), not what.

Without keys, multiset equality: `exceptAll` both ways, so a duplicated or missing row
counts. With keys after a `@` (the catalog's), rows are matched on them, and floats
(alone or in arrays) may differ by `TOLERANCE`: a model's scores and embeddings depend
on how the rows were batched, which differs between two local cores and two executors,
in the last float bits. Every other column must be equal. `left_only` / `right_only`
count keys on one side only, `duplicated_keys` keys that occur twice on a side,
`differing` matched rows whose values differ, and `max_float_diff` the largest float
difference seen; `left_days` / `right_days` the distinct `ds` (or `as_of`) values.
Only pyspark and Delta: it runs on the cluster's executors, which need
nothing else.
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, FloatType

TOLERANCE = 1e-4


def _float_diff(left, right, data_type):
    """The largest absolute difference between two float columns or two float arrays (0 when both null)."""
    if isinstance(data_type, ArrayType):
        pairs = F.arrays_zip(left.alias("l"), right.alias("r"))
        diffs = F.transform(pairs, lambda p: F.abs(p["l"] - p["r"]))
        same_size = F.size(left) == F.size(right)
        largest = F.aggregate(diffs, F.lit(0.0).cast("double"), lambda acc, d: F.greatest(acc, F.coalesce(d, F.lit(0.0))))
        return F.when(left.isNull() & right.isNull(), F.lit(0.0)).when(same_size, largest).otherwise(F.lit(float("inf")))
    return F.when(left.isNull() & right.isNull(), F.lit(0.0)).otherwise(
        F.coalesce(F.abs(left - right).cast("double"), F.lit(float("inf"))))


def _is_float(data_type) -> bool:
    inner = data_type.elementType if isinstance(data_type, ArrayType) else data_type
    return isinstance(inner, (FloatType, DoubleType))


def keyed(left: DataFrame, right: DataFrame, keys: list[str]) -> dict:
    """Counts of a comparison matched on `keys`, floats within TOLERANCE."""
    values = [f for f in left.schema.fields if f.name not in keys]
    dup_left = left.groupBy(*keys).count().where("count > 1").count()
    dup_right = right.groupBy(*keys).count().where("count > 1").count()
    l_side = left.select(*keys, *[F.col(f.name).alias(f"l_{f.name}") for f in values], F.lit(1).alias("_l"))
    r_side = right.select(*keys, *[F.col(f.name).alias(f"r_{f.name}") for f in values], F.lit(1).alias("_r"))
    joined = l_side.join(r_side, on=keys, how="full_outer")
    float_diffs = [_float_diff(F.col(f"l_{f.name}"), F.col(f"r_{f.name}"), f.dataType)
                   for f in values if _is_float(f.dataType)]
    exact = [F.col(f"l_{f.name}").eqNullSafe(F.col(f"r_{f.name}")) for f in values if not _is_float(f.dataType)]
    worst = F.greatest(*float_diffs, F.lit(0.0)) if float_diffs else F.lit(0.0)
    same = F.lit(True)
    for condition in exact:
        same = same & condition
    both = joined.where(F.col("_l").isNotNull() & F.col("_r").isNotNull()).select(same.alias("same"), worst.alias("d"))
    stats = both.agg(F.sum(F.when(~F.col("same") | (F.col("d") > TOLERANCE), 1).otherwise(0)).alias("differing"),
                     F.max("d").alias("max_float_diff")).first()
    return {
        "left_only": joined.where(F.col("_r").isNull()).count(),
        "right_only": joined.where(F.col("_l").isNull()).count(),
        "duplicated_keys": dup_left + dup_right,
        "differing": int(stats["differing"] or 0),
        "max_float_diff": float(stats["max_float_diff"] or 0.0),
    }


def main(argv: list[str]) -> int:
    out, left_root, right_root, *specs = argv
    spark = SparkSession.builder.appName("compare-tables").getOrCreate()
    result = {}
    for spec in specs:
        spec, _, key_spec = spec.partition("@")
        table, _, drop = spec.partition(":")
        drop_cols = [c for c in drop.split(",") if c]
        keys = [c for c in key_spec.split(",") if c]
        left = spark.read.format("delta").load(f"{left_root.rstrip('/')}/{table}").drop(*drop_cols)
        right = spark.read.format("delta").load(f"{right_root.rstrip('/')}/{table}").drop(*drop_cols)
        same_columns = sorted(left.columns) == sorted(right.columns)
        right = right.select(*left.columns) if same_columns else right
        counts = {"left": left.count(), "right": right.count(), "columns_equal": same_columns}
        partition = next((c for c in ("ds", "as_of") if c in left.columns), None)
        if partition:  # how many days each side holds: a chain that ran one day of two shows here
            counts["left_days"] = left.select(partition).distinct().count()
            counts["right_days"] = right.select(partition).distinct().count()
        if not same_columns:
            counts.update(left_only=None, right_only=None)
        elif keys:
            counts.update(keyed(left, right, keys))
        else:
            counts.update(left_only=left.exceptAll(right).count(), right_only=right.exceptAll(left).count())
        result[table] = counts
    with open(out, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
