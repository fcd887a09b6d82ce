"""searchrel_teacher: retrain the cross-encoder teacher when enough new human labels arrived.

Runs weekly and on demand. `count_new_labels` counts raw/human_labels newer
than the last training (the day the teacher's `current` pointer was written,
or param `since`); `enough_new_labels` short-circuits the run, leaving
training skipped, below `min_new_labels`. To retrain now, trigger it with
`{"min_new_labels": 0}`. Training is followed by the teacher's evaluation on
the held-out, query-disjoint human labels; its JSON report is the task's XCom.
"""

from __future__ import annotations

import datetime as dt
import shlex

from airflow.sdk import DAG, CronTriggerTimetable, Param, task

from searchrel_airflow import gates, pipeline, tasks

SINCE = "{% if params.since %}--since {{ params.since | shquote }}{% endif %}"
TRAIN, EVALUATE = pipeline.ALL_BY_ID["train_teacher"], pipeline.ALL_BY_ID["evaluate"]
TEACHER = "{{ ((ti.xcom_pull(task_ids='train_teacher') or {}).get('version') or 'current') | shquote }}"


@task.short_circuit(retries=0)
def enough_new_labels(counts: dict | None, params: dict | None = None) -> bool:
    assert params is not None
    verdict, reason = gates.enough_new_labels(counts, int(params["min_new_labels"]))
    print(reason)
    return verdict


with DAG(
    dag_id="searchrel_teacher",
    description="retrain + evaluate the teacher when enough new human labels arrived (or on demand)",
    schedule=CronTriggerTimetable("0 4 * * 6", timezone="UTC"),
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.default_args(),
    user_defined_filters={"shquote": lambda value: shlex.quote(str(value))},
    params={
        "min_new_labels": Param(1000, type="integer", minimum=0,
                                description="retrain only with at least this many new labels (0: always)"),
        "since": Param(None, type=["null", "string"], format="date",
                       description="count labels after this day instead of the last training day"),
    },
    tags=["searchrel", "teacher"],
    doc_md=__doc__,
) as dag:
    env = tasks.resolve_settings()
    counts = tasks.job("count_new_labels", pipeline.spark_submit_json("new_labels", SINCE, script=pipeline.NEW_LABELS),
                       env, dt.timedelta(minutes=30), json_output=True)
    train = tasks.job(TRAIN.task_id, pipeline.spark_submit_json(TRAIN.job), env, TRAIN.timeout, json_output=True)
    evaluate = tasks.job("evaluate_teacher", pipeline.spark_submit_json(EVALUATE.job, f"--teacher {TEACHER}"), env,
                         EVALUATE.timeout, json_output=True)
    enough_new_labels(counts.output) >> train >> evaluate
