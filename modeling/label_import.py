"""Turning an external labelled dataset into raw/pins and raw/human_labels rows.

Public relevance datasets come in many shapes: ordinal grades (1..4), words
("Exact", "Irrelevant"), or averaged rater scores (Home Depot's 1..3 means).
A `LabelMap` says how raw values become searchrel's 1..5 levels; rows that
cannot be mapped, or lack a query or text, are rejected with a reason rather
than dropped, so that rows in = rows written + rows quarantined.

Everything here is pure: DataFrames of string columns in, DataFrames out;
reading the file (and guessing its encoding) is the job's business, helped by
`detect_encoding` which only looks at bytes.
"""

from __future__ import annotations

import codecs
import gzip
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from features.quality import invalid_unicode
from searchrel.core import catalog
from searchrel.core.quarantine import split_by_rules

LABELS_TABLE = catalog.HUMAN_LABELS.name
PINS_TABLE = catalog.PINS.name


@dataclass(frozen=True)
class LabelMap:
    """identity: the value is already 1..5; bins: a score binned by `bins`; explicit: raw value -> level."""

    kind: Literal["identity", "bins", "explicit"] = "identity"
    bins: tuple[float, ...] = ()
    mapping: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None, bins: Sequence[float]) -> "LabelMap":
        """`identity`, `bins`, or `raw=level,raw=level,…` (e.g. `Exact=5,Partial=3,Irrelevant=1`)."""
        if text is None or text.strip() in ("", "identity"):
            return cls("identity")
        if text.strip() == "bins":
            edges = tuple(float(b) for b in bins)
            if not edges or list(edges) != sorted(edges) or len(edges) != 5:
                raise ValueError(f"import_labels.score_bins must be 5 increasing edges, got {list(bins)}")
            return cls("bins", bins=edges)
        mapping: dict[str, int] = {}
        for item in text.split(","):
            raw, sep, level = item.rpartition("=")
            if not sep or not raw.strip():
                raise ValueError(f"--label-map expects identity, bins or raw=level pairs, got {item!r}")
            try:
                value = int(level)
            except ValueError:
                raise ValueError(f"--label-map level must be 1..5, got {level!r}") from None
            if not 1 <= value <= 5:
                raise ValueError(f"--label-map level must be 1..5, got {value}")
            mapping[raw.strip()] = value
        return cls("explicit", mapping=mapping)

    def level(self, raw: Column) -> tuple[Column, Column, Column]:
        """(level 1..5 or null, reason it is null or null, numeric score or null) for a string column."""
        text = F.trim(raw)
        number = text.try_cast("double")
        if self.kind == "explicit":
            pairs = [x for k, v in self.mapping.items() for x in (F.lit(k), F.lit(v))]
            level = F.create_map(*pairs)[text].cast("int") if pairs else F.lit(None).cast("int")
            reason = F.when(level.isNull(), F.lit("label not in --label-map"))
            return level, reason, number
        if self.kind == "identity":
            level = F.when(number.isNotNull() & (number == F.floor(number)) & number.between(1, 5), number.cast("int"))
            reason = F.when(number.isNull(), F.lit("label is not a number")).when(
                level.isNull(), F.lit("label is not an integer 1..5")
            )
            return level, reason, number
        level = F.lit(None).cast("int")
        for i, edge in reversed(list(enumerate(self.bins, start=1))):
            level = F.when(number <= F.lit(edge), F.lit(i)).otherwise(level)
        reason = F.when(number.isNull() | F.isnan(number), F.lit("label is not a number")).when(
            level.isNull(), F.lit(f"score above the last bin edge {self.bins[-1]}")
        )
        return level, reason, number


@F.pandas_udf(T.StringType())
def _nfkc(values):  # type: ignore[no-untyped-def]
    """Queries are NFKC'd and whitespace-collapsed at import (features.splits relies on it)."""
    return values.map(lambda v: " ".join(unicodedata.normalize("NFKC", v).split()) if isinstance(v, str) else None)


def _blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col) == "")


