"""searchrel_daily: one day of pin-text features, teacher labels and student examples.

Each job is followed by the expectation suites of the tables it writes; a
failed suite fails its task and, with the default all_success trigger rule,
leaves everything that reads that table `upstream_failed`. The day processed
is the run's `ds` (the data interval start): the run for day D starts after
D+1 02:00 UTC, giving late events two hours.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, CronDataIntervalTimetable

from searchrel_airflow import pipeline, tasks

with DAG(
    dag_id="searchrel_daily",
    description="daily features -> teacher labels -> student examples, each gated by its expectation suite",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
    catchup=False,  # past days go through searchrel_backfill (one job per chunk, not per day)
    max_active_runs=1,
    default_args=tasks.default_args(),
    dagrun_timeout=dt.timedelta(hours=12),
    tags=["searchrel", "daily", "spark"],
    doc_md=__doc__,
) as dag:
    env = tasks.resolve_settings()
    gates = {}
    for step in pipeline.STEPS:
        run, gate = tasks.step_with_gate(step, pipeline.DAY, env)
        for name in step.upstream:
            gates[name] >> run
        gates[step.task_id] = gate
