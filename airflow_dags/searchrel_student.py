"""searchrel_student_weekly: distil a new student, evaluate it, publish it only if it is not worse.

Weekly, after the daily runs have filled features/student_examples. The
current student is noted (and evaluated) before training, the candidate is
trained and evaluated on the held-out human labels, and `decide` compares the
metric in the two `evaluate --json` reports (params `metric`, `tolerance`).
The candidate is trained with `--no-promote`, so `models/student/current`
moves only in `publish_student`; `keep_current_student` still puts the pointer
back on the previous version (a no-op unless someone moved it meanwhile), so
serving only ever sees a student that passed the comparison.
"""

from __future__ import annotations

import datetime as dt
import shlex

from airflow.sdk import DAG, CronTriggerTimetable, Param, task

from searchrel_airflow import gates, pipeline, tasks

TRAIN, EVALUATE = pipeline.ALL_BY_ID["train_student"], pipeline.ALL_BY_ID["evaluate"]
CANDIDATE = "{{ ti.xcom_pull(task_ids='train_student')['version'] | shquote }}"
PREVIOUS = "{{ ((ti.xcom_pull(task_ids='previous_student') or {}).get('current') or '') | shquote }}"


@task.branch(trigger_rule="none_failed", retries=0)
def decide(candidate: dict | None, previous: dict | None, params: dict | None = None) -> str:
    """Branch to publishing or keeping the current student; the reason goes to the task log."""
    assert params is not None
    publish, reason = gates.not_worse(candidate, previous, params["metric"], float(params["tolerance"]))
    print(reason)
    return "publish_student" if publish else "keep_current_student"


with DAG(
    dag_id="searchrel_student_weekly",
    description="distil + evaluate the student; publish only if not worse than the current one",
    schedule=CronTriggerTimetable("0 6 * * 1", timezone="UTC"),
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.default_args(),
    user_defined_filters={"shquote": lambda value: shlex.quote(str(value))},
    params={
        "metric": Param("ndcg_at_10", type="string", description="metric of evaluate --json compared"),
        "tolerance": Param(0.0, type="number", minimum=0, description="allowed drop before refusing to publish"),
    },
    tags=["searchrel", "student", "weekly"],
    doc_md=__doc__,
) as dag:
    env = tasks.resolve_settings()
    previous = tasks.job("previous_student", pipeline.student_pointer("show"), env, dt.timedelta(minutes=10),
                         json_output=True)
    train = tasks.job(TRAIN.task_id, pipeline.spark_submit_json(TRAIN.job, "--no-progress --no-promote"), env,
                      TRAIN.timeout, json_output=True)
    evaluate_candidate = tasks.job("evaluate_candidate", pipeline.spark_submit_json(EVALUATE.job, f"--student {CANDIDATE}"),
                                   env, EVALUATE.timeout, json_output=True)
    # Exit 99 (no current student yet: the first training) leaves this task skipped.
    evaluate_previous = tasks.job(
        "evaluate_previous",
        f"PREV={PREVIOUS}; if [ -z \"$PREV\" ]; then echo 'no current student'; exit 99; fi; "
        + pipeline.spark_submit_json(EVALUATE.job, '--student "$PREV"'),
        env, EVALUATE.timeout, json_output=True, skip_on_exit_code=99,
    )
    choice = decide(evaluate_candidate.output, evaluate_previous.output)
    publish = tasks.job("publish_student", pipeline.student_pointer(f"set {CANDIDATE}"), env,
                        dt.timedelta(minutes=10))
    keep = tasks.job(
        "keep_current_student",
        f"PREV={PREVIOUS}; if [ -z \"$PREV\" ]; then echo 'no previous student to restore'; exit 0; fi; "
        + pipeline.student_pointer('set "$PREV"'),
        env, dt.timedelta(minutes=10),
    )
    previous >> [train, evaluate_previous]
    train >> evaluate_candidate
    choice >> [publish, keep]
