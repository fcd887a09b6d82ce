"""Poisoned input rows, through the real jobs: each bad row is quarantined with its reason, and counts reconcile.

One job run per input, shared by the tests of its kinds (a module fixture), so
each kind is its own test without paying a Spark job for each:

- raw/search_events through `aggregate` (the first job that reads raw events):
  null keys, unknown event types, an `event_ts` outside its `ds`, negative dwell,
  a repeated `event_id`, a 1 MB query, bytes that are not UTF-8 (a Delta string
  column does hold them: Spark casts binary to string without checking);
- an import file through `searchrel import-labels`: a UTF-8 file with a line in
  windows-1252 (mixed encodings), bytes that are not text at all, a 1 MB title
  and a long query, labels off the 1..5 scale.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark]

D = "2026-11-23"
MB = 1_000_000


def _run_cli(argv: list[str]) -> tuple[int, dict]:
    from searchrel.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, (json.loads(out.getvalue()) if code == 0 else {})


# -- raw events through `aggregate` ---------------------------------------------------------------

# event_id -> the reason its row must get (None: a good row).
EVENTS: dict[str, str | None] = {
    "e1": None, "e2": None, "e3": None,
    "null-pin": "null pin_id",
    "null-query": "null query",
    "unknown-event": "unknown event",
    "late": "event_ts outside ds",
    "negative-dwell": "negative dwell_s",
    "e1-again": None,  # renamed to e1 below: the second copy of e1 is the duplicate
    "huge-query": "query longer than 10000 chars",
    "not-utf8": "invalid unicode in query",
}


@pytest.fixture(scope="module")
def aggregated(spark, tmp_path_factory, test_config_file):
    """One day of planted events, `aggregate --ds D` run once; (result, {event_id: [reasons]})."""
    from pyspark.sql import functions as F

    from searchrel.core.tables import Tables

    tables = Tables(spark, str(tmp_path_factory.mktemp("poisoned_events") / "warehouse"))
    tables.overwrite("raw/pins", spark.createDataFrame(
        [("p1", "Red chair", None, None, "en", "2026-01-01")],
        "pin_id string, title string, description string, link_url string, lang string, created_ds string"))
    ts = f"{D} 12:00:00"
    rows = [
        ("e1", ts, "u1", "red chair", "p1", "click", 20.0),
        ("e2", ts, "u2", "oak chair", "p1", "save", None),
        ("e3", ts, "u3", "blue chair", "p1", "impression", None),
        ("null-pin", ts, "u4", "red chair", None, "click", 3.0),
        ("null-query", ts, "u5", None, "p1", "click", 3.0),
        ("unknown-event", ts, "u6", "red chair", "p1", "purchase", 3.0),
        ("late", "2026-11-24 00:00:01", "u7", "red chair", "p1", "click", 3.0),  # logged into the wrong day
        ("negative-dwell", ts, "u8", "red chair", "p1", "click", -4.0),
        ("e1-again", ts, "u1", "red chair", "p1", "click", 20.0),  # a retried upload of e1
        ("huge-query", ts, "u9", "x" * MB, "p1", "click", 3.0),
        ("not-utf8", ts, "u10", "QUERY", "p1", "click", 3.0),
    ]
    events = spark.createDataFrame(
        rows, "event_id string, event_ts string, user_id string, query string, pin_id string, event string, "
        "dwell_s double").withColumn("ds", F.lit(D))
    events = (
        events.withColumn("query", F.when(F.col("event_id") == "not-utf8", F.unhex(F.lit("6361C3"))  # 'ca' + a cut-off 2-byte char
                                          .cast("string")).otherwise(F.col("query")))
        .withColumn("event_id", F.when(F.col("event_id") == "e1-again", "e1").otherwise(F.col("event_id")))
        .withColumn("event_ts", F.to_timestamp("event_ts"))
    )
    tables.replace_range("raw/search_events", events, D)
    code, result = _run_cli([
        "aggregate", "--ds", D, "--warehouse", tables.root, "--config", str(test_config_file), "--json",
        "--set", "features.query_tokens.window_days=1", "--set", "features.link_text.window_days=1"])
    assert code == 0
    quarantined: dict[str, list[str]] = {}
    for r in tables.read("quarantine/raw_search_events").where(F.col("ds") == D).collect():
        quarantined.setdefault(json.loads(r.row)["event_id"], []).append(r.reason)
    tokens = {r.token: r.weight for r in tables.read("features/pin_query_token_daily").collect()}
    return result, quarantined, tokens


@pytest.mark.parametrize("event_id", [e for e, why in EVENTS.items() if why])
def test_each_poisoned_event_is_quarantined_with_its_reason(aggregated, event_id):
    _, quarantined, _ = aggregated
    assert quarantined.get(event_id) == [EVENTS[event_id]]


def test_a_repeated_event_id_is_quarantined_once_and_counted_once(aggregated):
    _, quarantined, tokens = aggregated
    assert quarantined["e1"] == ["duplicate event_id"]  # the copy; the first e1 counts
    # e1's long click (3) counted once, not twice; e2's save 3; e3's impression nothing.
    assert tokens == {"red": 3.0, "oak": 3.0, "chair": 6.0}


def test_event_counts_reconcile(aggregated):
    result, quarantined, _ = aggregated
    n_bad = sum(len(v) for v in quarantined.values())
    assert n_bad == sum(1 for why in EVENTS.values() if why) + 1  # + the duplicate of e1
    assert result["search_events_read"] == len(EVENTS) == 3 + n_bad  # rows in = used + quarantined


# -- an import file through `searchrel import-labels` ------------------------------------------------

HEADER = ("query", "title", "label")
GOOD = [("crème brûlée torch", "Kitchen torch for crème brûlée", "5"), ("angle bracket", "Steel angle", "2"),
        ("oak table", "Solid oak table", "3")]
# label column -> reason (identity map: integers 1..5 only)
OFF_SCALE = {"0": "label is not an integer 1..5", "6": "label is not an integer 1..5",
             "-1": "label is not an integer 1..5", "2.5": "label is not an integer 1..5",
             "five": "label is not a number"}


def _csv_line(row) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def imported(spark, tmp_path_factory, test_config_file):
    """One poisoned UTF-8 file imported once; (result, {query: [reasons]}, labels written)."""
    from searchrel.core.tables import Tables

    folder = tmp_path_factory.mktemp("poisoned_import")
    lines = [_csv_line(HEADER), *(_csv_line(r) for r in GOOD)]
    lines += [_csv_line((f"q label {raw}", f"item {raw}", raw)) for raw in OFF_SCALE]
    # Mixed encodings: one line written in windows-1252 inside a UTF-8 file.
    lines.append(_csv_line(("café cp1252", "Chaise en bois", "4")).decode("utf-8").encode("cp1252"))
    # Bytes that are text in no encoding this file could be in: a cut-off UTF-8 sequence in the title.
    lines.append(b"not text," + b"broken \xe2\x82 title" + b",4\n")
    lines.append(_csv_line(("huge title", "x" * MB, "4")))
    lines.append(_csv_line(("sofa " * 60, "Long query sofa", "4")))  # 300 chars, over validation.max_query_chars
    path = folder / "labels.csv"
    path.write_bytes(b"".join(lines))
    tables = Tables(spark, str(folder / "warehouse"))
    code, result = _run_cli([
        "import-labels", str(path), "--query-col", "query", "--text-col", "title", "--label-col", "label",
        "--source", "poison", "--ds", D, "--warehouse", tables.root, "--config", str(test_config_file), "--json"])
    assert code == 0
    quarantined: dict[str, list[str]] = {}
    for r in tables.read("quarantine/raw_human_labels").collect():
        quarantined.setdefault(json.loads(r.row)["row_number"], []).append(r.reason)
    by_row = {n: reasons for n, reasons in quarantined.items()}
    labels = {r.query: (r.label, r.pin_id) for r in tables.read("raw/human_labels").collect()}
    titles = {r.title for r in tables.read("raw/pins").collect()}
    return result, by_row, labels, titles


def test_the_mixed_file_is_read_as_utf8_and_good_rows_keep_their_text(imported):
    result, _, labels, titles = imported
    assert result["encoding"] == "utf_8"  # not cp1252, which would have turned every UTF-8 line to mojibake
    assert {q: level for q, (level, _) in labels.items()} == {"crème brûlée torch": 5, "angle bracket": 2,
                                                              "oak table": 3}
    assert "Kitchen torch for crème brûlée" in titles


def _reasons(imported) -> list[str]:
    _, by_row, _, _ = imported
    return sorted(reason for reasons in by_row.values() for reason in reasons)


def test_a_line_in_another_encoding_is_quarantined(imported):
    assert _reasons(imported).count("invalid unicode in query") == 1  # 'café' in windows-1252


def test_bytes_that_are_not_text_are_quarantined(imported):
    assert _reasons(imported).count("invalid unicode in text") == 1


def test_a_megabyte_title_and_an_overlong_query_are_quarantined(imported):
    reasons = _reasons(imported)
    assert reasons.count("text longer than 10000 chars") == 1
    assert reasons.count("query longer than 256 chars") == 1


def test_labels_off_the_scale_are_quarantined(imported):
    reasons = _reasons(imported)
    assert reasons.count("label is not an integer 1..5") == 4 and reasons.count("label is not a number") == 1


def test_import_counts_reconcile(imported):
    result, by_row, labels, _ = imported
    n_bad = sum(len(v) for v in by_row.values())
    assert n_bad == len(OFF_SCALE) + 4
    assert (result["rows_in"], result["labels_written"], result["quarantined"]) == (len(GOOD) + n_bad, 3, n_bad)
    assert len(labels) == 3


# -- whole-day failures: the suite that gates the day names the failed expectation ---------------------


def _validate_fails(tables, config_file, table: str) -> set[tuple[str, str | None]]:
    """`searchrel validate TABLE --ds D` (spark_jobs/validate.py main): exit 1, and what failed."""
    from spark_jobs import validate

    code = validate.main([table, "--ds", D, "--warehouse", tables.root, "--config", str(config_file)])
    assert code == 1
    summary = Path(tables.root) / "reports" / "validation" / f"{table.replace('/', '__')}__{D}.json"
    return {(r["expectation"], r["column"]) for r in json.loads(summary.read_text())["results"] if not r["success"]}


def _stops_the_day_before_the_student(table: str) -> None:
    """The table gates a daily step that comes before the student's examples (pipeline.py)."""
    from searchrel.core import pipeline

    keys = [s.key for s in pipeline.STEPS]
    (step,) = [s for s in pipeline.STEPS if table in [t.name for t in s.gates] and s.dag == "daily"]
    assert keys.index(step.key) < keys.index("build_student_examples") < keys.index("train_student")


