"""Foundation: configuration, Delta table I/O, quarantine, the CLI's exit codes."""

from __future__ import annotations

import re

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

from searchrel.cli import main as cli_main
from searchrel.core.config import Config, DEFAULT_CONFIG_PATH, load_config
from searchrel.core.errors import ConfigError, ReconciliationError


# -- configuration -----------------------------------------------------------
from searchrel.core.quarantine import reconcile, split_by_rules


def test_default_yaml_matches_the_model_defaults():
    """conf/searchrel.yaml documents every default; it must not drift from the code."""
    import yaml

    assert yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()) == Config().model_dump()


def test_environment_and_overrides_layer_in_order(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("teacher:\n  epochs: 5\nspark:\n  ui_enabled: true\n")
    cfg = load_config(
        file,
        overrides={"teacher.batch_size": 7},
        environ={"SEARCHREL__TEACHER__EPOCHS": "9", "SEARCHREL__SPARK__UI_ENABLED": "false", "SEARCHREL_WAREHOUSE": "/w"},
    )
    assert cfg.teacher.epochs == 9  # env beats file
    assert cfg.spark.ui_enabled is False  # "false" is a bool, not a truthy string
    assert cfg.teacher.batch_size == 7
    assert cfg.warehouse_path == "/w"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("teacher:\n  epoch: 3\n", "unknown config key 'teacher.epoch'"),
        ("teacher:\n  epochs: many\n", "bad config value for 'teacher.epochs'"),
        ("teacher:\n  pooling: max\n", "bad config value for 'teacher.pooling'"),
        ("simulation:\n  end_ds: 2026-13-01\n", "bad config value for 'simulation.end_ds'"),
        ("- a list\n", "must hold a mapping"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path, text, expected):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(file, environ={})


def test_bad_configuration_exits_2_with_one_line(tmp_path, capsys):
    file = tmp_path / "bad.yaml"
    file.write_text("student:\n  temprature: 2\n")
    code = cli_main(["simulate", "--scale", "tiny", "--config", str(file)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert "unknown config key 'student.temprature'" in err


def test_bad_arguments_exit_2(capsys):
    assert cli_main(["no-such-command"]) == 2
    with pytest.raises(SystemExit) as exc:
        cli_main(["simulate", "--scale", "huge"])
    assert exc.value.code == 2


# -- table I/O -----------------------------------------------------------------


@pytest.mark.spark
def test_delta_round_trip_keeps_rows_and_schema(spark, tables):
    df = spark.createDataFrame([Row(pin_id="p1", title="Red chair"), Row(pin_id="p2", title=None)], "pin_id string, title string")
    tables.overwrite("raw/pins", df)
    back = tables.read("raw/pins")
    assert back.schema == df.schema
    assert sorted(back.collect()) == sorted(df.collect())


@pytest.mark.spark
def test_replace_range_twice_leaves_the_same_rows_and_other_days_alone(spark, tables):
    schema = "query string, pin_id string, ds string"
    tables.replace_range("raw/impressions", spark.createDataFrame([("a", "p1", "2026-01-01")], schema), "2026-01-01")
    day2 = spark.createDataFrame([("b", "p2", "2026-01-02"), ("c", "p3", "2026-01-02")], schema)
    tables.replace_range("raw/impressions", day2, "2026-01-02")
    tables.replace_range("raw/impressions", day2, "2026-01-02")
    rows = sorted(tuple(r) for r in tables.read("raw/impressions").collect())
    assert rows == [("a", "p1", "2026-01-01"), ("b", "p2", "2026-01-02"), ("c", "p3", "2026-01-02")]


@pytest.mark.spark
def test_replace_days_in_months_keeps_one_file_per_month_and_the_other_days(spark, tables):
    schema = "pin_id string, weight double, ds string"
    name = "features/x_daily"
    # The older layout, a partition per day: the first write converts it.
    tables.replace_range(name, spark.createDataFrame(
        [("p1", 1.0, "2026-01-30"), ("p1", 2.0, "2026-01-31"), ("p2", 3.0, "2026-02-01")], schema),
        "2026-01-30", "2026-02-01")
    day = spark.createDataFrame([("p1", 5.0, "2026-01-31"), ("p3", 6.0, "2026-01-31")], schema)
    for _ in range(2):  # a rerun leaves the same rows
        tables.replace_days_in_months(name, day, "2026-01-31")
        back = tables.read(name)
        assert sorted(tuple(r) for r in back.select("pin_id", "weight", "ds", "month").collect()) == [
            ("p1", 1.0, "2026-01-30", "2026-01"), ("p1", 5.0, "2026-01-31", "2026-01"),
            ("p2", 3.0, "2026-02-01", "2026-02"), ("p3", 6.0, "2026-01-31", "2026-01")]
        files = back.select("month", F.input_file_name().alias("file")).distinct().groupBy("month").count()
        assert {r["month"]: r["count"] for r in files.collect()} == {"2026-01": 1, "2026-02": 1}
    # A range across months: both months rewritten, days outside the range kept.
    tables.replace_days_in_months(name, spark.createDataFrame([("p4", 7.0, "2026-02-01")], schema),
                                  "2026-01-31", "2026-02-01")
    assert sorted(tuple(r) for r in tables.read(name).select("pin_id", "ds").collect()) == [
        ("p1", "2026-01-30"), ("p4", "2026-02-01")]

@pytest.mark.spark
def test_replace_range_refuses_rows_outside_its_dates(spark, tables):
    df = spark.createDataFrame([("a", "2026-01-05")], "query string, ds string")
    with pytest.raises(Exception, match="(?i)replaceWhere|does not conform|DELTA_REPLACE_WHERE"):
        tables.replace_range("raw/x", df, "2026-01-01", "2026-01-02")
    assert not tables.exists("raw/x")


@pytest.mark.spark
def test_merge_upserts_by_key(spark, tables):
    schema = "pin_id string, caption string"
    tables.merge("features/pin_captions", spark.createDataFrame([("p1", "a"), ("p2", "b")], schema), ["pin_id"])
    tables.merge("features/pin_captions", spark.createDataFrame([("p2", "B"), ("p3", "c")], schema), ["pin_id"])
    assert sorted(tuple(r) for r in tables.read("features/pin_captions").collect()) == [("p1", "a"), ("p2", "B"), ("p3", "c")]


@pytest.mark.spark
def test_quarantine_counts_reconcile_and_reruns_do_not_duplicate(spark, tables):
    events = spark.createDataFrame(
        [("u1", "chair", "p1", 5.0, "2026-01-01"), ("u2", None, "p1", 1.0, "2026-01-01"),
         ("u3", "lamp", None, 2.0, "2026-01-01"), ("u4", "rug", "p2", -3.0, "2026-01-01")],
        "user_id string, query string, pin_id string, dwell_s double, ds string",
    )
    rules = [
        ("null pin_id", F.col("pin_id").isNull()),
        ("null query", F.col("query").isNull()),
        ("negative dwell_s", F.col("dwell_s") < 0),
    ]
    for run in ("r1", "r2"):
        good, bad = split_by_rules(events, rules)
        tables.replace_range("raw/search_events", good, "2026-01-01")
        n_bad = tables.quarantine("raw/search_events", bad, job="test", run_id=run, start="2026-01-01")
        reconcile("test", "raw/search_events", events.count(), good.count(), n_bad)
    q = tables.read("quarantine/raw_search_events")
    assert sorted(r.reason for r in q.collect()) == ["negative dwell_s", "null pin_id", "null query"]
    assert {r.run_id for r in q.collect()} == {"r2"}
    assert '"user_id":"u3"' in q.where("reason = 'null pin_id'").first().row
    with pytest.raises(ReconciliationError, match="rows in 4 != written 1"):
        reconcile("test", "raw/search_events", 4, 1, 2)


@pytest.mark.spark
def test_a_clean_run_skips_the_quarantine_commit_but_still_clears_earlier_rows(spark, tables):
    schema = "pin_id string, ds string, reason string"
    none = spark.createDataFrame([], schema)
    assert tables.quarantine("raw/pins", none, job="j", run_id="r1", start="2026-01-01", known_count=0) == 0
    assert not tables.exists("quarantine/raw_pins")  # nothing written, nothing to replace: no commit

    bad = spark.createDataFrame([(None, "2026-01-01", "null pin_id")], schema)
    assert tables.quarantine("raw/pins", bad, job="j", run_id="r2", start="2026-01-01", known_count=1) == 1
    other_job = spark.createDataFrame([(None, "2026-01-01", "null pin_id")], schema)
    tables.quarantine("raw/pins", other_job, job="k", run_id="r3", start="2026-01-01")
    # A clean rerun of job j must remove j's earlier rows (a fixed input leaves no stale rejects) …
    assert tables.quarantine("raw/pins", none, job="j", run_id="r4", start="2026-01-01", known_count=0) == 0
    assert [r.job for r in tables.read("quarantine/raw_pins").collect()] == ["k"]
    # … and once they are gone, further clean runs commit nothing.
    version = tables.version("quarantine/raw_pins")
    tables.quarantine("raw/pins", none, job="j", run_id="r5", start="2026-01-01", known_count=0)
    assert tables.version("quarantine/raw_pins") == version


@pytest.mark.spark
def test_a_commit_by_another_process_is_read_at_once(spark, tmp_path):
    """The session must not answer from a snapshot it cached before another writer committed.

    Another process's commit is played by copying a newer table's log and files in: the same
    bytes a second writer leaves on disk. With Delta's `stalenessLimit` set, the read right after
    returned the cached version (bench/faults.py counted rows "lost" that were only a stale read).
    """
    import shutil

    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    spark.range(1).write.format("delta").save(str(theirs))
    shutil.copytree(theirs, ours)
    assert spark.read.format("delta").load(str(ours)).count() == 1  # the session caches version 0
    spark.range(5).write.format("delta").mode("append").save(str(theirs))
    shutil.copytree(theirs, ours, dirs_exist_ok=True)
    assert spark.read.format("delta").load(str(ours)).count() == 6