def map_labels(rows: DataFrame, *, labeled_ds: str, source: str, **columns: Any) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(human_labels rows, pins rows, rejected rows with `reason`) from the raw rows (see `stage_rows`)."""
    staged = stage_rows(rows, labeled_ds=labeled_ds, source=source, **columns)
    return split_staged(staged, labeled_ds, source)


@dataclass(frozen=True)
class TextLimits:
    """Longest query and item text an import accepts (longer ones are quarantined, not clipped).

    The job passes `validation.max_query_chars` (the raw/human_labels suite's bound on a
    query, so one long query cannot fail the whole table's gate) and
    `features.max_text_chars` (what assemble-text accepts for a title or description).
    """

    query_chars: int = 256
    text_chars: int = 10_000


def stage_rows(
    rows: DataFrame,
    *,
    query_col: str,
    text_col: str,
    label_col: str,
    label_map: LabelMap,
    labeled_ds: str,
    source: str,
    id_col: str | None = None,
    description_col: str | None = None,
    rater_col: str | None = None,
) -> DataFrame:
    """The raw rows in searchrel's columns, each with its level or the reason it has none.

    Callers that use the result more than once (a job) should cache it: the
    query normalisation is a Python UDF. `rows` must carry a `row_number` column (input order) so that among
    duplicate (query, pin_id) pairs the first one wins, deterministically.
    Pin ids come from `id_col` when given (as `<source>:<id>`, so two datasets
    cannot collide), else from a hash of the title and description.
    """
    missing = [c for c in (query_col, text_col, label_col, id_col, description_col, rater_col) if c and c not in rows.columns]
    if missing:
        raise ValueError(f"columns not in the file: {', '.join(missing)} (it has: {', '.join(rows.columns)})")
    desc = F.col(description_col).cast("string") if description_col else F.lit(None).cast("string")
    title = F.trim(F.col(text_col).cast("string"))
    if id_col:
        pin_id = F.when(~_blank(F.col(id_col).cast("string")), F.concat(F.lit(f"{source}:"), F.trim(F.col(id_col).cast("string"))))
    else:
        pin_id = F.concat(F.lit("h"), F.substring(F.sha2(F.concat_ws("\u001f", title, F.coalesce(desc, F.lit(""))), 256), 1, 16))
    level, level_reason, score = label_map.level(F.col(label_col).cast("string"))
    # Bytes that were not text in the file's encoding (a line in another encoding, say) arrive
    # as U+FFFD or as invalid UTF-8; the first text column holding them is the row's reason.
    # Such a query never reaches the NFKC UDF (Arrow refuses invalid UTF-8).
    texts = [("query", query_col), ("text", text_col)] + ([("description", description_col)] if description_col else [])
    unreadable = F.lit(None).cast("string")
    for name, col in reversed(texts):
        unreadable = F.when(invalid_unicode(F.col(col).cast("string")), F.lit(name)).otherwise(unreadable)
    query = F.when(~invalid_unicode(F.col(query_col).cast("string")), F.col(query_col).cast("string"))
    staged = rows.select(
        "row_number",
        _nfkc(query).alias("query"),
        pin_id.alias("pin_id"),
        title.alias("title"),
        F.trim(desc).alias("description"),
        F.col(label_col).cast("string").alias("raw_label"),
        score.alias("raw_score"),
        level.alias("label"),
        level_reason.alias("label_reason"),
        (F.col(rater_col).cast("string") if rater_col else F.lit(source)).alias("rater_id"),
        unreadable.alias("_unreadable"),
    )
    first = F.row_number().over(Window.partitionBy("query", "pin_id").orderBy("row_number"))
    return staged.withColumn("_dup", F.when(F.col("query").isNotNull() & F.col("pin_id").isNotNull(), first > 1))


def split_staged(
    staged: DataFrame, labeled_ds: str, source: str, limits: TextLimits = TextLimits()
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(human_labels rows, pins rows, rejected rows with `reason`) from `stage_rows` output."""
    too_long = lambda col, n: F.length(F.col(col)) > n  # noqa: E731
    rules = [
        ("invalid unicode in query", F.col("_unreadable") == "query"),
        ("invalid unicode in text", F.col("_unreadable") == "text"),
        ("invalid unicode in description", F.col("_unreadable") == "description"),
        ("missing query", _blank(F.col("query"))),
        ("missing text", _blank(F.col("title"))),
        ("missing id", F.col("pin_id").isNull()),
        ("missing label", _blank(F.col("raw_label"))),
        (f"query longer than {limits.query_chars} chars", too_long("query", limits.query_chars)),
        (f"text longer than {limits.text_chars} chars", too_long("title", limits.text_chars)),
        (f"description longer than {limits.text_chars} chars", too_long("description", limits.text_chars)),
        ("bad label", F.col("label_reason").isNotNull()),
        ("duplicate (query, pin_id)", F.col("_dup")),
    ]
    good, bad = split_by_rules(staged, rules)
    bad = bad.withColumn(
        "reason", F.when(F.col("reason") == "bad label", F.col("label_reason")).otherwise(F.col("reason"))
    ).drop("label_reason", "_dup", "_unreadable")
    good = good.drop("label_reason", "_dup", "_unreadable")
    labels = good.select(
        "query", "pin_id", F.col("label").cast("int").alias("label"), "rater_id",
        F.lit(labeled_ds).alias("labeled_ds"), "raw_label", "raw_score", F.lit(source).alias("source"),
    )
    # One row per pin: the first occurrence's text (a dataset may repeat a product on many rows).
    pin_first = F.row_number().over(Window.partitionBy("pin_id").orderBy("row_number"))
    pins = (
        good.withColumn("_n", pin_first)
        .where(F.col("_n") == 1)
        .select(
            "pin_id",
            "title",
            F.col("description"),
            F.lit(None).cast("string").alias("link_url"),
            F.lit(None).cast("string").alias("lang"),
            F.lit(labeled_ds).alias("created_ds"),
        )
    )
    return labels, pins, bad


# -- encodings -------------------------------------------------------------------------

_JAVA_NAMES = {
    "utf_8": "UTF-8",
    "utf_8_sig": "UTF-8",
    "latin_1": "ISO-8859-1",
    "iso8859_1": "ISO-8859-1",
    "cp1252": "windows-1252",
    "utf_16": "UTF-16",
    "utf_16_le": "UTF-16LE",
    "utf_16_be": "UTF-16BE",
    "utf_32": "UTF-32",
    "ascii": "US-ASCII",
    "iso8859_15": "ISO-8859-15",
    "cp1250": "windows-1250",
    "cp1251": "windows-1251",
    "shift_jis": "Shift_JIS",
    "euc_jp": "EUC-JP",
    "gb18030": "GB18030",
    "big5": "Big5",
}


def python_codec(name: str) -> str:
    """The canonical Python codec name, or ValueError naming the unknown encoding."""
    try:
        return codecs.lookup(name).name.replace("-", "_")
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None


def java_charset(name: str) -> str:
    """The name Spark's (Java) readers know an encoding by."""
    codec = python_codec(name)
    return _JAVA_NAMES.get(codec, codec.replace("_", "-").upper())


def read_sample(path: str, size: int = 16 << 20) -> bytes:
    """The first `size` bytes of the (decompressed, for .gz) file."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        return handle.read(size)


def _mostly_utf8(sample: bytes) -> bool:
    """More well-formed multi-byte UTF-8 characters than undecodable bytes: a UTF-8 file with some
    lines in another encoding (a mixed file). Read as UTF-8, those lines show U+FFFD and are
    quarantined; read as a single-byte code page, every UTF-8 line would silently turn to
    mojibake ("crÃ¨me") and be imported. Single-byte text almost never forms valid UTF-8 pairs.
    """
    text = sample.decode("utf-8", errors="replace")
    undecodable = text.count("\ufffd")
    multi_byte = sum(1 for ch in text if ord(ch) >= 0x80) - undecodable
    return multi_byte > undecodable


def detect_encoding(sample: bytes) -> str:
    """Python codec name of the text in `sample` (charset-normalizer), preferring UTF-8 when it decodes.

    A truncated sample can end mid-character; such a tail does not count against UTF-8.
    """
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf_16"
    if sample.startswith(codecs.BOM_UTF8):
        return "utf_8_sig"
    try:
        sample.decode("utf-8")
        return "utf_8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and exc.reason in ("unexpected end of data",):
            return "utf_8"
    if _mostly_utf8(sample):
        return "utf_8"
    from charset_normalizer import from_bytes

    results = list(from_bytes(sample))
    if not results:
        raise ValueError("cannot detect the file's encoding: pass --encoding")
    from charset_normalizer.utils import is_multi_byte_encoding

    best = results[0]
    tied = {python_codec(r.encoding) for r in results if (r.chaos, r.coherence) == (best.chaos, best.coherence)}
    non_ascii = sum(1 for b in sample if b >= 0x80) / max(len(sample), 1)
    # Western text scores the same under many single-byte code pages (Home Depot's
    # file ties cp775, cp850, iso8859_13, …), so the detector's pick among them is
    # arbitrary. Prefer Western when it is among the tied best, or when the text is
    # mostly ASCII (the code page then only decides a few accented characters):
    # windows-1252 when it decodes every byte, else latin-1, which decodes anything.
    western = bool(tied & {"cp1252", "latin_1", "iso8859_15"})
    if western or (not is_multi_byte_encoding(best.encoding) and non_ascii < 0.01):
        try:
            sample.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            return "latin_1"
    return python_codec(best.encoding)
