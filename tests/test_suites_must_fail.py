"""Every suite fails on planted bad rows, and names the expectations they break (and only those).

One small table per suite, built next to its assertion: a few good rows and one
bad row per rule under test. test_expectations.py covers the suites with
thresholds from other data (row counts, label distributions, embedding
dimensions) and the published reports; this file gives each remaining suite
its must-fail case, so a suite whose check is dropped or mistyped fails here.
Validated with `publish=False` (an in-memory great-expectations context).
"""

from __future__ import annotations

import math

import pytest

from dq_support import failed, result

pytestmark = pytest.mark.spark

DS = "2026-11-23"
SHA = "ab" * 32


def _validate(tables, config, name: str, ds: str | None = None):
    from expectations.runner import validate_table

    return validate_table(tables, config, name, ds, publish=False)


# -- raw/ ---------------------------------------------------------------------------------------


def test_pins_duplicate_id_unknown_language_and_bad_date_fail(spark, tables, dq_config):
    rows = [("p1", "Red chair", "oak", "https://a.example/1", "en", "2026-01-01"),
            ("p2", "Blue lamp", None, None, "de", "2026-01-02"),
            ("p3", None, None, None, "und", "2026-01-03"),
            ("p2", "Blue lamp again", None, None, "xx", "02/01/2026")]  # repeated id, no such language, not ISO
    tables.overwrite("raw/pins", spark.createDataFrame(
        rows, "pin_id string, title string, description string, link_url string, lang string, created_ds string"))
    summary = _validate(tables, dq_config, "raw/pins")
    assert failed(summary) == {
        ("expect_column_values_to_be_unique", "pin_id"),
        ("expect_column_values_to_be_in_set", "lang"),
        ("expect_column_values_to_match_regex", "created_ds"),
    }
    assert result(summary, "expect_column_values_to_be_in_set", "lang").samples == ["xx"]


def test_pin_images_missing_and_truncated_images_fail(spark, tables, dq_config):
    png = b"\x89PNG\r\n\x1a\n" + bytes(32)
    rows = [("p1", png), ("p2", png), ("p3", None), ("p4", b"\x89PNG")]  # no image; 4 bytes: truncated
    tables.overwrite("raw/pin_images", spark.createDataFrame(rows, "pin_id string, image binary"))
    summary = _validate(tables, dq_config, "raw/pin_images")
    assert failed(summary) == {
        ("expect_column_values_to_not_be_null", "image"),
        ("expect_column_value_lengths_to_be_between", "image"),
    }
    assert result(summary, "expect_column_value_lengths_to_be_between", "image").unexpected_count == 1


def test_board_pins_duplicate_save_empty_title_no_user_and_bad_date_fail(spark, tables, dq_config):
    rows = [("b1", "p1", "Living room", "u1", "2026-11-01"),
            ("b1", "p2", "Living room", "u1", "2026-11-02"),
            ("b1", "p1", "Living room", "u1", "2026-11-03"),  # the same pin on the same board twice
            ("b2", "p3", "", "u2", "2026-11-03"),  # empty board title
            ("b3", "p3", "Kitchen", None, "20261103")]  # no user, not yyyy-MM-dd
    tables.overwrite("raw/board_pins", spark.createDataFrame(
        rows, "board_id string, pin_id string, board_title string, user_id string, saved_ds string"))
    summary = _validate(tables, dq_config, "raw/board_pins")
    assert failed(summary) == {
        ("expect_compound_columns_to_be_unique", None),
        ("expect_column_value_lengths_to_be_between", "board_title"),
        ("expect_column_values_to_not_be_null", "user_id"),
        ("expect_column_values_to_match_regex", "saved_ds"),
    }
    assert result(summary, "expect_column_values_to_match_regex", "saved_ds").samples == ["20261103"]


