"""The errors every layer raises, and the exit code each one maps to.

Exit codes of every command (`searchrel <command>`, `spark-submit spark_jobs/<job>.py`):
0 success, 2 bad arguments or configuration (one line naming what is wrong), 1 a failed run.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class ConfigError(ValueError):
    """Bad configuration; the CLI prints the message as one line and exits 2."""


class UsageError(ValueError):
    """Bad arguments discovered after parsing; exit code 2 like argparse's own."""


class JobFailed(RuntimeError):
    """A run that finished but failed (e.g. a validation gate); exit code 1, message shown as is."""


class TableNotFound(RuntimeError):
    """A job asked for a table no earlier step has written."""


class ReconciliationError(RuntimeError):
    """Rows in != rows written + rows quarantined: something was dropped or doubled."""


class ConcurrentWriteConflict(JobFailed):
    """A Delta write lost to concurrent writers on every allowed attempt; exit 1, one line, nothing half-written."""
