"""`searchrel validate TABLE [--ds D]`: run a table's expectation suite; exit 1 when it fails.

Validates one partition (`--ds`; the latest one when omitted), every day of
`--start/--end`, or, for unpartitioned tables, the whole table. `TABLE` may be
`all` to validate every table that exists. Publishes the Data Docs site under
`<warehouse>/reports/data_docs/` and a JSON summary per table and day under
`<warehouse>/reports/validation/`, so an Airflow task running this command
gates the next one.
"""

from __future__ import annotations

import argparse
import logging
import sys

from searchrel.core.dates import date_list
from searchrel.core.errors import JobFailed
from spark_jobs import runner

log = logging.getLogger("searchrel.validate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", help="table to validate, e.g. raw/search_events (or 'all')")


def run(ctx: runner.JobContext) -> dict:
    from expectations.registry import SUITES  # noqa: PLC0415 - great-expectations only when run
    from expectations.runner import UnknownTable, validate_table

    name: str = ctx.args.table
    if name != "all" and name not in SUITES:
        raise UnknownTable(f"no expectation suite for table {name!r}; known: {', '.join(sorted(SUITES))}")
    names = [t for t in SUITES if ctx.tables.exists(t)] if name == "all" else [name]
    if name == "all" and not names:
        raise JobFailed(f"no tables under {ctx.tables.root} to validate")
    days: list[str | None] = date_list(ctx.start, ctx.end) if ctx.dates else [None]
    summaries = []
    for table in names:
        partitioned = SUITES[table].partition is not None
        for ds in days if partitioned else days[:1]:
            summaries.append(validate_table(ctx.tables, ctx.config, table, ds))
    failed = [s for s in summaries if not s.success]
    result = {
        "validated": len(summaries),
        "passed": len(summaries) - len(failed),
        "failed": [f"{s.table}{'@' + s.ds if s.ds else ''}" for s in failed],
        "data_docs": summaries[0].data_docs_index,
        "summaries": [s.summary_path for s in summaries],
    }
    if failed:
        raise JobFailed("\n".join(s.message() for s in failed))
    return result


main = runner.entry_point("validate", run, dates="optional", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