def test_link_visits_without_pin_or_with_negative_dwell_fail(spark, tables, dq_config):
    rows = [("p1", "Chair guide", "How to pick a chair", 30.0, DS), ("p2", "Oak care", None, 12.5, DS),
            (None, "Lost", None, 4.0, DS), ("p3", "Clock skew", None, -3.0, DS)]
    tables.replace_range("raw/link_visits", spark.createDataFrame(
        rows, "pin_id string, link_title string, link_description string, dwell_s double, ds string"), DS)
    summary = _validate(tables, dq_config, "raw/link_visits", DS)
    assert failed(summary) == {
        ("expect_column_values_to_not_be_null", "pin_id"),
        ("expect_column_values_to_be_between", "dwell_s"),
    }
    assert result(summary, "expect_column_values_to_be_between", "dwell_s").samples == [-3.0]


def test_human_label_ratings_off_scale_missing_and_repeated_ratings_fail(spark, tables, dq_config):
    rows = [("blue sofa", "p1", "r1", 5), ("blue sofa", "p1", "r2", 4), ("red lamp", "p2", "r1", 2),
            ("red lamp", "p2", "r2", 0),  # off the 1..5 scale
            ("red lamp", "p2", "r3", None),  # no label
            ("blue sofa", "p1", "r1", 3)]  # the same rater twice on one pair
    tables.overwrite("raw/human_label_ratings", spark.createDataFrame(
        rows, "query string, pin_id string, rater_id string, label int"))
    summary = _validate(tables, dq_config, "raw/human_label_ratings")
    assert failed(summary) == {
        ("expect_compound_columns_to_be_unique", None),
        ("expect_column_values_to_not_be_null", "label"),
        ("expect_column_values_to_be_in_set", "label"),
    }
    assert result(summary, "expect_column_values_to_be_in_set", "label").samples == [0]


def test_impressions_negative_position_unknown_language_long_query_and_repeats_fail(spark, tables, dq_config):
    long_query = "sofa " * 60  # 300 characters, over validation.max_query_chars (256)
    rows = [("blue sofa", "p1", DS, 0, "en"), ("blue sofa", "p2", DS, 1, "en"), ("lampe", "p3", DS, 0, "fr"),
            ("blue sofa", "p4", DS, -1, "en"), ("red lamp", "p5", DS, 2, "zz"), (long_query, "p6", DS, 0, "en"),
            ("blue sofa", "p1", DS, 5, "en")]  # the same impression twice
    tables.replace_range("raw/impressions", spark.createDataFrame(
        rows, "query string, pin_id string, ds string, position int, lang string"), DS)
    summary = _validate(tables, dq_config, "raw/impressions", DS)
    assert failed(summary) == {
        ("expect_compound_columns_to_be_unique", None),
        ("expect_column_values_to_be_between", "position"),
        ("expect_column_values_to_be_in_set", "lang"),
        ("expect_column_value_lengths_to_be_between", "query"),
    }
    assert result(summary, "expect_column_values_to_be_between", "position").samples == [-1]


# -- features/ snapshots --------------------------------------------------------------------------


def test_board_tokens_over_top_k_negative_weights_and_repeated_pins_fail(spark, tables, dq_config):
    top_k = dq_config.features.board_tokens.top_k
    tokens = lambda n, w=1.0: [(f"t{j}", w) for j in range(n)]  # noqa: E731
    rows = [("p1", DS, tokens(2)), ("p2", DS, tokens(top_k)), ("p3", DS, []),
            ("p4", DS, tokens(top_k + 1)), ("p5", DS, tokens(1, -1.0)), ("p1", DS, tokens(1))]
    tables.replace_range("features/pin_board_tokens", spark.createDataFrame(
        rows, "pin_id string, as_of string, tokens array<struct<token: string, weight: double>>"), DS, col="as_of")
    summary = _validate(tables, dq_config, "features/pin_board_tokens", DS)
    assert failed(summary) == {
        ("expect_compound_columns_to_be_unique", None),
        ("expect_column_values_to_be_between", "n_tokens"),
        ("expect_column_values_to_be_between", "tokens_min_weight"),
    }
    assert result(summary, "expect_column_values_to_be_between", "n_tokens").samples == [top_k + 1]


