"""A session started by searchrel.core.session.get_spark (no spark-submit) on an s3a:// warehouse.

    python session_on_s3a.py PROPERTIES_FILE WAREHOUSE

get_spark adds s3a's jars itself when the warehouse is on s3a://; the endpoint and
credentials come from configuration (`spark.conf`), here the cluster's properties
file, read in this process only. Prints one JSON line: rows written and read back.
"""

from __future__ import annotations

import json
import sys


def main(properties: str, warehouse: str) -> int:
    from searchrel.cluster.properties import read_properties
    from searchrel.core.config import load_config
    from searchrel.core.session import get_spark

    s3a = {k: v for k, v in read_properties(__import__("pathlib").Path(properties)).items()
           if k.startswith("spark.hadoop.fs.s3a.")}
    config = load_config(None, environ={}, overrides={
        "warehouse": warehouse, "spark": {"master": "local[1]", "driver_memory": "1g", "conf": s3a}})
    spark = get_spark(config)
    path = f"{warehouse}/session_check"
    spark.range(10).write.format("delta").mode("overwrite").save(path)
    print(json.dumps({"rows": spark.read.format("delta").load(path).count()}))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
