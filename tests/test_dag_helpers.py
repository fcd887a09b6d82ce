"""The Airflow DAGs' plain helpers (no Airflow needed): chunks, the multi-job driver, settings, gates.

They live in airflow_dags/searchrel_airflow and import no Airflow, so these run in
the pipeline's own environment.
"""

from __future__ import annotations

import pytest

from airflow_support import REPO
from searchrel_airflow import gates, pipeline, run_jobs, settings

pytestmark = pytest.mark.airflow


def test_chunks_cover_the_range_exactly_once():
    assert pipeline.chunks("2026-11-01", "2026-11-10", 4) == [
        ("2026-11-01", "2026-11-04"), ("2026-11-05", "2026-11-08"), ("2026-11-09", "2026-11-10")]
    assert pipeline.chunks("2026-02-27", "2026-03-01", 7) == [("2026-02-27", "2026-03-01")]
    with pytest.raises(ValueError, match="after"):
        pipeline.chunks("2026-11-02", "2026-11-01", 1)


def test_one_driver_runs_several_jobs_and_exits_with_the_worst_code():
    assert run_jobs.split_commands(["validate", "a/b", "--ds", "D", "--then", "validate", "c/d"]) == [
        ["validate", "a/b", "--ds", "D"], ["validate", "c/d"]]
    with pytest.raises(ValueError, match="empty command"):
        run_jobs.split_commands(["validate", "a/b", "--then"])
    assert run_jobs.worst([0, 0]) == 0
    assert run_jobs.worst([0, 1, 0]) == 1  # one failed suite fails the gate
    assert run_jobs.worst([1, 2]) == 2  # bad arguments win: they need a person, not a retry


def test_settings_prefer_variable_then_environment_then_default():
    values = settings.resolve(
        {"searchrel_warehouse": "s3a://bucket/wh"}.get,
        environ={"SEARCHREL_WAREHOUSE": "/ignored", "SEARCHREL_SPARK_MASTER": "yarn", "SEARCHREL_REPO": "/srv/sr"},
    )
    assert values["SEARCHREL_WAREHOUSE"] == "s3a://bucket/wh"
    assert values["SEARCHREL_SPARK_MASTER"] == "yarn"
    # Defaults follow the repo setting, and the PySpark driver is the pipeline's Python.
    assert values["SEARCHREL_SPARK_SUBMIT"] == "/srv/sr/.venv/bin/spark-submit"
    assert values["PYSPARK_PYTHON"] == values["SEARCHREL_PYTHON"] == "/srv/sr/.venv/bin/python"
    assert settings.missing_local_files(values) == [
        f"{name}={values[name]} does not exist"
        for name in ("SEARCHREL_REPO", "SEARCHREL_SPARK_SUBMIT", "SEARCHREL_PYTHON", "SEARCHREL_SPARK_CONF",
                     "SEARCHREL_CONFIG")
    ]


def test_parallel_backfill_on_s3_needs_a_log_store_that_coordinates_drivers(tmp_path):
    plain = tmp_path / "plain.conf"
    plain.write_text("spark.sql.extensions io.delta.sql.DeltaSparkSessionExtension\n")
    dynamo = tmp_path / "dynamo.conf"
    dynamo.write_text("spark.delta.logStore.s3a.impl=io.delta.storage.S3DynamoDBLogStore\n")
    s3 = {"SEARCHREL_WAREHOUSE": "s3a://bucket/warehouse", "SEARCHREL_SPARK_CONF": str(plain)}
    why = settings.concurrent_writers_refusal(s3, 2)
    assert why is not None and "SEARCHREL_BACKFILL_PARALLELISM=1" in why and "\n" not in why
    assert settings.concurrent_writers_refusal(s3, 1) is None
    assert settings.concurrent_writers_refusal({**s3, "SEARCHREL_SPARK_CONF": str(dynamo)}, 4) is None
    assert settings.concurrent_writers_refusal({**s3, "SEARCHREL_WAREHOUSE": str(tmp_path)}, 4) is None


def test_the_project_zip_reaches_spark_submit_only_when_set(tmp_path):
    import subprocess

    argv_file = tmp_path / "argv"
    fake_submit = tmp_path / "spark-submit"
    fake_submit.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv_file}\n')
    fake_submit.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "SEARCHREL_REPO": str(tmp_path), "SEARCHREL_SPARK_SUBMIT": str(fake_submit),
           "SEARCHREL_SPARK_MASTER": "spark://m:7077", "SEARCHREL_SPARK_CONF": "/p.conf",
           "SEARCHREL_WAREHOUSE": "s3a://b/w", "SEARCHREL_CONFIG": "/c.yaml"}
    for py_files, expected in (("", []), ("/dist/my project.zip", ["--py-files", "/dist/my project.zip"])):
        subprocess.run(["bash", "-c", pipeline.spark_submit("aggregate_features", "--ds 2026-11-23")],
                       env={**env, "SEARCHREL_PY_FILES": py_files}, check=True)
        argv = argv_file.read_text().splitlines()
        assert argv[:4] + argv[4:4 + len(expected)] == ["--master", "spark://m:7077", "--properties-file", "/p.conf",
                                                         *expected]
        assert argv[4 + len(expected):7 + len(expected)] == ["--name", "searchrel-aggregate_features",
                                                              "spark_jobs/aggregate_features.py"]


def test_publish_decision_compares_the_student_metric():
    # The shape of `evaluate --student V --json`: teacher and baselines beside the student's report.
    report = lambda v: {"teacher": {"test": {"ndcg_at_10": 0.9}}, "baselines": {"bm25": {"test": {"ndcg_at_10": 0.8}}},  # noqa: E731
                        "student": {"bm25": {"ndcg_at_10": 0.7}, "student": {"ndcg_at_10": v}, "test": {"ndcg_at_10": v}}}
    assert gates.pick_metric(report(0.5), "ndcg_at_10") == 0.5  # the student's, not the teacher's or BM25's
    assert gates.pick_metric({"student": {"ndcg_at_10": 0.4}}, "ndcg_at_10") == 0.4  # train_student --json
    assert gates.pick_metric({"student": {"test": {"ndcg_at_10": float("nan")}}}, "ndcg_at_10") is None
    assert gates.not_worse(report(0.50), report(0.50), "ndcg_at_10")[0] is True  # equal is not worse
    assert gates.not_worse(report(0.49), report(0.50), "ndcg_at_10")[0] is False
    assert gates.not_worse(report(0.49), report(0.50), "ndcg_at_10", tolerance=0.02)[0] is True
    assert gates.not_worse(report(0.10), None, "ndcg_at_10")[0] is True  # first student
    assert gates.not_worse({"student": {}}, report(0.5), "ndcg_at_10")[0] is False  # cannot show "not worse"
    assert gates.enough_new_labels({"new_labels": 999}, 1000)[0] is False
    assert gates.enough_new_labels({"new_labels": 1000}, 1000)[0] is True


def test_the_local_spark_submit_properties_bring_delta():
    conf = dict(line.split(None, 1) for line in (REPO / "conf" / "spark-submit.local.conf").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    from importlib.metadata import version

    # The delta-spark the pipeline pins must match the jar spark-submit fetches.
    assert conf["spark.jars.packages"].strip() == f"io.delta:delta-spark_4.1_2.13:{version('delta-spark')}"
    assert conf["spark.sql.extensions"].strip() == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"].strip() == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert conf["spark.sql.session.timeZone"].strip() == "UTC"
