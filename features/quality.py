"""Row rules shared by the feature jobs: which input rows go to quarantine, and why.

Each rule is (reason, condition marking the row bad), the form
`searchrel.core.quarantine.split_by_rules` takes; the first rule that fires names the
reason. Text is "not valid Unicode" when its bytes are not valid UTF-8 or when a
decoder upstream already replaced bad bytes with U+FFFD: either way the
original text is lost, and tokens made from it would be noise.
"""

from __future__ import annotations

from typing import Iterable

from pyspark.sql import Column
from pyspark.sql import functions as F

REPLACEMENT_CHAR = "\ufffd"


def invalid_unicode(col: str | Column) -> Column:
    """Bytes that are not UTF-8, or U+FFFD left by a decoder: the text the row had is lost."""
    c = F.col(col) if isinstance(col, str) else col
    return c.isNotNull() & (~F.is_valid_utf8(c) | c.contains(REPLACEMENT_CHAR))


def too_long(col: str, max_chars: int) -> Column:
    return F.length(F.col(col)) > max_chars


def null_rule(col: str) -> tuple[str, Column]:
    return (f"null {col}", F.col(col).isNull())


def text_rules(cols: Iterable[str], max_chars: int) -> list[tuple[str, Column]]:
    """Invalid Unicode first, then absurd length, for each text column."""
    cols = list(cols)
    rules = [(f"invalid unicode in {c}", invalid_unicode(c)) for c in cols]
    rules += [(f"{c} longer than {max_chars} chars", too_long(c, max_chars)) for c in cols]
    return rules
