"""The daily DAG end to end: a real Airflow runs the real spark-submit, Spark and Delta on the tiny world.

Airflow runs in its own environment (tests/airflow_support.py); the jobs get
their config file and spark-submit properties the way a deployment gives them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from airflow_support import DAY, NO_RETRIES, REPO
from airflow_support import report as _report

pytestmark = pytest.mark.airflow


# Two years of history would make the first aggregation compute 730 daily partials;
# a short world and window keep the run to what one day costs. The teacher is a
# random tiny BERT (this tests the plumbing, not the teacher), whose labels are
# nothing like the human ones, so the label-distribution check is opened up.
# Passed to the jobs as their --config file, the way a deployment points the DAGs
# at its own config.
E2E_CONFIG = """\
simulation:
  history_days: 40
features:
  query_tokens:
    window_days: 30
  link_text:
    window_days: 30
student:
  als_iterations: 3
# The teacher is a tiny random model: its label shares and the levels it uses say nothing, so the
# gates on them are opened (as the tiny demo does); every other gate runs as configured.
validation:
  label_distribution_tolerance: 1.0
  argmax_distribution_tolerance: 1.0
  min_teacher_levels: 1
"""


@pytest.fixture(scope="module")
def daily_world(spark, tiny_teacher, class_archive, tmp_path_factory) -> tuple[Path, Path, Path]:
    """(warehouse, config file, spark-submit properties): the tiny world, a tiny random teacher as `current`.

    The properties are the local ones with the short-lived JVM's flags, the class archive and
    the tiny world's session settings appended (searchrel.core.session.tiny_data_properties: a
    later line wins over the file's own), the way a deployment points SEARCHREL_SPARK_CONF at
    its own file.
    """
    from searchrel.core.class_archive import java_options
    from searchrel.core.config import load_config
    from simulation.world import write_world
    from searchrel.core.tables import Tables

    root = tmp_path_factory.mktemp("daily")
    config_file = root / "searchrel.yaml"
    config_file.write_text(E2E_CONFIG)
    from searchrel.core.session import tiny_data_properties

    properties = root / "spark-submit.conf"
    properties.write_text((REPO / "conf" / "spark-submit.local.conf").read_text() + "\n"
                          + tiny_data_properties(short_lived_jvm=True, driver_options=java_options(class_archive)))
    warehouse = root / "wh"
    config = load_config(config_file, overrides={"warehouse": str(warehouse)}, environ={})
    write_world(Tables(spark, str(warehouse)), config.simulation, "tiny", config.simulation.seed)
    # The shared tiny teacher (conftest.tiny_teacher), copied: the warehouse is the run's own.
    shutil.copytree(tiny_teacher, config.models_path, dirs_exist_ok=True)
    return warehouse, config_file, properties


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.timeout(3000)  # Airflow's migrate (<= 300 s), the world, the run itself (<= 1500 s), the checks
def test_daily_dag_runs_end_to_end_on_the_tiny_world(airflow_env, daily_world, spark):
    warehouse, config_file, properties = daily_world
    env = {**airflow_env, **NO_RETRIES, "SEARCHREL_WAREHOUSE": str(warehouse), "SEARCHREL_CONFIG": str(config_file),
           "SEARCHREL_SPARK_CONF": str(properties)}
    run = _report(env, "run", "searchrel_daily", DAY, timeout=1500)
    assert run["state"] == "success", run["tasks"]
    assert run["tasks"]["validate_caption_pins"] == "skipped"  # captions.model is null by default
    assert {s for t, s in run["tasks"].items() if t != "validate_caption_pins"} == {"success"}

    from pyspark.sql import functions as F

    from searchrel.core.tables import Tables

    tables = Tables(spark, str(warehouse))
    for name in ("features/pin_query_tokens", "features/pin_board_tokens", "features/pin_link_text",
                 "features/pin_text"):
        assert tables.read(name).where(F.col("as_of") == DAY).count() > 0, name
    impressions = tables.read("raw/impressions").where(F.col("ds") == DAY)
    scores = tables.read("labels/teacher_scores").where(F.col("ds") == DAY)
    assert {r.teacher_version for r in scores.select("teacher_version").distinct().collect()} == {"t1"}
    # Every impression of the day is scored once or quarantined with a reason; nothing else is scored.
    # The quarantine table exists once a row has been quarantined; none quarantined is 0, not an error.
    quarantine = "quarantine/labels_teacher_scores"
    quarantined = tables.read(quarantine).where(F.col("ds") == DAY).count() if tables.exists(quarantine) else 0
    assert scores.count() + quarantined == impressions.count() > 0
    assert scores.count() == scores.select("query", "pin_id").distinct().count()
    assert scores.join(impressions, ["query", "pin_id"], "left_anti").count() == 0
    assert tables.read("features/student_examples").where(F.col("ds") == DAY).count() > 0
    # Each gate left a passing summary for its tables and day.
    reports = warehouse / "reports" / "validation"
    for table in ("features/pin_query_tokens", "features/pin_board_tokens", "features/pin_link_text",
                  "features/pin_text", "labels/teacher_scores", "features/student_examples"):
        summary = json.loads((reports / f"{table.replace('/', '__')}__{DAY}.json").read_text())
        assert summary["success"] is True, table
