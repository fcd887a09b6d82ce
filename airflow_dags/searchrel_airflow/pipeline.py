"""The pipeline's steps as the DAGs see them, and the shell commands that submit them.

The steps are defined once, in `searchrel/core/pipeline.py`, which the demo
runs too. Airflow's environment holds none of the pipeline's packages, so the
definition reaches the DAGs as `pipeline.json` beside this file (rendered by
`python -m searchrel.core.pipeline --write`; tests/test_pipeline.py fails when
it is stale). Every DAG builds its tasks from these steps, so the daily run,
the backfill, the demo and the tests agree on which job writes which tables
and which suites gate them. Commands only reference environment variables
(filled from `settings.resolve` at run time) and Airflow templates, never
literal paths.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

DateArgs = Literal["window", "day", "none"]
DEFINITION = Path(__file__).with_name("pipeline.json")


@dataclass(frozen=True)
class Step:
    """One job of the pipeline and the tables its validation gates."""

    task_id: str
    job: str  # spark_jobs/<job>.py
    tables: tuple[str, ...]  # validated after the job, in this order
    # "window": the job takes --ds D or --start/--end (a backfill chunk); "day": it is
    # incremental by itself and --ds only dates its quarantine rows (once per backfill).
    dates: DateArgs
    timeout: dt.timedelta
    upstream: tuple[str, ...] = ()  # task_ids of the same DAG's steps whose validated output it reads
    # The job may report {"status": "off"} (captioning without a configured model): then
    # its gate is skipped and the steps reading its table run without it.
    optional: bool = False
    dag: str | None = None  # "daily" (also the backfill), "teacher", "student"; None: the demo only


def _load(path: Path = DEFINITION) -> tuple[tuple[Step, ...], frozenset[str]]:
    """The steps of the rendered definition, and the gated tables that have no partition column."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    by_dag: dict[str | None, set[str]] = {}
    for raw in data["steps"]:
        by_dag.setdefault(raw["dag"], set()).add(raw["key"])
    steps = tuple(
        Step(raw["key"], raw["job"], tuple(g["table"] for g in raw["gates"]), raw["dates"],
             dt.timedelta(minutes=raw["timeout_minutes"]),
             # Across DAGs an upstream is met by the other DAG's schedule (the current teacher), not a task edge.
             tuple(u for u in raw["upstream"] if u in by_dag.get(raw["dag"], ())),
             raw["optional"], raw["dag"])
        for raw in data["steps"]
    )
    unpartitioned = frozenset(g["table"] for raw in data["steps"] for g in raw["gates"] if not g["partitioned"])
    return steps, unpartitioned


ALL_STEPS, UNPARTITIONED = _load()  # UNPARTITIONED: tables validated without a date (keyed, not daily)
ALL_BY_ID = {step.task_id: step for step in ALL_STEPS}
# The daily DAG's (and the backfill's) steps, in pipeline order.
STEPS: tuple[Step, ...] = tuple(step for step in ALL_STEPS if step.dag == "daily")
STEP_BY_ID = {step.task_id: step for step in STEPS}


def trigger_rule(step: Step) -> str:
    """all_success, except after an optional step, whose skipped gate must not stop the run (failures still do)."""
    return "none_failed" if any(STEP_BY_ID[name].optional for name in step.upstream) else "all_success"


def skip_if_off(task_id: str) -> str:
    """Shell prefix: exit 99 (the task is skipped) when the job's JSON result says it was switched off."""
    return ("{% if (ti.xcom_pull(task_ids='" + task_id + "') or {}).get('status') == 'off' %}"
            f"echo '{task_id} is switched off: nothing to validate'; exit 99; "
            "{% endif %}")


JOB_RETRIES = 2


def job_retries() -> int:
    """Retries of a job task. Jobs are idempotent, so a retry after a lost executor or a flaky store is safe.

    SEARCHREL_AIRFLOW_JOB_RETRIES (read when a DAG file is parsed) lets tests and
    debugging runs fail at once instead of waiting out the retry delay.
    """
    return int(os.environ.get("SEARCHREL_AIRFLOW_JOB_RETRIES", JOB_RETRIES))


JOB_RETRY_DELAY = dt.timedelta(minutes=5)
VALIDATION_TIMEOUT = dt.timedelta(minutes=30)

