"""Partition dates: `yyyy-MM-dd` strings, parsed strictly, and ranges of them."""

from __future__ import annotations

import argparse
import datetime as dt


def iso_date(value: str) -> str:
    """An argparse `type=` for a partition date: the value itself if it is exactly yyyy-MM-dd."""
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date yyyy-MM-dd: {value!r}") from None
    if parsed.isoformat() != value:
        raise argparse.ArgumentTypeError(f"not a date yyyy-MM-dd: {value!r}")
    return value


def date_list(start: str, end: str) -> list[str]:
    """Every day from start to end, inclusive."""
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def ds_predicate(start: str, end: str | None = None, col: str = "ds") -> str:
    """SQL predicate for an inclusive range on a yyyy-MM-dd (or yyyy-MM month) string column."""
    for value in (start, end or start):
        dt.date.fromisoformat(value if len(value) != 7 else value + "-01")  # rejects anything that would break the SQL
    return f"{col} >= '{start}' AND {col} <= '{end or start}'"
