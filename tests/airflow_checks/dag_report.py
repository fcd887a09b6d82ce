"""Runs inside the Airflow environment (.venv-airflow) for the tests/test_dag_*.py files; prints one JSON document.

    python dag_report.py inspect
        DagBag of $AIRFLOW__CORE__DAGS_FOLDER: import errors and every DAG's tasks and settings.
    python dag_report.py run DAG_ID LOGICAL_DATE [--conf JSON]
        One run with dag.test() against the metadata DB of $AIRFLOW_HOME (migrated beforehand):
        the state of every task instance and the XComs of those that pushed one.
    python dag_report.py batch FILE
        Several of the above in one process (Airflow's start-up is paid once): FILE holds
        {name: {"action": "inspect"} | {"action": "run", "dag_id", "logical_date", "conf", "env"}};
        "env" is set for that run only (tasks inherit the process environment).

The pipeline's pytest cannot import Airflow (separate environment), so it
asserts on this output instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any


def _bag():
    from airflow.dag_processing.dagbag import BundleDagBag

    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    return BundleDagBag(dag_folder=str(folder), bundle_path=folder)


def _seconds(value: dt.timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _task(task: Any) -> dict[str, Any]:
    partial = getattr(task, "partial_kwargs", None)
    mapped = partial is not None
    get = (lambda name, default=None: partial.get(name, getattr(task, name, default))) if mapped else (
        lambda name, default=None: getattr(task, name, default))
    command = get("bash_command")
    return {
        "operator": task.task_type,
        "mapped": mapped,
        "upstream": sorted(task.upstream_task_ids),
        "downstream": sorted(task.downstream_task_ids),
        "retries": get("retries"),
        "execution_timeout_s": _seconds(get("execution_timeout")),
        "trigger_rule": str(getattr(get("trigger_rule"), "value", get("trigger_rule"))),
        "bash_command": command if isinstance(command, str) else None,
        "skip_on_exit_code": list(get("skip_on_exit_code") or []) if get("skip_on_exit_code") is not None else None,
        "max_active_tis_per_dagrun": get("max_active_tis_per_dagrun"),
    }


def inspect() -> dict[str, Any]:
    bag = _bag()
    dags = {}
    for dag_id, dag in bag.dags.items():
        dag.validate()
        order = [t.task_id for t in dag.topological_sort()]  # raises on a cycle
        dags[dag_id] = {
            "fileloc": dag.fileloc,
            "schedule": getattr(dag.timetable, "expression", None),
            "timetable": type(dag.timetable).__name__,
            "tags": sorted(dag.tags),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "max_active_tasks": dag.max_active_tasks,
            "params": {k: dag.params.get_param(k).value for k in dag.params},
            "topological_order": order,
            "tasks": {t.task_id: _task(t) for t in dag.tasks},
        }
    return {"import_errors": bag.import_errors, "dags": dags}


def run(dag_id: str, logical_date: str, conf: dict[str, Any] | None, mark_success: str | None = None) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag = _bag().get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"no DAG {dag_id}")
    when = dt.datetime.fromisoformat(logical_date).replace(tzinfo=dt.timezone.utc)
    dagrun = dag.test(logical_date=when, run_conf=conf, mark_success_pattern=mark_success)
    states: dict[str, str] = {}
    xcoms: dict[str, Any] = {}
    with create_session() as session:
        for ti in dagrun.get_task_instances(session=session):
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            states[key] = str(ti.state)
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == dagrun.run_id,
                                               XComModel.key == "return_value")
        for row in rows:
            key = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
            value = row.value
            xcoms[key] = json.loads(value) if isinstance(value, (str, bytes)) else value
    return {"dag_id": dag_id, "run_id": dagrun.run_id, "state": str(dagrun.state), "tasks": states,
            "xcoms": xcoms}


def batch(path: str) -> dict[str, Any]:
    jobs = json.loads(Path(path).read_text())
    out: dict[str, Any] = {}
    for name, job in jobs.items():
        saved = dict(os.environ)
        os.environ.update(job.get("env", {}))
        try:
            if job["action"] == "inspect":
                out[name] = inspect()
            else:
                out[name] = run(job["dag_id"], job["logical_date"], job.get("conf"))
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("inspect")
    run_p = sub.add_parser("run")
    run_p.add_argument("dag_id")
    run_p.add_argument("logical_date")
    run_p.add_argument("--conf", type=json.loads)
    run_p.add_argument("--mark-success", help="regex of task ids marked successful instead of run (debugging)")
    sub.add_parser("batch").add_argument("file")
    args = parser.parse_args()
    if args.action == "inspect":
        out = inspect()
    elif args.action == "batch":
        out = batch(args.file)
    else:
        out = run(args.dag_id, args.logical_date, args.conf, args.mark_success)
    print("DAG_REPORT " + json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
