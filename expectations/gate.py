"""The data quality gate jobs call after a write: a failed suite stops what depends on the table.

Raising `JobFailed` (exit code 1) with the summary's message means the job's
log, the CLI and the Airflow task all show which expectations failed and
sample failing values, and nothing downstream runs on bad data.
"""

from __future__ import annotations

import logging

from expectations.runner import validate_table
from expectations.summary import ValidationSummary
from searchrel.core.config import Config
from searchrel.core.errors import JobFailed, TableNotFound
from searchrel.core.tables import Tables

log = logging.getLogger(__name__)


def gate(tables: Tables, config: Config, table: str, ds: str | None = None) -> ValidationSummary:
    """Validate and stop the pipeline on failure: raises JobFailed naming what failed.

    With `validation.fail_fast: false` a failure is logged and the summary
    returned, for report-only runs (e.g. a backfill that is being investigated).
    """
    try:
        summary = validate_table(tables, config, table, ds)
    except TableNotFound as exc:
        raise JobFailed(str(exc)) from None
    if not summary.success:
        if config.validation.fail_fast:
            raise JobFailed("data quality gate: " + summary.message())
        log.warning("validation.fail_fast is off: continuing although %s failed its suite", table)
    return summary