DAY = "--ds {{ ds }}"  # the daily run's day: its data interval start
CHUNK = '--start "$CHUNK_START" --end "$CHUNK_END"'  # a backfill chunk, from the mapped task's environment
RUN_JOBS = "airflow_dags/searchrel_airflow/run_jobs.py"
RUN_JOBS_SEPARATOR = "--then"
STUDENT_POINTER = "airflow_dags/searchrel_airflow/student_pointer.py"
NEW_LABELS = "airflow_dags/searchrel_airflow/new_labels.py"


def chunks(start: str, end: str, days: int) -> list[tuple[str, str]]:
    """Inclusive [start, end] cut into consecutive ranges of at most `days` days (the last may be shorter)."""
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    if first > last:
        raise ValueError(f"start {start} is after end {end}")
    if days < 1:
        raise ValueError(f"chunk_days must be >= 1, got {days}")
    out = []
    while first <= last:
        stop = min(first + dt.timedelta(days=days - 1), last)
        out.append((first.isoformat(), stop.isoformat()))
        first = stop + dt.timedelta(days=1)
    return out


def validate_task_id(step: Step) -> str:
    return "validate_" + step.task_id


def spark_submit(job: str, args: str = "", script: str | None = None) -> str:
    """Shell command that submits spark_jobs/<job>.py with the pipeline's own spark-submit.

    `args` is inserted verbatim (it may hold Airflow templates and "$VARS").
    """
    script = script or f"spark_jobs/{job}.py"
    parts = [
        "set -euo pipefail",
        'cd "$SEARCHREL_REPO"',
        'exec "$SEARCHREL_SPARK_SUBMIT" --master "$SEARCHREL_SPARK_MASTER"'
        ' --properties-file "$SEARCHREL_SPARK_CONF"'
        ' ${SEARCHREL_PY_FILES:+--py-files "$SEARCHREL_PY_FILES"}'
        f" --name searchrel-{job} {script} {args}".rstrip()
        + ' --warehouse "$SEARCHREL_WAREHOUSE" --config "$SEARCHREL_CONFIG"',
    ]
    return "; ".join(parts)


# Reads the job's stdout (which holds `--json` output, possibly after other
# lines) and prints the last JSON object on one line: BashOperator pushes the
# last line of output to XCom, and the DAG's output_processor parses it.
_LAST_JSON = (
    "import json,sys; t=open(sys.argv[1]).read(); i=t.rfind('\\n{'); i=0 if i<0 else i+1; "
    "print(json.dumps(json.loads(t[i:])))"
)


def spark_submit_json(job: str, args: str = "", script: str | None = None) -> str:
    """Like `spark_submit`, with `--json`, leaving the result as the last line of output."""
    submit = spark_submit(job, f"{args} --json".strip(), script=script).replace("exec ", "", 1)
    return (
        'out="$(mktemp)"; trap \'rm -f "$out"\' EXIT; '
        + submit + ' > "$out"; '
        + 'cat "$out" >&2; '
        + f'"$SEARCHREL_PYTHON" -c {shlex.quote(_LAST_JSON)} "$out"'
    )


def _validate_args(table: str, dates: str) -> str:
    return table if table in UNPARTITIONED else f"{table} {dates}"


def validate(step: Step, dates: str) -> str:
    """The suites of every table the step writes, in one driver; exit 1 (a failed suite) stops the downstream."""
    if len(step.tables) == 1:
        return spark_submit("validate", _validate_args(step.tables[0], dates))
    common = ' --warehouse "$SEARCHREL_WAREHOUSE" --config "$SEARCHREL_CONFIG"'
    chained = f"{common} {RUN_JOBS_SEPARATOR} validate ".join(_validate_args(t, dates) for t in step.tables)
    return spark_submit(f"validate-{step.task_id}", f"validate {chained}", script=RUN_JOBS)



def student_pointer(args: str) -> str:
    """Show or move the student's `current` pointer with the pipeline's Python (no Spark needed)."""
    return ('set -euo pipefail; cd "$SEARCHREL_REPO"; '
            f'exec "$SEARCHREL_PYTHON" {STUDENT_POINTER} {args}'
            ' --warehouse "$SEARCHREL_WAREHOUSE" --config "$SEARCHREL_CONFIG"')
