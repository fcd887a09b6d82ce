"""Suites for the raw/ tables: what a day of logs or a catalogue snapshot must look like.

These gate everything downstream, so they check the contract (columns,
types, keys) and the values every later job relies on: known event types,
non-negative dwell times, labels 1..5, language codes, non-empty text, and
the row count against the previous partition (a day with half its events
missing is the classic silent upstream failure).
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from expectations.spec import (
    EVENT_TYPES,
    LABELS,
    SuiteInputs,
    TableSuite,
    between,
    date_strings,
    in_set,
    language_codes,
    not_null,
    row_count,
    schema,
    text_length,
    unique_key,
)
from searchrel.core import catalog

ID = ["StringType", "LongType", "IntegerType"]
NUMBER = ["DoubleType", "FloatType", "IntegerType", "LongType"]
INTEGER = ["IntegerType", "LongType", "ShortType", "ByteType"]


def pins(i: SuiteInputs):
    return [
        *schema({"pin_id": ID, "title": "StringType", "description": "StringType", "link_url": "StringType",
                 "lang": "StringType", "created_ds": "StringType"}),
        *unique_key(["pin_id"]),
        gxe.ExpectColumnValuesToNotBeNull(
            column="title", mostly=0.5,
            notes="Some pins have no title, but most do: a day where most titles vanish is an upstream failure.",
        ),
        text_length("title", i.v.max_raw_text_chars, min_chars=0,
                    notes=f"Titles are at most {i.v.max_raw_text_chars} characters (empty ones are allowed)."),
        language_codes("lang"),
        date_strings("created_ds"),
        row_count(i),
    ]


def pin_images(i: SuiteInputs):
    return [
        *schema({"pin_id": ID, "image": "BinaryType"}),
        *unique_key(["pin_id"]),
        *not_null(["image"]),
        text_length("image", 2**31 - 1, min_chars=16,
                    notes="An encoded image is at least a few bytes (no empty or truncated blobs)."),
        row_count(i),
    ]


def search_events(i: SuiteInputs):
    return [
        *schema({"user_id": ID, "query": "StringType", "pin_id": ID, "event": "StringType",
                 "dwell_s": NUMBER, "ds": "StringType"}),
        *not_null(["user_id", "query", "pin_id", "event"]),
        in_set("event", EVENT_TYPES, notes="The four event types the aggregations know."),
        between("dwell_s", 0, None, notes="Dwell time is seconds spent on the pin; never negative."),
        text_length("query", i.v.max_query_chars),
        row_count(i),
    ]


def board_pins(i: SuiteInputs):
    return [
        *schema({"board_id": ID, "pin_id": ID, "board_title": "StringType", "user_id": ID,
                 "saved_ds": "StringType"}),
        *unique_key(["board_id", "pin_id"]),
        text_length("board_title", i.v.max_raw_text_chars),
        *not_null(["user_id"]),
        date_strings("saved_ds"),
        row_count(i),
    ]


def link_visits(i: SuiteInputs):
    return [
        *schema({"pin_id": ID, "link_title": "StringType", "link_description": "StringType",
                 "dwell_s": NUMBER, "ds": "StringType"}),
        *not_null(["pin_id", "dwell_s"]),
        between("dwell_s", 0, None, notes="Dwell time on the linked page; never negative."),
        text_length("link_title", i.v.max_raw_text_chars, min_chars=0,
                    notes=f"Linked page titles are at most {i.v.max_raw_text_chars} characters."),
        row_count(i),
    ]


def human_labels(i: SuiteInputs):
    return [
        *schema({"query": "StringType", "pin_id": ID, "label": INTEGER, "rater_id": ID,
                 "labeled_ds": "StringType"}),
        *unique_key(["query", "pin_id"]),
        *not_null(["label"]),
        in_set("label", LABELS, notes="Relevance labels are integers 1 (highly irrelevant) .. 5 (highly relevant)."),
        text_length("query", i.v.max_query_chars),
        date_strings("labeled_ds"),
        row_count(i),
    ]


def human_label_ratings(i: SuiteInputs):
    return [
        *schema({"query": "StringType", "pin_id": ID, "rater_id": ID, "label": INTEGER}),
        *unique_key(["query", "pin_id", "rater_id"]),
        *not_null(["label"]),
        in_set("label", LABELS, notes="Every rater's label is an integer 1..5."),
        row_count(i),
    ]


def impressions(i: SuiteInputs):
    return [
        *schema({"query": "StringType", "pin_id": ID, "ds": "StringType", "position": INTEGER,
                 "lang": "StringType"}),
        *unique_key(["query", "pin_id", "ds"]),
        between("position", 0, None, notes="Result positions count from 0 (or 1); never negative."),
        language_codes("lang"),
        text_length("query", i.v.max_query_chars),
        row_count(i),
    ]


SUITES = [
    TableSuite(catalog.PINS, pins),
    TableSuite(catalog.PIN_IMAGES, pin_images),
    TableSuite(catalog.SEARCH_EVENTS, search_events, row_count_tolerance="search_events_row_count_tolerance"),
    TableSuite(catalog.BOARD_PINS, board_pins),
    TableSuite(catalog.LINK_VISITS, link_visits),
    TableSuite(catalog.HUMAN_LABELS, human_labels),
    TableSuite(catalog.HUMAN_LABEL_RATINGS, human_label_ratings),
    TableSuite(catalog.IMPRESSIONS, impressions),
]
