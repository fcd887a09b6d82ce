"""Airflow 3 DAG runs with a stand-in spark-submit: gates stop what follows, backfills chunk, decisions hold.

The stand-in (tests/airflow_checks/fake_spark_submit.py) logs its argv and exits as
told, so these check what Airflow does with exit codes and outputs in seconds; the
runs happen once, in the `fast_runs` fixture (tests/airflow_support.py).
"""

from __future__ import annotations

import json

import pytest

from airflow_support import DAY, REPO, pipeline
from airflow_support import calls as _calls
from airflow_support import script_and_args as _script_and_args

pytestmark = pytest.mark.airflow


def test_a_failed_validation_stops_everything_downstream(fast_runs):
    run = fast_runs["gate"]
    assert run["state"] == "failed"
    states = run["tasks"]
    assert states["validate_assemble_pin_text"] == "failed"
    assert states["validate_caption_pins"] == "skipped"  # captioning off: nothing to validate, text goes on
    for task_id in ("label_impressions", "validate_label_impressions", "build_student_examples",
                    "validate_build_student_examples"):
        assert states[task_id] == "upstream_failed", task_id
    for task_id in ("aggregate_features", "validate_aggregate_features", "caption_pins", "assemble_pin_text"):
        assert states[task_id] == "success", task_id
    calls = [_script_and_args(argv) for argv in _calls(fast_runs["work"] / "gate.log")]
    assert ["spark_jobs/aggregate_features.py", "--ds", DAY] in calls
    assert ["spark_jobs/assemble_pin_text.py", "--ds", DAY] in calls
    assert ["spark_jobs/caption_pins.py", "--ds", DAY, "--json"] in calls
    assert not any("features/pin_captions" in c for c in calls)
    assert not any(c[0] == "spark_jobs/label_impressions.py" for c in calls)  # never submitted
    # The day's raw events (the aggregation's input) and the three aggregate tables: one driver.
    assert [pipeline.RUN_JOBS, "validate", "raw/search_events", "--ds", DAY, "--then",
            "validate", "features/pin_query_tokens", "--ds", DAY, "--then",
            "validate", "features/pin_board_tokens", "--ds", DAY, "--then",
            "validate", "features/pin_link_text", "--ds", DAY] in calls
    argv = _calls(fast_runs["work"] / "gate.log")[0]
    assert argv[:4] == ["--master", "local[2]", "--properties-file", str(REPO / "conf" / "spark-submit.local.conf")]
    assert argv[argv.index("--warehouse") + 1] == str(fast_runs["warehouse"])


def test_backfill_runs_every_step_once_per_chunk(fast_runs):
    run = fast_runs["backfill"]
    assert run["state"] == "success", run["tasks"]
    ranges = [("2026-11-01", "2026-11-04"), ("2026-11-05", "2026-11-08"), ("2026-11-09", "2026-11-10")]
    calls = [_script_and_args(argv) for argv in _calls(fast_runs["work"] / "backfill.log")]
    for step in ("aggregate_features", "assemble_pin_text", "label_impressions", "build_student_examples"):
        got = sorted((c[2], c[4]) for c in calls if c[0] == f"spark_jobs/{step}.py")
        assert got == ranges, step
        assert {f"{step}[{i}]" for i in range(3)} <= set(run["tasks"])
    assert [c for c in calls if c[0] == "spark_jobs/caption_pins.py"] == [
        ["spark_jobs/caption_pins.py", "--ds", "2026-11-10", "--json"]]
    assert ["spark_jobs/validate.py", "features/pin_captions"] in calls
    label_checks = sorted((c[3], c[5]) for c in calls if c[:2] == ["spark_jobs/validate.py", "labels/teacher_scores"])
    assert label_checks == ranges


def test_a_worse_student_is_not_published(fast_runs):
    run = fast_runs["student_worse"]
    states = run["tasks"]
    assert states["decide"] == "success"
    assert states["publish_student"] == "skipped" and states["keep_current_student"] == "success"
    # The candidate is trained with --no-promote (the fake, like the job, would otherwise move
    # `current` to s2), so serving never sees it; keeping leaves s1.
    pointer = json.loads((fast_runs["warehouse"] / "models" / "student" / "current").read_text())
    assert pointer["version"] == "s1"  # the registry's one JSON pointer format (modeling/registry.py)
    assert run["xcoms"]["evaluate_candidate"]["student"]["test"] == {"ndcg_at_10": 0.55}
    calls = [_script_and_args(a) for a in _calls(fast_runs["work"] / "student_worse.log")]
    assert ["spark_jobs/train_student.py", "--no-progress", "--no-promote", "--json"] in calls
    assert ["spark_jobs/evaluate.py", "--student", "s1", "--json"] in calls
    assert ["spark_jobs/evaluate.py", "--student", "s2", "--json"] in calls


def test_teacher_is_not_retrained_without_enough_new_labels(fast_runs):
    run = fast_runs["teacher_few"]
    assert run["tasks"]["count_new_labels"] == "success"
    assert run["xcoms"]["count_new_labels"]["new_labels"] == 49
    assert run["tasks"]["train_teacher"] == "skipped" and run["tasks"]["evaluate_teacher"] == "skipped"
    calls = [_script_and_args(a) for a in _calls(fast_runs["work"] / "teacher_few.log")]
    assert calls == [[pipeline.NEW_LABELS, "--json"]]