def test_a_day_with_half_its_events_missing_fails_the_row_count(spark, tables, test_config_file):
    from pyspark.sql import functions as F

    def day(ds: str, n: int):
        return spark.range(n).select(
            F.concat(F.lit("u"), (F.col("id") % 7).cast("string")).alias("user_id"), F.lit("red chair").alias("query"),
            F.concat(F.lit("p"), (F.col("id") % 5).cast("string")).alias("pin_id"), F.lit("click").alias("event"),
            F.lit(3.0).alias("dwell_s"), F.lit(ds).alias("ds"))

    tables.replace_range("raw/search_events", day("2026-11-22", 100).unionByName(day(D, 50)), "2026-11-22", D)
    assert _validate_fails(tables, test_config_file, "raw/search_events") == {
        ("expect_table_row_count_to_be_between", None)}
    _stops_the_day_before_the_student("raw/search_events")


def test_a_teacher_that_answers_one_level_fails_the_levels_check(spark, tables, test_config_file):
    # Human shares L1..L5 = 10/15/45/20/10 %. The teacher gives every impression those very
    # probabilities, so its soft distribution matches the humans' (TV 0) and its argmax, always L3,
    # sits at TV 0.55 from them, inside argmax_distribution_tolerance (0.6): only the levels check sees it.
    shares = [0.10, 0.15, 0.45, 0.20, 0.10]
    human = [level for level, share in enumerate(shares, start=1) for _ in range(round(share * 20))]
    tables.overwrite("raw/human_labels", spark.createDataFrame(
        [(f"q{i}", f"h{i}", label, "r1", "2026-10-01") for i, label in enumerate(human)],
        "query string, pin_id string, label int, rater_id string, labeled_ds string"))
    expected = sum(k * p for k, p in enumerate(shares, start=1))
    tables.replace_range("labels/teacher_scores", spark.createDataFrame(
        [(f"q{i % 7}", f"p{i}", D, "t1", shares, 3, expected, "torch") for i in range(40)],
        "query string, pin_id string, ds string, teacher_version string, probs array<float>, label int, "
        "expected_relevance float, backend string"), D)
    assert _validate_fails(tables, test_config_file, "labels/teacher_scores") == {
        ("expect_column_min_to_be_between", "teacher_levels_used")}
    _stops_the_day_before_the_student("labels/teacher_scores")


def test_pin_text_that_is_nine_tenths_empty_fails_the_empty_share(spark, tables, test_config_file):
    # assemble-text (the real job) quarantines the 9 pins with nothing to say and stores the 1 with
    # text, so the snapshot itself looks clean: the suite reads the quarantine to see the empty share.
    tables.overwrite("raw/pins", spark.createDataFrame(
        [("p0", "Red chair", "Solid oak", None, "en", "2026-01-01")]
        + [(f"p{i}", "", None, None, "en", "2026-01-01") for i in range(1, 10)],
        "pin_id string, title string, description string, link_url string, lang string, created_ds string"))
    code, result = _run_cli(["assemble-text", "--ds", D, "--warehouse", tables.root, "--config",
                             str(test_config_file), "--json"])
    assert code == 0 and (result["pin_text_rows"], result["empty_text_quarantined"]) == (1, 9)
    assert _validate_fails(tables, test_config_file, "features/pin_text") == {
        ("expect_column_max_to_be_between", "empty_text_share")}
    _stops_the_day_before_the_student("features/pin_text")
