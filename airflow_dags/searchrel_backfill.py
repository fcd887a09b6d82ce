"""searchrel_backfill: the daily pipeline over a date range, in chunks, with bounded parallelism.

Trigger with params `start`, `end` (inclusive, yyyy-MM-dd) and `chunk_days`.
Each job runs once per chunk with `--start/--end` (one Spark application per
chunk rather than per day: the jobs are windowed by construction), at most
`SEARCHREL_BACKFILL_PARALLELISM` (default 2) chunks of a step at once. Steps
are barriers: every chunk of a step must pass its expectation suites before
any chunk of the next step starts, so a failed suite stops the whole
backfill where it failed. On an s3a:// warehouse, parallel chunks need
Delta's DynamoDB log store in the properties file (drivers must not commit
to one table at once otherwise); without it the run stops before its first
chunk and says so. The jobs are idempotent (replaceWhere / MERGE on
their partitions), so clearing and re-running a chunk is safe.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import DAG, Param, Variable, task

from searchrel_airflow import pipeline, settings, tasks

PARALLELISM = int(os.environ.get("SEARCHREL_BACKFILL_PARALLELISM", "2"))


@task(retries=0)
def plan_chunks(params: dict | None = None) -> list[dict[str, str]]:
    """One task environment per chunk: the resolved settings plus CHUNK_START/CHUNK_END."""
    assert params is not None
    values = settings.resolve(lambda name: Variable.get(name, default=None))
    unsafe = settings.concurrent_writers_refusal(values, PARALLELISM)
    if unsafe:
        raise ValueError(unsafe)  # before any chunk runs: the one line is the task's error
    ranges = pipeline.chunks(params["start"], params["end"], int(params["chunk_days"]))
    return [{**values, "CHUNK_START": start, "CHUNK_END": end} for start, end in ranges]


with DAG(
    dag_id="searchrel_backfill",
    description="the daily pipeline over [start, end] in chunks of chunk_days, with --start/--end",
    schedule=None,
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=PARALLELISM,
    default_args=tasks.default_args(),
    params={
        "start": Param("2026-11-21", type="string", format="date", description="first day (inclusive)"),
        "end": Param("2026-11-23", type="string", format="date", description="last day (inclusive)"),
        "chunk_days": Param(7, type="integer", minimum=1, maximum=366, description="days per Spark application"),
    },
    tags=["searchrel", "backfill", "spark"],
    doc_md=__doc__,
) as dag:
    env = tasks.resolve_settings()
    plan = plan_chunks()
    gates = {}
    for step in pipeline.STEPS:
        if step.dates == "window":
            run = tasks.mapped_job(step.task_id, pipeline.spark_submit(step.job, pipeline.CHUNK), plan, step.timeout,
                                   PARALLELISM, trigger_rule=pipeline.trigger_rule(step))
            gate = tasks.mapped_job(pipeline.validate_task_id(step), pipeline.validate(step, pipeline.CHUNK), plan,
                                    pipeline.VALIDATION_TIMEOUT, PARALLELISM, retries=0)
            run >> gate
        else:  # incremental by itself (captions of new images): once, not per chunk
            run, gate = tasks.step_with_gate(step, "--ds {{ params.end }}", env)
        for name in step.upstream:
            gates[name] >> run
        gates[step.task_id] = gate
