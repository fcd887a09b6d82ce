"""Airflow 3 DAGs, in a real Airflow: the folder imports and the graphs are the design's.

The DagBag report comes from the `fast_runs` fixture (tests/airflow_support.py),
which the orchestration runs of test_dag_runs.py share.
"""

from __future__ import annotations

import pytest

from airflow_support import pipeline

pytestmark = pytest.mark.airflow


def test_dag_folder_imports_without_errors_and_holds_the_four_dags(fast_runs):
    report = fast_runs["inspect"]
    assert report["import_errors"] == {}
    assert set(report["dags"]) == {"searchrel_daily", "searchrel_backfill", "searchrel_student_weekly",
                                   "searchrel_teacher"}
    for dag_id, dag in report["dags"].items():
        assert "searchrel" in dag["tags"], dag_id
        assert dag["max_active_runs"] == 1, dag_id
        assert dag["catchup"] is False, dag_id
        for task_id, task in dag["tasks"].items():
            if task["operator"] == "BashOperator":
                assert task["execution_timeout_s"], f"{dag_id}.{task_id} has no execution timeout"
                assert '"$SEARCHREL_' in task["bash_command"], f"{dag_id}.{task_id} hard-codes its paths"
                # Gates never retry (a failed suite fails the same way again); idempotent jobs do.
                expected = 0 if task_id.startswith("validate_") else pipeline.JOB_RETRIES
                assert task["retries"] == expected, f"{dag_id}.{task_id}"


def test_daily_graph_gates_every_step_on_its_validation(fast_runs):
    dag = fast_runs["inspect"]["dags"]["searchrel_daily"]
    tasks = dag["tasks"]
    assert dag["timetable"] == "CronDataIntervalTimetable" and dag["schedule"] == "0 2 * * *"
    expected_upstream = {
        "aggregate_features": ["resolve_settings"],
        "validate_aggregate_features": ["aggregate_features", "resolve_settings"],
        "caption_pins": ["resolve_settings"],
        "validate_caption_pins": ["caption_pins", "resolve_settings"],
        "assemble_pin_text": ["resolve_settings", "validate_aggregate_features", "validate_caption_pins"],
        "validate_assemble_pin_text": ["assemble_pin_text", "resolve_settings"],
        "label_impressions": ["resolve_settings", "validate_assemble_pin_text"],
        "validate_label_impressions": ["label_impressions", "resolve_settings"],
        "build_student_examples": ["resolve_settings", "validate_label_impressions"],
        "validate_build_student_examples": ["build_student_examples", "resolve_settings"],
        "resolve_settings": [],
    }
    assert {t: tasks[t]["upstream"] for t in tasks} == expected_upstream
    # A skipped caption gate (captioning off) must not stop the text; a failed one still does.
    assert tasks["assemble_pin_text"]["trigger_rule"] == "none_failed"
    assert {tasks[t]["trigger_rule"] for t in tasks if t != "assemble_pin_text"} == {"all_success"}
    cmd = {t: tasks[t]["bash_command"] for t in tasks if tasks[t]["bash_command"]}
    assert "spark_jobs/aggregate_features.py --ds {{ ds }}" in cmd["aggregate_features"]
    assert "spark_jobs/label_impressions.py --ds {{ ds }}" in cmd["label_impressions"]
    assert "spark_jobs/build_student_examples.py --ds {{ ds }}" in cmd["build_student_examples"]
    for table in ("features/pin_query_tokens", "features/pin_board_tokens", "features/pin_link_text"):
        assert f"validate {table} --ds {{{{ ds }}}}" in cmd["validate_aggregate_features"]
    assert "spark_jobs/validate.py labels/teacher_scores --ds {{ ds }}" in cmd["validate_label_impressions"]
    assert "spark_jobs/validate.py features/student_examples --ds {{ ds }}" in cmd["validate_build_student_examples"]
    assert all('--properties-file "$SEARCHREL_SPARK_CONF"' in c for t, c in cmd.items())


def test_backfill_graph_maps_each_step_over_chunks_with_bounded_parallelism(fast_runs):
    dag = fast_runs["inspect"]["dags"]["searchrel_backfill"]
    tasks = dag["tasks"]
    assert dag["params"] == {"start": "2026-11-21", "end": "2026-11-23", "chunk_days": 7}
    assert dag["max_active_tasks"] == 2
    for step in ("aggregate_features", "assemble_pin_text", "label_impressions", "build_student_examples"):
        assert tasks[step]["mapped"] and tasks[f"validate_{step}"]["mapped"], step
        assert tasks[step]["max_active_tis_per_dagrun"] == 2
        assert f'spark_jobs/{step}.py --start "$CHUNK_START" --end "$CHUNK_END"' in tasks[step]["bash_command"]
    assert not tasks["caption_pins"]["mapped"]  # incremental by itself: once per backfill
    assert "validate_aggregate_features" in tasks["assemble_pin_text"]["upstream"]
    assert "validate_label_impressions" in tasks["build_student_examples"]["upstream"]


def test_student_and_teacher_graphs(fast_runs):
    dags = fast_runs["inspect"]["dags"]
    student = dags["searchrel_student_weekly"]["tasks"]
    assert student["decide"]["upstream"] == ["evaluate_candidate", "evaluate_previous"]
    assert student["decide"]["trigger_rule"] == "none_failed"  # evaluate_previous is skipped for a first student
    assert student["publish_student"]["upstream"] == ["decide", "resolve_settings"]
    assert student["evaluate_previous"]["upstream"] == ["previous_student", "resolve_settings"]
    assert "train_student" in student["evaluate_candidate"]["upstream"]
    teacher = dags["searchrel_teacher"]
    assert teacher["params"] == {"min_new_labels": 1000, "since": None}
    order = teacher["topological_order"]
    assert order.index("count_new_labels") < order.index("enough_new_labels") < order.index("train_teacher") \
        < order.index("evaluate_teacher")
