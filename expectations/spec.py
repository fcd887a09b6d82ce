"""What a table's suite is made of, and small builders that keep suites short.

A `TableSuite` names the table's catalog entry (`searchrel.core.catalog`: name,
partition column, keys, suite name) and three
functions: `reference` (figures the suite compares against, computed with
Spark from other partitions or tables, e.g. the human label distribution),
`derive` (adds derived columns to the batch; pure) and `build` (the list of
great-expectations 1.x expectations, given the thresholds). The runner owns
the I/O and the great-expectations context; a suite module only says what
good data looks like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import great_expectations.expectations as gxe
from pyspark.sql import DataFrame

from searchrel.core import catalog
from searchrel.core.config import Config

Expectation = gxe.Expectation

LABELS = [1, 2, 3, 4, 5]
EVENT_TYPES = ["impression", "click", "save", "closeup"]
DATE_REGEX = r"^\d{4}-\d{2}-\d{2}$"
SHA256_REGEX = r"^[0-9a-f]{64}$"


@dataclass(frozen=True)
class SuiteInputs:
    """Everything a suite needs to decide its thresholds for one batch."""

    table: str
    ds: str | None
    config: Config
    # (min, max) row count from the previous partition (max None = no upper bound).
    row_count_bounds: tuple[int, int | None]
    row_count_note: str
    reference: Mapping[str, Any] = field(default_factory=dict)

    @property
    def v(self):
        return self.config.validation


def _no_reference(tables: Any, inputs_ds: str | None, batch: DataFrame, config: Config) -> dict[str, Any]:
    return {}


def _no_derive(batch: DataFrame, inputs: SuiteInputs) -> DataFrame:
    return batch


@dataclass(frozen=True)
class TableSuite:
    """A table's suite; the table's name, partition column, keys and suite name come from its catalog entry."""

    spec: catalog.Table
    build: Callable[[SuiteInputs], list[Expectation]]
    derive: Callable[[DataFrame, SuiteInputs], DataFrame] = _no_derive
    # (tables, ds, batch, config) -> reference figures; may read other tables.
    reference: Callable[[Any, str | None, DataFrame, Config], dict[str, Any]] = _no_reference
    # Only partitions holding rows that match this predicate are "previous" for
    # the row-count check (e.g. student_examples days that carry impressions, not
    # the odd day holding a few human-labelled rows).
    comparable_rows: str | None = None
    # The `validation` setting that bounds the day-to-day row count change (see thresholds).
    row_count_tolerance: str = "row_count_tolerance"

    @property
    def table(self) -> str:
        return self.spec.name

    @property
    def partition(self) -> str | None:
        """"ds", "as_of" or None for an unpartitioned table."""
        return self.spec.partition

    @property
    def keys(self) -> tuple[str, ...]:
        return self.spec.keys

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def suite_name(self) -> str:
        assert self.spec.suite is not None, f"{self.spec.name} is not gated in the catalog"
        return self.spec.suite


# -- builders --------------------------------------------------------------


def schema(columns: Mapping[str, str | Sequence[str]], notes: str | None = None) -> list[Expectation]:
    """Required columns exist (others may be added) and have the contract's Spark types.

    Types are given as Spark type class names ("StringType", "ArrayType", …);
    a list allows several. Type checks read the schema only, so they cost no Spark job.
    """
    out: list[Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(columns), exact_match=False,
            notes=notes or "Columns of the table contract in DESIGN.md; extra columns are allowed.",
        )
    ]
    for column, types in columns.items():
        if not types:
            continue
        if isinstance(types, str):
            out.append(gxe.ExpectColumnValuesToBeOfType(column=column, type_=types))
        else:
            out.append(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=list(types)))
    return out


def not_null(columns: Iterable[str], notes: str | None = None) -> list[Expectation]:
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, notes=notes) for c in columns]


def unique_key(keys: Sequence[str]) -> list[Expectation]:
    """Keys not null and unique; compound keys as one expectation."""
    out = not_null(keys, notes="Key column: every row must have it.")
    if len(keys) == 1:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=keys[0], notes="The table's key: one row per value."))
    else:
        out.append(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(keys), notes=f"The table's key ({', '.join(keys)}): one row per combination."
            )
        )
    return out


def row_count(inputs: SuiteInputs) -> Expectation:
    low, high = inputs.row_count_bounds
    return gxe.ExpectTableRowCountToBeBetween(
        min_value=low, max_value=high, notes=inputs.row_count_note,
        description=f"Row count between {low:,} and {high:,}. {inputs.row_count_note}" if high is not None
        else f"At least {low:,} rows. {inputs.row_count_note}",
    )


def text_length(column: str, max_chars: int, min_chars: int = 1, notes: str | None = None) -> Expectation:
    return gxe.ExpectColumnValueLengthsToBeBetween(
        column=column, min_value=min_chars, max_value=max_chars,
        notes=notes or f"Text must be non-empty and at most {max_chars} characters.",
    )


def between(column: str, low: float | None, high: float | None, notes: str | None = None) -> Expectation:
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high, notes=notes)


def in_set(column: str, values: Sequence[Any], notes: str | None = None) -> Expectation:
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values), notes=notes)


def date_strings(column: str) -> Expectation:
    return gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=DATE_REGEX, notes="Dates are strings yyyy-MM-dd (the warehouse's partition format)."
    )


def language_codes(column: str) -> Expectation:
    return in_set(
        column, sorted(known_language_codes()),
        notes="ISO 639-1 language codes (pycountry), plus 'und' for undetermined.",
    )


def known_language_codes() -> set[str]:
    import pycountry

    return {lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2")} | {"und"}
