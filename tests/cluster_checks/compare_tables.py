"""Compare Delta tables under two warehouse roots row for row; run with spark-submit (tests/test_cluster.py).

    spark-submit … compare_tables.py OUT.json LEFT_ROOT RIGHT_ROOT TABLE[:DROP_COL,…] …

Writes {table: {"left": n, "right": n, "left_only": n, "right_only": n, "columns_equal": bool}}
to OUT.json (a local path: the driver runs on this machine). Multiset equality:
`exceptAll` both ways, so a duplicated or missing row counts. Columns named after a
table (`:run_id`) are dropped first: they record which run wrote a row, not what.
Only pyspark and Delta: it runs on the cluster's executors, which need nothing else.
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession


def main(argv: list[str]) -> int:
    out, left_root, right_root, *specs = argv
    spark = SparkSession.builder.appName("compare-tables").getOrCreate()
    result = {}
    for spec in specs:
        table, _, drop = spec.partition(":")
        drop_cols = [c for c in drop.split(",") if c]
        left = spark.read.format("delta").load(f"{left_root.rstrip('/')}/{table}").drop(*drop_cols)
        right = spark.read.format("delta").load(f"{right_root.rstrip('/')}/{table}").drop(*drop_cols)
        same_columns = sorted(left.columns) == sorted(right.columns)
        right = right.select(*left.columns) if same_columns else right
        result[table] = {
            "left": left.count(),
            "right": right.count(),
            "left_only": left.exceptAll(right).count() if same_columns else None,
            "right_only": right.exceptAll(left).count() if same_columns else None,
            "columns_equal": same_columns,
        }
    with open(out, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
