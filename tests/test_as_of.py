"""The one as-of rule for pin snapshots (features/as_of.py), on small in-memory frames."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.spark

SNAPSHOTS = "pin_id string, as_of string, text string"
EVENTS = "pin_id string, ds string"


def _as_of(spark, events, snapshots, **kwargs):
    from features.as_of import pin_as_of

    got = pin_as_of(spark.createDataFrame(events, EVENTS), spark.createDataFrame(snapshots, SNAPSHOTS), ["text"],
                    **kwargs)
    return {(r.pin_id, r.ds): (r.text_as_of, r.text, r.text_as_of_after_day) for r in got.collect()}


def test_the_latest_snapshot_on_or_before_the_day_wins_over_earlier_and_later_ones(spark):
    snapshots = [("p1", "2026-01-01", "old"), ("p1", "2026-01-05", "mid"), ("p1", "2026-01-10", "new")]
    got = _as_of(spark, [("p1", "2026-01-07"), ("p1", "2026-01-07"), ("p1", "2026-01-05"), ("p1", "2026-01-04")],
                 snapshots)
    assert got == {
        ("p1", "2026-01-07"): ("2026-01-05", "mid", False),  # latest before wins; the later 01-10 is never taken
        ("p1", "2026-01-05"): ("2026-01-05", "mid", False),  # a snapshot of the day itself counts
        ("p1", "2026-01-04"): ("2026-01-01", "old", False),  # an earlier text is chosen over a nearer later one
    }


def test_a_day_with_no_snapshot_before_it_gets_no_row_unless_asked_for_the_first_one(spark):
    snapshots = [("p1", "2026-01-05", "first"), ("p1", "2026-01-09", "second")]
    events = [("p1", "2026-01-02"), ("p2", "2026-01-09")]  # p1 predates its history; p2 has no text at all
    assert _as_of(spark, events, snapshots) == {}
    # For human labels older than the pin's history: its first snapshot, flagged; never a later one than that.
    assert _as_of(spark, events, snapshots, before_history="earliest") == {
        ("p1", "2026-01-02"): ("2026-01-05", "first", True),
    }


def test_the_exception_never_replaces_an_earlier_snapshot_that_exists(spark):
    snapshots = [("p1", "2026-01-01", "old"), ("p1", "2026-03-01", "new")]
    events = [("p1", "2026-02-15")]
    # With a lookback of 30 days the 01-01 text is too old: no row, not the later 03-01 text.
    assert _as_of(spark, events, snapshots, lookback_days=30, before_history="earliest") == {}
    assert _as_of(spark, events, snapshots, before_history="earliest") == {
        ("p1", "2026-02-15"): ("2026-01-01", "old", False),
    }


def test_lookback_limits_how_old_the_text_may_be(spark):
    snapshots = [("p1", "2026-01-01", "old"), ("p2", "2026-01-01", "old"), ("p2", "2026-01-08", "newer")]
    events = [("p1", "2026-01-11"), ("p1", "2026-01-12"), ("p2", "2026-01-12")]
    assert _as_of(spark, events, snapshots, lookback_days=10) == {
        ("p1", "2026-01-11"): ("2026-01-01", "old", False),  # exactly lookback_days old: still in
        ("p2", "2026-01-12"): ("2026-01-08", "newer", False),
    }
    assert ("p1", "2026-01-12") in _as_of(spark, events, snapshots)  # no lookback: any age


def test_pins_on_a_day_is_the_same_rule_for_the_whole_catalogue(spark):
    from features.as_of import pins_on

    snapshots = spark.createDataFrame(
        [("p1", "2026-01-01", "old"), ("p1", "2026-01-05", "mid"), ("p1", "2026-01-10", "new"),
         ("p2", "2026-01-06", "later only")],
        SNAPSHOTS,
    )
    assert {(r.pin_id, r.text) for r in pins_on(snapshots, "2026-01-05", ["text"]).collect()} == {("p1", "mid")}


def test_labelling_and_teacher_rows_take_the_same_text_for_the_same_day(spark):
    """The drift issue 26 found: the teacher's training rows and the labelling inputs now agree."""
    from features.labelling_inputs import labelling_inputs
    from modeling.teacher_data import labelled_pin_text

    parts = "struct<title:string,description:string>"
    pin_text = spark.createDataFrame(
        [("p1", "2026-01-01", "old", "v1", ("old", None)), ("p1", "2026-01-10", "new", "v1", ("new", None))],
        f"pin_id string, as_of string, text string, template_version string, parts {parts}",
    )
    impressions = spark.createDataFrame([("chair", "p1", "2026-01-07", 1)],
                                        "query string, pin_id string, ds string, position int")
    labels = spark.createDataFrame([("chair", "p1", 4, "2026-01-07")],
                                   "query string, pin_id string, label int, labeled_ds string")
    good, _ = labelling_inputs(impressions, pin_text, "2026-01-07", "2026-01-07")
    teacher = labelled_pin_text(labels, pin_text).collect()
    assert [(r.text, r.pin_text_as_of) for r in good.collect()] == [("old", "2026-01-01")]
    assert [(r.part_title, r.text_as_of, r.text_as_of_after_label) for r in teacher] == [("old", "2026-01-01", False)]


def test_student_examples_quarantine_an_impression_without_earlier_text_but_keep_an_old_label(spark):
    from features.student_examples import REASON_NO_PIN_TEXT, tagged_examples
    from features.tokenizer import tokenize_column

    parts = "struct<title:string>"
    pin_text = spark.createDataFrame([("p1", "2026-01-10", "red chair", (("red chair",)), "en")],
                                     f"pin_id string, as_of string, text string, parts {parts}, lang string")
    embeddings = spark.createDataFrame([("p1", "2026-01-10", [1.0, 0.0], [0.0])],
                                       "pin_id string, as_of string, text_embedding array<float>, "
                                       "graph_embedding array<float>")
    query_features = spark.createDataFrame([("chair", [1.0, 0.0], "home", "en", 0.5, 1)],
                                           "query string, embedding array<float>, interest_type string, lang string, "
                                           "shopping_intent double, n_terms int")
    teacher = spark.createDataFrame([], "query string, pin_id string, teacher_probs array<float>, "
                                        "teacher_version string")
    human = spark.createDataFrame([], "query string, pin_id string, human_label int")
    base = spark.createDataFrame([("chair", "p1", "2026-01-07", "x")], "query string, pin_id string, ds string, "
                                                                       "source string")
    tokenize = lambda col, lang: tokenize_column(col, lang, 2)  # noqa: E731

    def reasons(before_history):
        tagged = tagged_examples(base, query_features, pin_text, embeddings, teacher, human, tokenize, before_history)
        return [(r.reason, r.text_as_of_after_day) for r in tagged.collect()]

    assert reasons("reject") == [(REASON_NO_PIN_TEXT, None)]  # as labelling: no text on or before the day
    assert reasons("earliest") == [(None, True)]  # a label older than the pin's history: kept, flagged
