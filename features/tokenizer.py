"""The one tokenizer behind every text feature (query tokens, board tokens, BM25, term match).

Python and Spark share a single implementation (the Spark column function is a
pandas UDF over `tokenize`), so a token means the same thing in the teacher's
pin text, in the student's BM25 scores and in a unit test.

Rules, in order: Unicode NFKC, casefold, every character that is not a letter,
a combining mark or a digit becomes a space (punctuation, symbols, emoji), split
on whitespace, drop tokens shorter than `min_len` characters, drop bare numbers
("12", "½" – but "2x4" stays), drop stop words. Stop words come from the
maintained stopwords-iso lists: the text's own language when it is known,
otherwise the union over `DEFAULT_LANGS` (the languages the pipeline serves),
because a query carries no language tag of its own.

Known limitation: stopwords-iso's English list is broad ("home", "room",
"small" are in it), which trades a little recall for far fewer filler tokens.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Iterable

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

# Stop-word languages used when a text has no language tag: the big markets of the data.
DEFAULT_LANGS: tuple[str, ...] = ("en", "de", "fr", "es")
DEFAULT_MIN_LEN = 2

# Unicode general categories kept as token characters: letters, marks, digits/numbers.
_KEEP = ("L", "M", "N")


@lru_cache(maxsize=64)
def stopwords_for(lang: str | None) -> frozenset[str]:
    """Stop words of one language (casefolded, NFKC), or of every default language when None/unknown."""
    import stopwordsiso

    code = (lang or "").strip().lower().split("-")[0].split("_")[0]
    langs: Iterable[str] = (code,) if code and stopwordsiso.has_lang(code) else DEFAULT_LANGS
    words: set[str] = set()
    for one in langs:
        if stopwordsiso.has_lang(one):
            words.update(unicodedata.normalize("NFKC", w).casefold() for w in stopwordsiso.stopwords(one))
    return frozenset(words)


def _clean(text: str) -> str:
    chars = [ch if unicodedata.category(ch)[0] in _KEEP else " " for ch in text]
    return "".join(chars)


def _is_number(token: str) -> bool:
    return all(unicodedata.category(ch)[0] == "N" for ch in token)


@lru_cache(maxsize=200_000)
def _tokenize_cached(text: str, lang: str | None, min_len: int) -> tuple[str, ...]:
    stop = stopwords_for(lang)
    normal = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for token in _clean(normal).split():
        if len(token) < min_len or _is_number(token) or token in stop:
            continue
        out.append(token)
    return tuple(out)


def tokenize(text: str | None, lang: str | None = None, min_len: int = DEFAULT_MIN_LEN) -> list[str]:
    """Tokens of `text` in order of appearance (duplicates kept, so callers can count them)."""
    if not text:
        return []
    return list(_tokenize_cached(text, lang or None, min_len))


def tokenize_column(col: Column | str, lang_col: Column | str | None = None, min_len: int = DEFAULT_MIN_LEN) -> Column:
    """Spark column array<string> equal to `tokenize(col, lang_col, min_len)` row by row.

    A pandas UDF rather than Spark's regexp functions: Java and Python disagree on
    Unicode categories and casefolding, and the student must see the tokens the
    teacher's text was built from.
    """
    text = F.col(col) if isinstance(col, str) else col
    lang = F.lit(None).cast("string") if lang_col is None else (F.col(lang_col) if isinstance(lang_col, str) else lang_col)
    return _tokenize_udf(min_len)(text, lang)


@lru_cache(maxsize=8)
def _tokenize_udf(min_len: int):
    @F.pandas_udf(ArrayType(StringType()))
    def _tok(texts: pd.Series, langs: pd.Series) -> pd.Series:
        return pd.Series(
            [tokenize(t if isinstance(t, str) else None, l if isinstance(l, str) else None, min_len)
             for t, l in zip(texts, langs)],
            dtype=object,
        )

    return _tok
