"""Feature transforms on small in-memory frames, with hand-computed expectations."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import pytest
from pyspark.sql import functions as F

from features.pin_board_tokens import board_pin_rules, pin_board_tokens
from features.pin_link_text import link_text_partials, link_visit_rules, pin_link_text_as_of
from features.pin_query_tokens import query_token_partials, query_tokens_as_of, search_event_rules
from features.windows import carry_forward
from features.pin_text import assemble_pin_text
from features.tokenizer import tokenize, tokenize_column
from searchrel.core.quarantine import split_by_rules

pytestmark = pytest.mark.spark

# Python UDF workers must run this interpreter (the venv's), not whatever `python3` is on PATH;
# set at collection time, before the session fixture starts the JVM.

EVENTS = "user_id string, query string, pin_id string, event string, dwell_s double, position int, ds string"
WEIGHTS = {"click": 1.0, "closeup": 0.5, "save": 3.0, "long_click": 3.0}


def _tokens(rows, key=("pin_id", "as_of")):
    return {tuple(r[k] for k in key): [(t["token"], t["weight"]) for t in r["tokens"]] for r in rows}


def test_tokenize_column_equals_the_python_tokenizer(spark):
    texts = [("Ｒｅｄ Chair 🎉 for the Living-Room, 12", "en"), ("Die rote Küche", None), (None, "en"), ("Café  x", "fr")]
    df = spark.createDataFrame(texts, "text string, lang string")
    got = [r["t"] for r in df.select(tokenize_column("text", "lang").alias("t")).collect()]
    assert got == [tokenize(t, lang) for t, lang in texts]


def test_query_token_partials_weigh_engagement(spark):
    events = spark.createDataFrame(
        [
            ("u1", "red chair", "p1", "click", 5.0, 1, "2026-11-23"),  # click: 1
            ("u2", "red chair", "p1", "click", 10.0, 2, "2026-11-23"),  # long click (dwell exactly 10 s): 3
            ("u3", "Red red chairs for the kitchen!", "p1", "save", None, 1, "2026-11-23"),  # save: 3, 'red' once
            ("u4", "red chair", "p1", "impression", None, 1, "2026-11-23"),  # impression: 0
            ("u5", "blue lamp", "p2", "closeup", 2.0, 3, "2026-11-23"),  # closeup: 0.5
            ("u5", "blue lamp", "p2", "click", 1.0, 3, "2026-11-22"),  # another day: own partial
        ],
        EVENTS,
    )
    langs = spark.createDataFrame([("p1", "en")], "pin_id string, lang string")
    rows = query_token_partials(events, langs, WEIGHTS, long_click_dwell_s=10.0).collect()
    got = sorted((r["pin_id"], r["token"], r["ds"], r["weight"]) for r in rows)
    assert got == [
        ("p1", "chair", "2026-11-23", 4.0),
        ("p1", "chairs", "2026-11-23", 3.0),
        ("p1", "kitchen", "2026-11-23", 3.0),
        ("p1", "red", "2026-11-23", 7.0),
        ("p2", "blue", "2026-11-22", 1.0),
        ("p2", "blue", "2026-11-23", 0.5),
        ("p2", "lamp", "2026-11-22", 1.0),
        ("p2", "lamp", "2026-11-23", 0.5),
    ]


def test_query_tokens_window_edges_top_k_and_ties(spark):
    # 2024-11-23 is exactly 730 days before 2026-11-23: outside the window; 2024-11-24 is inside.
    assert (dt.date(2026, 11, 23) - dt.date(2024, 11, 23)).days == 730
    partials = spark.createDataFrame(
        [
            ("p1", "old", "2024-11-23", 100.0),
            ("p1", "edge", "2024-11-24", 5.0),
            ("p1", "b", "2026-11-22", 2.0),
            ("p1", "a", "2026-11-23", 2.0),
            ("p1", "c", "2026-11-23", 1.0),
            ("p1", "c", "2026-11-20", 0.5),
            ("p1", "future", "2026-11-24", 9.0),
            ("p2", "old", "2024-01-01", 1.0),  # in no window of the range: p2 gets no row
        ],
        "pin_id string, token string, ds string, weight double",
    )
    got = _tokens(query_tokens_as_of(partials, "2026-11-23", "2026-11-24", window_days=730, top_k=3).collect())
    assert got == {
        ("p1", "2026-11-23"): [("edge", 5.0), ("a", 2.0), ("b", 2.0)],  # a before b: tie broken alphabetically
        ("p1", "2026-11-24"): [("future", 9.0), ("a", 2.0), ("b", 2.0)],  # edge has left the window
    }
    got4 = _tokens(query_tokens_as_of(partials, "2026-11-23", "2026-11-23", 730, top_k=4).collect())
    assert got4 == {("p1", "2026-11-23"): [("edge", 5.0), ("a", 2.0), ("b", 2.0), ("c", 1.5)]}


def test_day_by_day_aggregation_equals_a_full_recompute_and_a_brute_force(spark):
    rng = random.Random(3)
    days = ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]
    words = ["red", "chair", "lamp", "blue", "garden", "oak", "the"]
    kinds = ["impression", "click", "save", "closeup"]
    rows = [
        (f"u{rng.randrange(5)}", " ".join(rng.sample(words, 2)), f"p{rng.randrange(3)}", rng.choice(kinds),
         float(rng.choice([0, 5, 10, 20])), 1, day)
        for day in days for _ in range(15)
    ]
    events = spark.createDataFrame(rows, EVENTS)
    window, k = 2, 3

    full_partials = query_token_partials(events, None, WEIGHTS, 10.0)
    full = query_tokens_as_of(full_partials, days[1], days[-1], window, k).collect()

    daily_partials = None
    for day in days:
        one = query_token_partials(events.where(F.col("ds") == day), None, WEIGHTS, 10.0)
        daily_partials = one if daily_partials is None else daily_partials.unionByName(one)
    by_day = []
    for day in days[1:]:
        by_day += query_tokens_as_of(daily_partials, day, day, window, k).collect()

    # Carried forward: each day re-sums only the pins of the day entering and the day leaving the window.
    rolled = query_tokens_as_of(daily_partials, days[1], days[1], window, k).collect()
    snapshot = spark.createDataFrame(rolled, "pin_id string, as_of string, tokens array<struct<token:string,weight:double>>")
    for i, day in enumerate(days[2:], start=2):
        touched = daily_partials.where(F.col("ds").isin(day, days[i - window])).select("pin_id")
        fresh = query_tokens_as_of(daily_partials.join(touched.distinct(), "pin_id", "left_semi"), day, day, window, k)
        snapshot = carry_forward(snapshot, fresh, touched, day).localCheckpoint()
        rolled += snapshot.collect()

    # Independent brute force over the raw rows.
    expected = {}
    for as_of in days[1:]:
        acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for _user, query, pin, event, dwell, _pos, day in rows:
            back = (dt.date.fromisoformat(as_of) - dt.date.fromisoformat(day)).days
            if not 0 <= back < window:
                continue
            w = {"click": 3.0 if dwell >= 10 else 1.0, "save": 3.0, "closeup": 0.5}.get(event, 0.0)
            if w:
                for token in set(tokenize(query)):
                    acc[pin][token] += w
        for pin, weights in acc.items():
            expected[(pin, as_of)] = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    assert _tokens(full) == _tokens(by_day) == _tokens(rolled) == expected


def test_carry_forward_keeps_untouched_pins_and_drops_touched_ones_left_empty(spark):
    snapshot = spark.createDataFrame([("p1", "2026-11-23", "old"), ("p2", "2026-11-23", "kept"), ("p3", "2026-11-23", "gone")],
                                     "pin_id string, as_of string, v string")
    fresh = spark.createDataFrame([("p1", "2026-11-24", "new")], "pin_id string, as_of string, v string")
    touched = spark.createDataFrame([("p1",), ("p3",), ("p3",)], "pin_id string")
    got = sorted(tuple(r) for r in carry_forward(snapshot, fresh, touched, "2026-11-24").collect())
    assert got == [("p1", "2026-11-24", "new"), ("p2", "2026-11-24", "kept")]  # p3 touched, nothing left: dropped


def test_board_tokens_count_distinct_users_per_snapshot(spark):
    saves = spark.createDataFrame(
        [
            ("b1", "p1", "Kitchen Ideas", "u1", "2026-11-20"),
            ("b2", "p1", "kitchen!", "u1", "2026-11-21"),  # same user: 'kitchen' still one vote
            ("b3", "p1", "Modern Kitchen", "u2", "2026-11-22"),
            ("b4", "p1", "Modern Garden", "u3", "2026-11-23"),
            ("b5", "p1", "Kitchen", None, "2026-11-24"),  # after the range
            ("b6", "p2", "Kitchen", None, "2026-11-23"),  # no user: the board votes
            ("b7", "p2", "Kitchen", None, "2026-11-23"),
        ],
        "board_id string, pin_id string, board_title string, user_id string, saved_ds string",
    )
    got = _tokens(pin_board_tokens(saves, "2026-11-22", "2026-11-23", top_k=3).collect())
    assert got == {
        ("p1", "2026-11-22"): [("kitchen", 2.0), ("ideas", 1.0), ("modern", 1.0)],
        ("p1", "2026-11-23"): [("kitchen", 2.0), ("modern", 2.0), ("garden", 1.0)],  # garden < ideas
        ("p2", "2026-11-23"): [("kitchen", 2.0)],
    }


def test_link_text_keeps_long_dwell_dedups_and_bounds(spark):
    visits = spark.createDataFrame(
        [
            ("p1", "Red Chair", "A very long description here", 10.0, "2026-11-23"),  # exactly 10 s: in
            ("p1", "red  chair", None, 30.0, "2026-11-23"),
            ("p1", "red chair", None, 11.0, "2026-11-22"),
            ("p1", "Blue Lamp", None, 9.9, "2026-11-23"),  # too short a visit
            ("p1", "Garden", None, 12.0, "2026-11-23"),
            ("p1", "Blue Lamp", None, 12.0, "2026-11-23"),
            ("p2", None, "Only a description", 60.0, "2026-11-23"),
            ("p3", "Short", None, 3.0, "2026-11-23"),  # nothing long enough: no row
        ],
        "pin_id string, link_title string, link_description string, dwell_s double, ds string",
    )
    partials = link_text_partials(visits, min_dwell_s=10.0, max_chars=12)
    rows = pin_link_text_as_of(partials, "2026-11-23", "2026-11-23", window_days=730, max_items=2).collect()
    got = {r["pin_id"]: (r["as_of"], r["link_titles"], r["link_descriptions"]) for r in rows}
    assert got == {
        # 'red chair' x2 beats 'Red Chair' x1 as the spelling; Blue Lamp and Garden tie at 1: alphabetical.
        "p1": ("2026-11-23", ["red chair", "Blue Lamp"], ["A very long"]),
        "p2": ("2026-11-23", [], ["Only a descr"]),
    }


def test_pin_text_snapshots_parts_and_budgets(spark):
    pins = spark.createDataFrame(
        [
            ("p1", "Red  chair", "one two three four five", "en", "2026-11-01"),
            ("p2", None, None, "de", "2026-11-23"),  # created on the last day: one snapshot
            ("p3", "Later", None, "en", "2026-11-30"),  # not created yet
        ],
        "pin_id string, title string, description string, lang string, created_ds string",
    )
    tok = "array<struct<token:string,weight:double>>"
    qt = spark.createDataFrame([("p1", "2026-11-23", [("red", 3.0), ("chair", 2.0), ("oak", 1.0)])],
                               f"pin_id string, as_of string, tokens {tok}")
    bt = spark.createDataFrame([("p1", "2026-11-22", [("kitchen", 2.0)])], f"pin_id string, as_of string, tokens {tok}")
    lt = spark.createDataFrame([("p1", "2026-11-23", ["How to paint"], ["Paint guide"])],
                               "pin_id string, as_of string, link_titles array<string>, link_descriptions array<string>")
    caps = spark.createDataFrame([("p1", "a red chair in a room")], "pin_id string, caption string")
    budgets = {"title": 5, "description": 3, "caption": 3, "query_tokens": 2, "board_tokens": 5, "link_text": 4}
    out = assemble_pin_text(pins, "2026-11-22", "2026-11-23", budgets, "v1", caps, qt, bt, lt)
    assert out.columns == ["pin_id", "as_of", "text", "template_version", "parts", "lang"]
    got = {(r["pin_id"], r["as_of"]): (r["text"], r["parts"].asDict(), r["lang"]) for r in out.collect()}
    assert sorted(got) == [("p1", "2026-11-22"), ("p1", "2026-11-23"), ("p2", "2026-11-23")]
    assert got[("p1", "2026-11-23")] == (
        "title: Red chair | description: one two three | image: a red chair | searches: red chair"
        " | link: How to paint; Paint",
        {"title": "Red chair", "description": "one two three", "caption": "a red chair",
         "query_tokens": "red chair", "board_tokens": "", "link_text": "How to paint; Paint"},
        "en",
    )
    assert got[("p1", "2026-11-22")][0] == (
        "title: Red chair | description: one two three | image: a red chair | boards: kitchen"
    )
    assert got[("p2", "2026-11-23")] == (
        "", {"title": "", "description": "", "caption": "", "query_tokens": "", "board_tokens": "", "link_text": ""}, "de"
    )


def test_bad_rows_get_a_reason(spark):
    events = spark.createDataFrame(
        [
            ("u1", "red chair", "p1", "click", 1.0, 1, "2026-11-23"),
            ("u1", "red chair", None, "click", 1.0, 1, "2026-11-23"),
            ("u1", None, "p1", "click", 1.0, 1, "2026-11-23"),
            ("u1", "red chair", "p1", "like", 1.0, 1, "2026-11-23"),
            ("u1", "bad \ufffd bytes", "p1", "click", 1.0, 1, "2026-11-23"),
            ("u1", "x" * 50, "p1", "click", 1.0, 1, "2026-11-23"),
        ],
        EVENTS,
    )
    good, bad = split_by_rules(events, search_event_rules(max_text_chars=40))
    assert good.count() == 1
    assert sorted(r["reason"] for r in bad.collect()) == sorted(
        ["null pin_id", "null query", "unknown event", "invalid unicode in query", "query longer than 40 chars"]
    )
    saves = spark.createDataFrame([("b1", "p1", "ok", "u1", None), ("b1", "p1", "a" * 50, "u1", "2026-11-23")],
                                  "board_id string, pin_id string, board_title string, user_id string, saved_ds string")
    _, bad = split_by_rules(saves, board_pin_rules(40))
    assert sorted(r["reason"] for r in bad.collect()) == ["board_title longer than 40 chars", "null saved_ds"]
    visits = spark.createDataFrame([("p1", "t", "d", -1.0, "2026-11-23")],
                                   "pin_id string, link_title string, link_description string, dwell_s double, ds string")
    _, bad = split_by_rules(visits, link_visit_rules(40))
    assert [r["reason"] for r in bad.collect()] == ["negative dwell_s"]
