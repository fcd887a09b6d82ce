"""Data-quality suites: good data passes, planted bad data fails with the specific expectation firing.

Tables are tiny Delta tables in tmp_path built next to the assertions. Most
checks run with `publish=False` (an in-memory great-expectations context, no
Data Docs) because great-expectations on Spark costs seconds per suite; the
published path (Data Docs site, summary JSON, CLI exit codes) is covered by
its own tests.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from dq_support import failed, result
from expectations.derived import total_variation
from expectations.describe import ExpectationOutcome, sentence
from expectations.spec import known_language_codes

# -- helpers ---------------------------------------------------------------------


def _events(spark, ds: str, n: int, bad: bool = False):
    rows = []
    for i in range(n):
        event = ["impression", "click", "save", "closeup"][i % 4]
        dwell = float(i % 30)
        if bad and i == 3:
            event = "purchase"
        if bad and i == 5:
            dwell = -2.5
        rows.append((f"u{i % 9}", f"blue sofa {i % 11}", f"p{i % 17}", event, dwell, ds))
    return spark.createDataFrame(
        rows, "user_id string, query string, pin_id string, event string, dwell_s double, ds string"
    )


# -- pure helpers -------------------------------------------------------------------


def test_total_variation_is_half_the_l1_distance():
    human = {1: 0.1, 2: 0.2, 3: 0.4, 4: 0.2, 5: 0.1}
    one_class = {3: 1.0}
    # |0.1|+|0.2|+|0.6|+|0.2|+|0.1| = 1.2 -> 0.6
    assert total_variation(one_class, human) == pytest.approx(0.6)
    assert total_variation(human, human) == 0.0


def test_language_codes_are_iso_639_1():
    codes = known_language_codes()
    assert {"en", "de", "fr", "es", "und"} <= codes
    assert "eng" not in codes and "xx" not in codes


def test_sentences_say_what_failed_in_words():
    out = ExpectationOutcome(
        expectation="expect_column_values_to_be_in_set", column="event", columns=None, success=False,
        kwargs={"column": "event", "value_set": ["impression", "click"]}, unexpected_count=3,
        element_count=200, unexpected_percent=1.5, samples=["purchase", "view"],
    )
    assert sentence(out) == (
        "column 'event': 3 of 200 rows (1.50%) are not one of impression, click; e.g. 'purchase', 'view'"
    )
    rows = ExpectationOutcome(
        expectation="expect_table_row_count_to_be_between", column=None, columns=None, success=False,
        kwargs={"min_value": 200, "max_value": 600}, observed=150,
    )
    assert sentence(rows) == "row count is 150, expected between 200 and 600"


# -- raw tables -----------------------------------------------------------------------


@pytest.mark.spark
def test_search_events_good_day_passes_and_half_a_day_fails_the_row_count(spark, tables, dq_config):
    from expectations.runner import validate_table

    days = _events(spark, "2026-11-21", 120).unionByName(_events(spark, "2026-11-22", 110)).unionByName(
        _events(spark, "2026-11-23", 50, bad=True)
    )
    tables.replace_range("raw/search_events", days, "2026-11-21", "2026-11-23")

    good = validate_table(tables, dq_config, "raw/search_events", "2026-11-22", publish=False)
    assert good.success, good.message()
    assert good.rows == 110
    assert result(good, "expect_table_row_count_to_be_between", None).kwargs["min_value"] == 72  # 120 * (1 - validation.search_events_row_count_tolerance 0.4)

    bad = validate_table(tables, dq_config, "raw/search_events", "2026-11-23", publish=False)
    assert failed(bad) == {
        ("expect_table_row_count_to_be_between", None),
        ("expect_column_values_to_be_in_set", "event"),
        ("expect_column_values_to_be_between", "dwell_s"),
    }
    rows = result(bad, "expect_table_row_count_to_be_between", None)
    assert (rows.observed, rows.kwargs["min_value"], rows.kwargs["max_value"]) == (50, 66, 154)  # 110 -/+ 40%
    assert "previous partition ds=2026-11-22 had 110 rows" in rows.notes
    assert result(bad, "expect_column_values_to_be_in_set", "event").samples == ["purchase"]
    assert result(bad, "expect_column_values_to_be_between", "dwell_s").samples == [-2.5]


@pytest.mark.spark
def test_human_labels_out_of_scale_and_duplicate_pairs_fail(spark, tables, dq_config):
    from expectations.runner import validate_table

    rows = [
        ("blue sofa", "p1", 5, "r1", "2026-10-01"),
        ("blue sofa", "p2", 1, "r2", "2026-10-01"),
        ("red lamp", "p1", 3, "r1", "2026-10-02"),
        ("red lamp", "p3", 7, "r3", "2026-10-02"),  # off the 1..5 scale
        ("red lamp", "p3", 4, "r2", "2026-10-02"),  # second row for the same pair
        ("oak table", "p4", 2, "r1", "10/02/2026"),  # not yyyy-MM-dd
    ]
    df = spark.createDataFrame(rows, "query string, pin_id string, label int, rater_id string, labeled_ds string")
    tables.overwrite("raw/human_labels", df)

    summary = validate_table(tables, dq_config, "raw/human_labels", publish=False)
    assert failed(summary) == {
        ("expect_compound_columns_to_be_unique", None),
        ("expect_column_values_to_be_in_set", "label"),
        ("expect_column_values_to_match_regex", "labeled_ds"),
    }
    assert result(summary, "expect_column_values_to_be_in_set", "label").samples == [7]
    dup = result(summary, "expect_compound_columns_to_be_unique", None)
    assert dup.columns == ["query", "pin_id"] and dup.unexpected_count == 2


# -- teacher scores -----------------------------------------------------------------------


def _probs_for(label: int) -> list[float]:
    probs = [0.05] * 5
    probs[label - 1] = 0.8
    return probs


def _scores(spark, ds: str, labels: list[int], version: str = "t1", probs=None, backend: str | None = "torch"):
    rows = []
    for i, label in enumerate(labels):
        p = probs(i, label) if probs else _probs_for(label)
        er = sum((k + 1) * pk for k, pk in enumerate(p))
        rows.append((f"q{i % 7}", f"p{i}", ds, version, p, label, float(er), backend))
    return spark.createDataFrame(
        rows,
        "query string, pin_id string, ds string, teacher_version string, probs array<float>, label int, "
        "expected_relevance float, backend string",
    )


HUMAN = [1, 2, 2, 3, 3, 3, 4, 4, 5, 5]  # shares 0.1 0.2 0.3 0.2 0.2


@pytest.mark.spark
def test_teacher_scores_good_day_passes_and_a_one_class_teacher_fails(spark, tables, dq_config):
    from expectations.runner import validate_table

    human = spark.createDataFrame(
        [(f"q{i}", f"h{i}", label, "r1", "2026-10-01") for i, label in enumerate(HUMAN)],
        "query string, pin_id string, label int, rater_id string, labeled_ds string",
    )
    tables.overwrite("raw/human_labels", human)
    two_days = _scores(spark, "2026-11-22", HUMAN * 3).unionByName(_scores(spark, "2026-11-23", HUMAN * 3))
    tables.replace_range("labels/teacher_scores", two_days, "2026-11-22", "2026-11-23")

    good = validate_table(tables, dq_config, "labels/teacher_scores", "2026-11-23", publish=False)
    assert good.success, good.message()
    assert good.reference["argmax_label_tv_distance"] == {"t1": 0.0}
    # soft shares 0.05 + 0.75 * human share: TV = 1/2 * sum |0.05 - 0.25 * share| = 0.025
    assert good.reference["label_tv_distance"]["t1"] == pytest.approx(0.025, abs=1e-5)

    # The collapsed teacher: L5 for everything (and probabilities that do not sum to 1 on one row),
    # scored by an engine the pipeline does not have.
    def collapsed(i: int, label: int) -> list[float]:
        return [0.0, 0.0, 0.0, 0.1, 0.9] if i else [0.0, 0.0, 0.0, 0.2, 0.9]

    tables.replace_range(
        "labels/teacher_scores", _scores(spark, "2026-11-23", [5] * 30, probs=collapsed, backend="tensorrt"),
        "2026-11-23"
    )
    bad = validate_table(tables, dq_config, "labels/teacher_scores", "2026-11-23", publish=False)
    assert failed(bad) == {
        ("expect_column_max_to_be_between", "label_tv_distance_vs_human"),
        ("expect_column_max_to_be_between", "argmax_label_tv_distance_vs_human"),
        ("expect_column_max_to_be_between", "expected_relevance_mean_drift"),
        ("expect_column_values_to_be_between", "probs_sum"),  # row 0 sums to 1.1
        ("expect_column_values_to_be_between", "expected_relevance"),  # row 0: 0.2 * 4 + 0.9 * 5 = 5.3
        ("expect_column_values_to_be_in_set", "backend"),
        ("expect_column_min_to_be_between", "teacher_levels_used"),  # one level for 30 rows
    }
    tv = result(bad, "expect_column_max_to_be_between", "argmax_label_tv_distance_vs_human")
    # human shares (0.1, 0.2, 0.3, 0.2, 0.2) vs all-L5: (0.1 + 0.2 + 0.3 + 0.2 + 0.8) / 2
    assert tv.observed == pytest.approx(0.8)
    assert "L5 100%" in tv.notes
    soft = result(bad, "expect_column_max_to_be_between", "label_tv_distance_vs_human")
    # mean probs (0, 0, 0, (0.2 + 29 * 0.1) / 30, 0.9) vs the human shares
    assert soft.observed == pytest.approx(0.5 * (0.1 + 0.2 + 0.3 + (0.2 - 3.1 / 30) + 0.7))
    assert "L5 90%" in soft.notes
    drift = result(bad, "expect_column_max_to_be_between", "expected_relevance_mean_drift")
    mean_good = 0.75 + 0.75 * 3.2  # E = 0.05 * 15 + 0.75 * label, mean human label 3.2
    mean_bad = (5.3 + 29 * 4.9) / 30
    assert drift.observed == pytest.approx(mean_bad - mean_good, abs=1e-4)
    assert "3.150 on 2026-11-22 -> 4.913" in drift.notes


@pytest.mark.spark
def test_teacher_scores_label_follows_the_teachers_cutpoints(spark, tables, dq_config):
    from expectations.runner import validate_table

    # Teacher "tc" decodes by cut-points (in its teacher.json); every row's probs put the argmax on L1
    # while its expected relevance is 3.0, so argmax says 1 and the cut-points (1.5, 2.5, 3.5, 4.5) say 3.
    meta = Path(dq_config.models_path) / "teacher" / "tc" / "teacher.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"decoding": {"method": "cutpoints", "cutpoints": [1.5, 2.5, 3.5, 4.5]}}))
    spread = lambda i, label: [0.4, 0.0, 0.2, 0.0, 0.4]  # noqa: E731
    tables.replace_range("labels/teacher_scores", _scores(spark, "2026-11-23", [3] * 12, "tc", spread),
                         "2026-11-23", "2026-11-23")
    good = validate_table(tables, dq_config, "labels/teacher_scores", "2026-11-23", publish=False)
    assert ("expect_column_pair_values_to_be_equal", None) not in failed(good)
    assert good.reference["decodings"] == {"tc": [1.5, 2.5, 3.5, 4.5]}
    # The same rows labelled by argmax break the teacher's own decoding.
    tables.replace_range("labels/teacher_scores", _scores(spark, "2026-11-23", [1] * 12, "tc", spread),
                         "2026-11-23", "2026-11-23")
    bad = validate_table(tables, dq_config, "labels/teacher_scores", "2026-11-23", publish=False)
    assert ("expect_column_pair_values_to_be_equal", None) in failed(bad)


# -- embeddings -------------------------------------------------------------------------------


@pytest.mark.spark
def test_pin_embeddings_wrong_dimension_and_unnormalised_vectors_fail(spark, tables, dq_config):
    from expectations.runner import validate_table
    from expectations.suites_features import sentence_embedding_dim

    dim = sentence_embedding_dim(dq_config)
    assert dim == 384  # all-MiniLM-L6-v2
    unit = [1.0 / math.sqrt(dim)] * dim
    graph = [0.1] * dq_config.student.graph_embedding_dim
    rows = [(f"p{i}", "2026-11-23", f"{i:064x}", unit, graph) for i in range(6)]
    rows.append(("p6", "2026-11-23", "0" * 64, unit[:128], graph))  # truncated vector
    rows.append(("p7", "2026-11-23", "0" * 64, [2 * x for x in unit], graph))  # not normalised
    df = spark.createDataFrame(
        rows, "pin_id string, as_of string, text_sha256 string, text_embedding array<float>, "
        "graph_embedding array<float>",
    )
    tables.replace_range("features/pin_embeddings", df, "2026-11-23", col="as_of")

    summary = validate_table(tables, dq_config, "features/pin_embeddings", "2026-11-23", publish=False)
    assert failed(summary) == {
        ("expect_column_values_to_be_in_set", "text_embedding_dim"),
        ("expect_column_values_to_be_between", "text_embedding_norm"),
    }
    assert result(summary, "expect_column_values_to_be_in_set", "text_embedding_dim").samples == [128]
    norm = result(summary, "expect_column_values_to_be_between", "text_embedding_norm")
    # the truncated vector has norm sqrt(128/384), the doubled one 2
    assert sorted(norm.samples) == pytest.approx([math.sqrt(128 / 384), 2.0], abs=1e-5)


# -- published reports, the gate and the CLI ---------------------------------------------------


@pytest.mark.spark
def test_validate_cli_exit_codes_data_docs_summary_and_gate(spark, tables, dq_config, capsys, test_config_file):
    from expectations.gate import gate
    from searchrel.cli import main as cli_main
    from searchrel.core.errors import JobFailed

    days = _events(spark, "2026-11-22", 100).unionByName(_events(spark, "2026-11-23", 40, bad=True))
    tables.replace_range("raw/search_events", days, "2026-11-22", "2026-11-23")
    # The test settings (the code's defaults, independent of edits to conf/searchrel.yaml).
    common = ["--warehouse", tables.root, "--config", str(test_config_file)]

    assert cli_main(["validate", "raw/search_events", "--ds", "2026-11-22", *common]) == 0
    assert cli_main(["validate", "raw/search_events", "--ds", "2026-11-23", *common]) == 1
    err = capsys.readouterr().err
    assert "raw/search_events ds=2026-11-23: 3 of" in err
    assert "row count is 40, expected between 60 and 140" in err
    assert "e.g. 'purchase'" in err
    assert cli_main(["validate", "raw/no_such_table", *common]) == 2
    assert "no expectation suite for table 'raw/no_such_table'" in capsys.readouterr().err

    reports = Path(tables.root) / "reports"
    summary = json.loads((reports / "validation" / "raw__search_events__2026-11-23.json").read_text())
    assert summary["success"] is False and summary["failed"] == 3
    index = json.loads((reports / "validation" / "index.json").read_text())
    runs = index["tables"]["raw/search_events"]["runs"]
    assert (runs["2026-11-22"]["success"], runs["2026-11-23"]["success"]) == (True, False)
    assert index["all_passed"] is False

    html = (reports / "data_docs" / "index.html").read_text()
    assert "raw__search_events" in html
    # One validation result per run in the index, with its status.
    assert re.search(r"2026-11-22", html) and re.search(r"2026-11-23", html)
    assert "Failed" in html and "Success" in html
    page = Path(summary["data_docs_page"].removeprefix("file://")).read_text()
    assert "purchase" in page and "Failed" in page


    # What jobs call after a write: the failed suite stops the pipeline with the same words.
    with pytest.raises(JobFailed, match=r"data quality gate: raw/search_events ds=2026-11-23: 3 of \d+ expectations FAILED"):
        gate(tables, dq_config, "raw/search_events", "2026-11-23")
    with pytest.raises(JobFailed, match="table raw/impressions does not exist"):
        gate(tables, dq_config, "raw/impressions", "2026-11-23")


# -- good data from the simulated world ------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.slow
def test_every_raw_suite_passes_on_the_tiny_world(tiny_world, test_config):
    from expectations.registry import SUITES
    from expectations.runner import validate_table

    raw = [name for name in SUITES if name.startswith("raw/")]
    assert len(raw) == 8
    for name in raw:
        summary = validate_table(tiny_world, test_config, name, publish=False)  # latest partition
        assert summary.success, summary.message()
        assert summary.rows > 0 and summary.evaluated >= 6


# -- feature tables ------------------------------------------------------------------------------------


@pytest.mark.spark
def test_query_tokens_over_top_k_and_negative_weights_fail(spark, tables, dq_config):
    from expectations.runner import validate_table

    top_k = dq_config.features.query_tokens.top_k
    tokens = lambda n, w=1.0: [(f"t{j}", w) for j in range(n)]  # noqa: E731
    rows = [("p1", "2026-11-23", tokens(3)), ("p2", "2026-11-23", tokens(top_k)), ("p3", "2026-11-23", [])]
    rows += [("p4", "2026-11-23", tokens(top_k + 1)), ("p5", "2026-11-23", tokens(2, -0.5))]
    df = spark.createDataFrame(rows, "pin_id string, as_of string, tokens array<struct<token: string, weight: double>>")
    tables.replace_range("features/pin_query_tokens", df, "2026-11-23", col="as_of")

    summary = validate_table(tables, dq_config, "features/pin_query_tokens", "2026-11-23", publish=False)
    assert failed(summary) == {
        ("expect_column_values_to_be_between", "n_tokens"),
        ("expect_column_values_to_be_between", "tokens_min_weight"),
    }
    assert result(summary, "expect_column_values_to_be_between", "n_tokens").samples == [top_k + 1]
    assert result(summary, "expect_column_values_to_be_between", "tokens_min_weight").samples == [-0.5]


@pytest.mark.spark
def test_student_examples_good_rows_pass_and_broken_rows_fail(spark, tables, dq_config):
    from expectations.runner import validate_table

    dim, graph_dim = 384, dq_config.student.graph_embedding_dim
    unit = [1.0 / math.sqrt(dim)] * dim

    def row(i: int, source: str = "impression", probs=(0.1, 0.2, 0.4, 0.2, 0.1), human=None, split="train", qdim=dim):
        return (f"q{i % 3}", f"p{i}", "2026-11-23", source, split, unit[:qdim], unit, [0.0] * graph_dim,
                1.5 + i, list(probs) if probs else None, human)

    schema = (
        "query string, pin_id string, ds string, source string, split string, query_embedding array<float>, "
        "pin_text_embedding array<float>, pin_graph_embedding array<float>, bm25 double, "
        "teacher_probs array<float>, human_label int"
    )
    good = [row(i) for i in range(6)] + [row(6, "human_label", probs=None, human=4, split="test")]
    bad = [row(7, probs=(0.5, 0.5, 0.5, 0.0, 0.0)), row(8, human=9), row(9, split="holdout"), row(10, qdim=100)]
    tables.replace_range("features/student_examples", spark.createDataFrame(good + bad, schema), "2026-11-23")

    summary = validate_table(tables, dq_config, "features/student_examples", "2026-11-23", publish=False)
    assert failed(summary) == {
        ("expect_column_values_to_be_between", "teacher_probs_sum"),
        ("expect_column_values_to_be_in_set", "human_label"),
        ("expect_column_values_to_be_in_set", "split"),
        ("expect_column_values_to_be_in_set", "query_embedding_dim"),
    }
    assert result(summary, "expect_column_values_to_be_between", "teacher_probs_sum").samples == [1.5]
    assert result(summary, "expect_column_values_to_be_in_set", "split").samples == ["holdout"]
