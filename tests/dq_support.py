"""Reading a suite's outcome in the data-quality tests (test_expectations*.py, test_suites_must_fail.py)."""

from __future__ import annotations


def failed(summary) -> set[tuple[str, str | None]]:
    """(expectation type, column) of every failed expectation."""
    return {(r.expectation, r.column) for r in summary.results if not r.success}


def result(summary, expectation: str, column: str | None):
    """The one outcome of `expectation` on `column` (None: a table-level or multi-column expectation)."""
    (match,) = [r for r in summary.results if r.expectation == expectation and r.column == column]
    return match
