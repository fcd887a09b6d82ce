"""Task factories shared by the searchrel DAGs.

Jobs run through a BashOperator that calls the pipeline's own `spark-submit`
rather than the Apache Spark provider's SparkSubmitOperator: the provider
depends on pyspark, which would put a second pyspark (pinned by Airflow's
resolver, not by the pipeline) into the Airflow environment, or force one
environment to hold both Airflow's and the pipeline's pins. Calling the
pipeline environment's spark-submit keeps one Spark/Delta version per
deployment, and the job's exit code is the task's outcome: 0 success, 1 a
failed run (for validate: a failed suite), 2 bad arguments.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import Variable, XComArg, task

from searchrel_airflow import pipeline, settings


def default_args() -> dict[str, Any]:
    """Per-task defaults of every searchrel DAG (computed when the DAG file is parsed)."""
    return {
        "owner": "searchrel",
        "retries": pipeline.job_retries(),
        "retry_delay": pipeline.JOB_RETRY_DELAY,
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
    }


@task(task_id="resolve_settings", retries=0)
def resolve_settings() -> dict[str, str]:
    """Where the pipeline lives for this run (Variables > environment > defaults); fails fast if absent."""
    values = settings.resolve(lambda name: Variable.get(name, default=None))
    problems = settings.missing_local_files(values)
    if problems:
        raise FileNotFoundError("searchrel settings point at missing files: " + "; ".join(problems)
                                + " (set the Airflow Variables or SEARCHREL_* environment variables)")
    return values


def _parse_json_line(line: str) -> Any:
    return json.loads(line) if line.strip() else None


def job(task_id: str, command: str, env: XComArg | dict, timeout: dt.timedelta, *, json_output: bool = False,
        skip_on_exit_code: int | None = None, **kwargs: Any) -> BashOperator:
    """A spark-submit job task; idempotent jobs make its retries safe."""
    return BashOperator(
        task_id=task_id,
        bash_command=command,
        env=env,
        append_env=True,
        execution_timeout=timeout,
        skip_on_exit_code=skip_on_exit_code,
        do_xcom_push=json_output,
        output_processor=_parse_json_line if json_output else (lambda out: out),
        **kwargs,
    )


def mapped_job(task_id: str, command: str, envs: XComArg, timeout: dt.timedelta, parallelism: int,
               **kwargs: Any) -> Any:
    """One job task per element of `envs` (e.g. per date chunk), at most `parallelism` at once in a run."""
    return BashOperator.partial(
        task_id=task_id,
        bash_command=command,
        append_env=True,
        execution_timeout=timeout,
        skip_on_exit_code=None,
        do_xcom_push=False,
        max_active_tis_per_dagrun=parallelism,
        **kwargs,
    ).expand(env=envs)


def validation(step: pipeline.Step, dates: str, env: XComArg | dict, **kwargs: Any) -> BashOperator:
    """The step's gate. No retries: a failed suite fails the same way twice, and must stop the downstream."""
    command = pipeline.validate(step, dates)
    if step.optional:
        command = pipeline.skip_if_off(step.task_id) + command
        kwargs["skip_on_exit_code"] = 99
    return job(pipeline.validate_task_id(step), command, env, pipeline.VALIDATION_TIMEOUT, retries=0, **kwargs)


def step_with_gate(step: pipeline.Step, dates: str, env: XComArg | dict) -> tuple[BashOperator, BashOperator]:
    """The step's job followed by the validation of every table it writes."""
    if step.optional:  # its --json result says whether it ran
        command, json_output = pipeline.spark_submit_json(step.job, dates), True
    else:
        command, json_output = pipeline.spark_submit(step.job, dates), False
    run = job(step.task_id, command, env, step.timeout, json_output=json_output,
              trigger_rule=pipeline.trigger_rule(step))
    gate = validation(step, dates, env)
    run >> gate
    return run, gate
