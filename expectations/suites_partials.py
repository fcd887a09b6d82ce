"""Suites for the aggregation's own tables: the daily partials and the record of the days computed.

Every query-token and link-text snapshot is a sum of these partials over a
trailing window of up to two years, and a day's partials are computed once and
then only read. A bad partial (a negative weight, a day counted twice, a text
longer than the clip) would therefore reach every snapshot of its window
silently; these suites catch it on the day it is made. `pin_feature_days` is
what tells the job a day's partials exist: a day recorded twice, or without
the run that computed it, would make a rerun skip or double a day.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from expectations.spec import (
    SuiteInputs,
    TableSuite,
    between,
    date_strings,
    in_set,
    not_null,
    row_count,
    schema,
    text_length,
    unique_key,
)
from expectations.suites_raw import ID, INTEGER, NUMBER
from searchrel.core import catalog

LINK_FIELDS = ["title", "description"]  # features.pin_link_text.FIELDS


def pin_query_token_daily(i: SuiteInputs):
    return [
        *schema({"pin_id": ID, "token": "StringType", "ds": "StringType", "weight": NUMBER}),
        *unique_key(["pin_id", "token", "ds"]),
        text_length("token", i.v.max_query_chars, notes="A token is a non-empty piece of a query."),
        *not_null(["weight"]),
        between("weight", 0, None, notes="A day's token weight is summed engagement; never negative."),
        date_strings("ds"),
        row_count(i),
    ]


def _link_daily_derive(batch: DataFrame, inputs: SuiteInputs) -> DataFrame:
    return batch.withColumn("text_lowercased", F.lower(F.col("text")))


def pin_link_text_daily(i: SuiteInputs):
    max_chars = i.config.features.link_text.max_chars
    return [
        *schema({"pin_id": ID, "ds": "StringType", "field": "StringType", "text_key": "StringType",
                 "text": "StringType", "n": INTEGER}),
        *unique_key(["pin_id", "ds", "field", "text_key", "text"]),
        in_set("field", LINK_FIELDS, notes="Link text comes from the linked page's title or description."),
        text_length("text", max_chars, notes=f"Texts are clipped to features.link_text.max_chars={max_chars}."),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="text_key", column_B="text_lowercased",
            notes="text_key is the lower-cased text: the window sums group texts by it.",
        ),
        between("n", 1, None, notes="n counts the day's long visits with this text: at least one."),
        date_strings("ds"),
        row_count(i),
    ]


def pin_feature_days(i: SuiteInputs):
    return [
        *schema({"ds": "StringType", "run_id": "StringType"}),
        *unique_key(["ds"]),
        date_strings("ds"),
        *not_null(["run_id"], notes="The run that computed the day's partials (for tracing a bad day back)."),
        row_count(i),
    ]


SUITES = [
    TableSuite(catalog.PIN_QUERY_TOKEN_DAILY, pin_query_token_daily),
    TableSuite(catalog.PIN_LINK_TEXT_DAILY, pin_link_text_daily, _link_daily_derive),
    TableSuite(catalog.PIN_FEATURE_DAYS, pin_feature_days),
]
