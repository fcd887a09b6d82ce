"""Run a table's suite on one partition and publish the result (the entry point of validation).

`validate_table` reads only the partition asked for (Delta prunes the rest),
works out the thresholds that depend on other data (`thresholds`), and runs
the suite as a great-expectations 1.x checkpoint on the cached Spark
DataFrame (`checkpoint`), whose UpdateDataDocsAction refreshes the HTML site
under `<reports>/data_docs/`. The summary (`summary`) goes to
`<reports>/validation/` with an `index.json` over all of them (`publishing`).
A failing suite is a result here, not an error; `expectations.gate.gate` is
what stops a pipeline on it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from expectations.checkpoint import result_format, run_checkpoint
from expectations.describe import outcome_from_result
from expectations.publishing import data_docs_index, json_safe, reports_dir, summary_path, write_summary
from expectations.registry import SUITES, suite_for
from expectations.spec import SuiteInputs, TableSuite
from expectations.summary import ValidationSummary
from expectations.thresholds import latest_partition, row_count_bounds
from searchrel.core.config import Config
from searchrel.core.errors import JobFailed, TableNotFound, UsageError
from searchrel.core.tables import Tables

log = logging.getLogger(__name__)


class UnknownTable(UsageError):
    """No suite exists for the table name (exit code 2: a bad argument)."""


def _batch(tables: Tables, spec: TableSuite, ds: str | None) -> tuple[DataFrame, str | None]:
    if not tables.exists(spec.table):
        raise TableNotFound(f"table {spec.table} does not exist under {tables.root} (has its job run?)")
    if not spec.partition:
        return tables.read(spec.table), ds
    if ds is None:
        ds = latest_partition(tables, spec.table, spec.partition)
        if ds is None:
            raise JobFailed(f"{spec.table} is empty: no partition to validate")
        log.info("%s: no --ds given, validating the latest partition %s=%s", spec.table, spec.partition, ds)
    return tables.read_range(spec.table, ds, ds, col=spec.partition), ds


def validate_table(
    tables: Tables, config: Config, table: str, ds: str | None = None, publish: bool = True
) -> ValidationSummary:
    """Validate one table (one partition of a partitioned table) and publish the reports.

    Raises UnknownTable for a table without a suite and TableNotFound when the
    table was never written; a failing suite is not an exception here (see `gate`).
    `publish=False` validates in an in-memory great-expectations context and
    writes no Data Docs or summary (seconds cheaper; for checks inside tests or notebooks).
    """
    spec = suite_for(table)
    if spec is None:
        raise UnknownTable(f"no expectation suite for table {table!r}; known: {', '.join(sorted(SUITES))}")
    t0 = time.perf_counter()
    reports = reports_dir(config) if publish else None
    batch, ds = _batch(tables, spec, ds)
    bounds, note, counts = row_count_bounds(tables, config, spec, ds)
    reference = {**counts, **spec.reference(tables, ds, batch, config)}
    inputs = SuiteInputs(table, ds, config, bounds, note, reference)
    derived = spec.derive(batch, inputs).persist(StorageLevel.MEMORY_AND_DISK)
    where = f" {spec.partition}={ds}" if spec.partition else ""
    try:
        rows = derived.count()
        expectations = spec.build(inputs)
        for expectation in expectations:
            expectation.catch_exceptions = True  # a broken column fails its check instead of the run
        log.info("validating %s%s: %d rows, %d expectations", table, where, rows, len(expectations))
        results, page = run_checkpoint(reports, spec, ds, derived, expectations, result_format(config), publish)
    finally:
        derived.unpersist()
    outcomes = [outcome_from_result(r, config.validation.sample_size) for r in results]
    summary = ValidationSummary(
        table=table, ds=ds, partition=spec.partition, suite=spec.suite_name,
        success=all(o.success for o in outcomes), rows=rows, evaluated=len(outcomes),
        failed=sum(not o.success for o in outcomes), results=outcomes,
        data_docs_index=str(data_docs_index(reports)) if reports else "", data_docs_page=page,
        summary_path=str(summary_path(reports, table, ds)) if reports else "",
        validated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        seconds=time.perf_counter() - t0, reference=json_safe(reference),
    )
    if reports:
        write_summary(reports, summary)
    log.info(
        "%s%s: %s (%d/%d expectations passed, %.1f s); report %s", table, where,
        "passed" if summary.success else "FAILED", summary.evaluated - summary.failed, summary.evaluated,
        summary.seconds, summary.data_docs_page or summary.data_docs_index,
    )
    return summary