def test_link_text_over_max_items_and_unclipped_texts_fail(spark, tables, dq_config):
    lt = dq_config.features.link_text
    long = "x" * (lt.max_chars + 1)
    rows = [("p1", DS, ["Chair guide"], ["How to pick a chair"]), ("p2", DS, [], []),
            ("p3", DS, [f"title {j}" for j in range(lt.max_items + 1)], []),  # one title too many
            ("p4", DS, [long], ["fine"]), ("p5", DS, ["fine"], [long])]  # not clipped
    tables.replace_range("features/pin_link_text", spark.createDataFrame(
        rows, "pin_id string, as_of string, link_titles array<string>, link_descriptions array<string>"),
        DS, col="as_of")
    summary = _validate(tables, dq_config, "features/pin_link_text", DS)
    assert failed(summary) == {
        ("expect_column_values_to_be_between", "n_link_titles"),
        ("expect_column_values_to_be_between", "link_titles_max_chars"),
        ("expect_column_values_to_be_between", "link_descriptions_max_chars"),
    }
    assert result(summary, "expect_column_values_to_be_between", "link_titles_max_chars").samples == [lt.max_chars + 1]


def test_captions_empty_caption_unknown_captioner_and_bad_hash_fail(spark, tables, dq_config):
    rows = [("p1", "a red chair", "blip", SHA), ("p2", "an oak table", "blip", SHA),
            ("p3", "", "blip", SHA), ("p4", "a lamp", None, SHA), ("p5", "a rug", "blip", "not-a-hash")]
    tables.overwrite("features/pin_captions", spark.createDataFrame(
        rows, "pin_id string, caption string, captioner string, image_sha256 string"))
    summary = _validate(tables, dq_config, "features/pin_captions")
    assert failed(summary) == {
        ("expect_column_value_lengths_to_be_between", "caption"),
        ("expect_column_values_to_not_be_null", "captioner"),
        ("expect_column_values_to_match_regex", "image_sha256"),
    }
    assert result(summary, "expect_column_values_to_match_regex", "image_sha256").samples == ["not-a-hash"]


def test_pin_text_mostly_empty_texts_no_template_and_repeated_pins_fail(spark, tables, dq_config):
    parts = ("t",)
    rows = [("p1", DS, "title: red chair", "v1", parts), ("p2", DS, "title: oak table", "v1", parts),
            ("p3", DS, "", "v1", parts),  # 1 empty text in 5 is over the 5 % allowed
            ("p4", DS, "title: lamp", None, parts),  # no template version
            ("p1", DS, "title: red chair", "v1", parts)]  # the same pin twice in one snapshot
    tables.replace_range("features/pin_text", spark.createDataFrame(
        rows, "pin_id string, as_of string, text string, template_version string, parts struct<title: string>"),
        DS, col="as_of")
    summary = _validate(tables, dq_config, "features/pin_text", DS)
    assert failed(summary) == {
        ("expect_compound_columns_to_be_unique", None),
        ("expect_column_values_to_not_be_null", "template_version"),
        ("expect_column_value_lengths_to_be_between", "text"),
    }
    assert result(summary, "expect_column_value_lengths_to_be_between", "text").unexpected_count == 1


def test_query_features_unnormalised_embedding_intent_out_of_range_and_no_interest_fail(spark, tables, dq_config):
    dim = 384  # all-MiniLM-L6-v2, the default sentence encoder (test_expectations checks the lookup)
    unit = [1.0 / math.sqrt(dim)] * dim
    rows = [("blue sofa", unit, "shopping", 0.8, "en", 2), ("diy shelf", unit, "diy", 0.1, "en", 2),
            ("red lamp", [2 * x for x in unit], "shopping", 0.5, "en", 2),  # norm 2
            ("wedding", unit, "events", 1.5, "en", 1),  # intent over 1
            ("lampe", unit, None, 0.3, "fr", 1)]  # no interest type
    tables.overwrite("features/query_features", spark.createDataFrame(
        rows, "query string, embedding array<float>, interest_type string, shopping_intent double, lang string, "
        "n_terms int"))
    summary = _validate(tables, dq_config, "features/query_features")
    assert failed(summary) == {
        ("expect_column_values_to_be_between", "embedding_norm"),
        ("expect_column_values_to_be_between", "shopping_intent"),
        ("expect_column_values_to_not_be_null", "interest_type"),
    }
    norm = result(summary, "expect_column_values_to_be_between", "embedding_norm")
    assert norm.samples == pytest.approx([2.0], abs=1e-5)


