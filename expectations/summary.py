"""The outcome of one suite on one batch, as jobs read it and as the summary JSON holds it.

Kept apart from the running so that readers of the summaries (the index page,
the demo report, Airflow's gate tasks) depend on the shape of a result and not
on great-expectations or Spark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from expectations.describe import ExpectationOutcome

SNAPSHOT = "snapshot"  # the summary key of an unpartitioned table validated without --ds


@dataclass
class ValidationSummary:
    """The outcome of one suite on one batch; `to_dict` is what the summary JSON holds."""

    table: str
    ds: str | None
    partition: str | None
    suite: str
    success: bool
    rows: int
    evaluated: int
    failed: int
    results: list[ExpectationOutcome]
    data_docs_index: str
    data_docs_page: str | None
    summary_path: str
    validated_at: str
    seconds: float
    reference: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def message(self) -> str:
        """Several lines a data engineer can act on: what failed, by how much, examples, where to look."""
        where = f"{self.table} {self.partition}={self.ds}" if self.partition else self.table
        if self.success:
            head = f"{where}: all {self.evaluated} expectations passed on {self.rows:,} rows"
        else:
            head = f"{where}: {self.failed} of {self.evaluated} expectations FAILED on {self.rows:,} rows"
        lines = [head]
        for outcome in self.failures:
            line = f"  - {outcome.text}"
            if outcome.notes:
                line += f"  [{outcome.notes}]"
            lines.append(line)
        lines.append(f"  report: {self.data_docs_page or self.data_docs_index}")
        lines.append(f"  summary: {self.summary_path}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "ds": self.ds,
            "partition": self.partition,
            "suite": self.suite,
            "success": self.success,
            "rows": self.rows,
            "evaluated": self.evaluated,
            "failed": self.failed,
            "failures": [r.text for r in self.failures],
            "results": [r.to_dict() for r in self.results],
            "reference": self.reference,
            "data_docs_index": self.data_docs_index,
            "data_docs_page": self.data_docs_page,
            "summary_path": self.summary_path,
            "validated_at": self.validated_at,
            "seconds": round(self.seconds, 2),
        }
