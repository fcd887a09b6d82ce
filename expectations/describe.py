"""Expectation results in the words a data engineer reads at 7 am.

great-expectations reports `expect_column_values_to_be_in_set` with kwargs and
a result dict; the log line and the summary JSON should instead say
"event: 12 of 4,200 rows (0.3%) are not one of impression, click, save,
closeup; e.g. 'purchase' (10)". One sentence per result type, built from the
result only, so it works the same for every suite.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ExpectationOutcome:
    """One expectation's result, JSON-ready."""

    expectation: str  # great-expectations type, e.g. expect_column_values_to_not_be_null
    column: str | None
    columns: list[str] | None
    success: bool
    kwargs: dict[str, Any]
    observed: Any = None
    unexpected_count: int | None = None
    element_count: int | None = None
    unexpected_percent: float | None = None
    samples: list[Any] = field(default_factory=list)  # sample failing values (with counts when known)
    notes: str | None = None
    error: str | None = None
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _short(value: Any, limit: int = 80) -> Any:
    """JSON-safe and short: binary as its size, long strings cut, floats rounded."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, float):
        return value if math.isnan(value) or math.isinf(value) else round(value, 6)
    if isinstance(value, str):
        return value if len(value) <= limit else value[: limit - 1] + "…"
    if isinstance(value, dict):
        return {str(k): _short(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_short(v, limit) for v in list(value)[:20]]
    if value is None or isinstance(value, (bool, int)):
        return value
    return _short(str(value), limit)


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {_num(low)} and {_num(high)}"
    if low is not None:
        return f"at least {_num(low)}"
    if high is not None:
        return f"at most {_num(high)}"
    return "any value"


def _set(values: list[Any], limit: int = 8) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", … ({len(values)} values)" if len(values) > limit else "")


def _condition(kind: str, kw: dict[str, Any]) -> str:
    """What the failing rows are, as a predicate phrase."""
    if kind == "expect_column_values_to_not_be_null":
        return "are null"
    if kind == "expect_column_values_to_be_unique":
        return "repeat a value that must be unique"
    if kind == "expect_compound_columns_to_be_unique":
        return f"repeat a ({', '.join(kw.get('column_list', []))}) combination that must be unique"
    if kind == "expect_column_values_to_be_in_set":
        return f"are not one of {_set(list(kw.get('value_set') or []))}"
    if kind == "expect_column_values_to_be_between":
        return f"are not {_range(kw.get('min_value'), kw.get('max_value'))}"
    if kind == "expect_column_value_lengths_to_be_between":
        return f"have a length not {_range(kw.get('min_value'), kw.get('max_value'))}"
    if kind == "expect_column_value_lengths_to_equal":
        return f"have a length other than {kw.get('value')}"
    if kind == "expect_column_pair_values_to_be_equal":
        return f"have {kw.get('column_A')} != {kw.get('column_B')}"
    if kind == "expect_column_values_to_match_regex":
        return f"do not match /{kw.get('regex')}/"
    return "break the rule"


def _samples_text(outcome: ExpectationOutcome) -> str:
    if not outcome.samples:
        return ""
    return "; e.g. " + ", ".join(repr(item) for item in outcome.samples)


def kw_columns(kw: dict[str, Any]) -> list[str]:
    """Columns of a multi-column expectation (column_list, or column_A/column_B)."""
    if kw.get("column_list"):
        return list(kw["column_list"])
    return [kw[k] for k in ("column_A", "column_B") if kw.get(k)]


def sentence(outcome: ExpectationOutcome) -> str:
    """One line saying what was checked and, when it failed, what was found."""
    kind, kw, col = outcome.expectation, outcome.kwargs, outcome.column
    subject = f"column '{col}'" if col else "table"
    if outcome.error:
        return f"{kind} on {subject} could not be evaluated: {outcome.error}"
    if kind == "expect_table_row_count_to_be_between":
        text = f"row count is {_num(outcome.observed)}, expected {_range(kw.get('min_value'), kw.get('max_value'))}"
    elif kind == "expect_table_columns_to_match_set":
        missing = (outcome.samples or [None])[0] if not outcome.success else None
        text = f"columns missing: {missing}" if missing else f"columns present: {_set(list(kw.get('column_set') or []))}"
    elif kind in ("expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list"):
        wanted = kw.get("type_") or " or ".join(kw.get("type_list") or [])
        text = f"{subject} has type {outcome.observed}, expected {wanted}"
    elif kind in ("expect_column_mean_to_be_between", "expect_column_max_to_be_between",
                  "expect_column_min_to_be_between", "expect_column_unique_value_count_to_be_between",
                  "expect_column_proportion_of_unique_values_to_be_between"):
        stat = kind.removeprefix("expect_column_").removesuffix("_to_be_between").replace("_", " ")
        text = f"{stat} of '{col}' is {_num(outcome.observed)}, expected {_range(kw.get('min_value'), kw.get('max_value'))}"
    elif outcome.unexpected_count is not None:
        where = f"column '{col}'" if col else "columns (" + ", ".join(outcome.columns or kw_columns(kw)) + ")"
        if outcome.success:
            text = f"{where}: all {_num(outcome.element_count)} rows pass"
        else:
            pct = f" ({outcome.unexpected_percent:.2f}%)" if outcome.unexpected_percent is not None else ""
            text = (
                f"{where}: {_num(outcome.unexpected_count)} of {_num(outcome.element_count)} rows{pct} "
                f"{_condition(kind, kw)}{_samples_text(outcome)}"
            )
    else:
        text = f"{kind} on {subject}: observed {outcome.observed!r}"
    return text


def outcome_from_result(result: Any, sample_size: int) -> ExpectationOutcome:
    """Turn a great-expectations ExpectationValidationResult into an ExpectationOutcome."""
    config = result.expectation_config
    kind = config.type
    kwargs = {k: _short(v, 200) for k, v in dict(config.kwargs).items() if k not in ("batch_id", "result_format")}
    res = dict(result.result or {})
    info = dict(result.exception_info or {})
    error = None
    if info.get("raised_exception"):
        error = str(info.get("exception_message") or "an exception was raised").splitlines()[0][:300]
    samples: list[Any] = []
    if kind == "expect_table_columns_to_match_set":
        missing = ((res.get("details") or {}).get("mismatched") or {}).get("missing")
        samples = [", ".join(map(str, missing))] if missing else []
    elif res.get("partial_unexpected_list"):
        # Distinct values among the first failing rows great-expectations returned (their
        # counts would only count that sample, so they are not shown as if they were totals).
        seen: list[Any] = []
        for value in res["partial_unexpected_list"]:
            value = _short(value)
            if value not in seen:
                seen.append(value)
        samples = seen[:sample_size]
    outcome = ExpectationOutcome(
        expectation=kind,
        column=kwargs.get("column"),
        columns=kw_columns(kwargs) or None,
        success=bool(result.success),
        kwargs=kwargs,
        observed=_short(res.get("observed_value")),
        unexpected_count=res.get("unexpected_count"),
        element_count=res.get("element_count"),
        unexpected_percent=res.get("unexpected_percent"),
        samples=samples,
        notes=" ".join(config.notes) if isinstance(config.notes, list) else config.notes,
        error=error,
    )
    outcome.text = sentence(outcome)
    return outcome
