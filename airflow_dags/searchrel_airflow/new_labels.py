"""Count raw/human_labels that arrived since the current teacher was trained (the retraining trigger).

    spark-submit airflow_dags/searchrel_airflow/new_labels.py [--since D] --json

"Since" is `--since` when given, else the UTC day the teacher's `current`
pointer was last written (a training publishes by writing it), else the
beginning of time (no teacher yet: every label is new). Prints
`{"new_labels": N, "total_labels": M, "since": D}`; the teacher DAG decides.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from searchrel.core import catalog
from searchrel.core.dates import iso_date
from spark_jobs import runner

LABELS = catalog.HUMAN_LABELS.name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=iso_date, help="count labels with labeled_ds after this day")


def last_training_day(models_path: str) -> str | None:
    """Day the teacher pointer was last written, or None (no teacher, or a store without mtimes)."""
    pointer = os.path.join(models_path, "teacher", "current")
    if "://" in pointer or not os.path.exists(pointer):
        return None
    stamp = dt.datetime.fromtimestamp(os.path.getmtime(pointer), tz=dt.timezone.utc)
    return stamp.date().isoformat()


def run(ctx: runner.JobContext) -> dict:
    from pyspark.sql import functions as F  # noqa: PLC0415 - Spark only when run

    since = ctx.args.since or last_training_day(ctx.config.models_path)
    labels = ctx.tables.read(LABELS)
    total = labels.count()
    new = total if since is None else labels.where(F.col("labeled_ds") > F.lit(since)).count()
    return {"new_labels": new, "total_labels": total, "since": since}


main = runner.entry_point("new-labels", run, dates="none", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