# -- features/ daily partials (expectations/suites_partials.py) --------------------------------------


def test_query_token_partials_negative_weight_empty_token_and_repeats_fail(spark, tables, dq_config):
    rows = [("p1", "chair", DS, 3.0), ("p1", "red", DS, 3.0), ("p2", "oak", DS, 0.5),
            ("p2", "table", DS, -1.0),  # engagement is never negative
            ("p3", "", DS, 1.0),  # an empty token
            ("p1", "chair", DS, 1.0)]  # the same pin, token and day twice
    tables.replace_range("features/pin_query_token_daily", spark.createDataFrame(
        rows, "pin_id string, token string, ds string, weight double"), DS)
    summary = _validate(tables, dq_config, "features/pin_query_token_daily", DS)
    assert failed(summary) == {
        ("expect_compound_columns_to_be_unique", None),
        ("expect_column_values_to_be_between", "weight"),
        ("expect_column_value_lengths_to_be_between", "token"),
    }
    assert result(summary, "expect_column_values_to_be_between", "weight").samples == [-1.0]


def test_link_text_partials_unknown_field_wrong_key_zero_count_and_unclipped_text_fail(spark, tables, dq_config):
    max_chars = dq_config.features.link_text.max_chars
    long = "x" * (max_chars + 1)
    rows = [("p1", DS, "title", "chair guide", "Chair guide", 2),
            ("p1", DS, "title", "chair guide", "chair guide", 1),  # another spelling: a row of its own
            ("p1", DS, "description", "how to pick a chair", "How to pick a chair", 1),
            ("p2", DS, "body", "oak care", "Oak care", 1),  # no such field
            ("p3", DS, "title", "Lamp", "Lamp", 1),  # the key is not the lower-cased text
            ("p4", DS, "title", "rug", "rug", 0),  # a count of no visits
            ("p5", DS, "title", long, long, 1)]  # not clipped
    tables.replace_range("features/pin_link_text_daily", spark.createDataFrame(
        rows, "pin_id string, ds string, field string, text_key string, text string, n int"), DS)
    summary = _validate(tables, dq_config, "features/pin_link_text_daily", DS)
    assert failed(summary) == {
        ("expect_column_values_to_be_in_set", "field"),
        ("expect_column_pair_values_to_be_equal", None),
        ("expect_column_values_to_be_between", "n"),
        ("expect_column_value_lengths_to_be_between", "text"),
    }
    assert result(summary, "expect_column_pair_values_to_be_equal", None).unexpected_count == 1


def test_feature_days_a_day_recorded_twice_or_without_its_run_fails(spark, tables, dq_config):
    good = spark.createDataFrame([("2026-11-22", "run-1")], "ds string, run_id string")
    tables.replace_range("features/pin_feature_days", good, "2026-11-22", partition_by=[])
    assert _validate(tables, dq_config, "features/pin_feature_days", "2026-11-22").success

    bad = spark.createDataFrame([(DS, "run-2"), (DS, None)], "ds string, run_id string")
    tables.replace_range("features/pin_feature_days", bad, DS, partition_by=[])
    summary = _validate(tables, dq_config, "features/pin_feature_days", DS)
    assert failed(summary) == {
        ("expect_column_values_to_be_unique", "ds"),
        ("expect_column_values_to_not_be_null", "run_id"),
    }
