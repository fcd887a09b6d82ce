"""Every table's suite, by table name (`layer/name`, as in DESIGN.md)."""

from __future__ import annotations

from expectations import suites_features, suites_labels, suites_partials, suites_raw
from expectations.spec import TableSuite

SUITES: dict[str, TableSuite] = {
    s.table: s for s in [*suites_raw.SUITES, *suites_partials.SUITES, *suites_features.SUITES, *suites_labels.SUITES]
}


def suite_for(table: str) -> TableSuite | None:
    return SUITES.get(table)
