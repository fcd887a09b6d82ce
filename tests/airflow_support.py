"""What the Airflow DAG tests share: paths, the isolated Airflow, the report driver, the orchestration runs.

Airflow lives in its own environment (.venv-airflow, `make airflow-venv`), so
the tests drive it in a subprocess (tests/airflow_checks/dag_report.py) with
a throw-away AIRFLOW_HOME and SQLite metadata DB, and assert on its JSON.
The orchestration runs use a stand-in spark-submit (fake_spark_submit.py) so
that they check what Airflow does with exit codes and outputs in seconds.

Loaded as a pytest plugin by tests/conftest.py, so its fixtures reach every
test_dag_*.py file; its helpers are imported from here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "airflow_dags"
AF_VENV = REPO / ".venv-airflow"
CHECKS = REPO / "tests" / "airflow_checks"
FAKE = CHECKS / "fake_spark_submit.py"
DAY = "2026-11-23"
NO_RETRIES = {"SEARCHREL_AIRFLOW_JOB_RETRIES": "0"}  # test runs fail at once rather than wait out retry delays

if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))  # the DAGs' helper modules import no Airflow: they are plain Python
from searchrel_airflow import pipeline  # noqa: E402


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    """Environment of an isolated Airflow: its own home and SQLite DB, this DAG folder, no examples."""
    if not (AF_VENV / "bin" / "python").exists():
        pytest.skip("Airflow environment missing: run `make airflow-venv` (make test creates it)")
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    for name in [n for n in env if n.startswith(("SEARCHREL_", "AIRFLOW_VAR_"))]:
        del env[name]  # the DAGs must not pick up the developer's own settings
    done = subprocess.run([str(AF_VENV / "bin" / "airflow"), "db", "migrate"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return env


def report(env: dict[str, str], *args: str, timeout: int = 600) -> dict:
    """Run tests/airflow_checks/dag_report.py in the Airflow environment; its JSON report."""
    done = subprocess.run([str(AF_VENV / "bin" / "python"), str(CHECKS / "dag_report.py"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG_REPORT ")]
    assert done.returncode == 0 and lines, f"dag_report failed ({done.returncode}):\n{done.stderr[-6000:]}"
    return json.loads(lines[-1][len("DAG_REPORT "):])


def calls(log: Path) -> list[list[str]]:
    """The argv of every spark-submit the fake received, in order."""
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()] if log.exists() else []


def script_and_args(argv: list[str]) -> list[str]:
    """spark-submit argv from the application script on, without the common --warehouse/--config."""
    i = next(i for i, a in enumerate(argv) if a.endswith(".py"))
    rest = argv[i:]
    for flag in ("--warehouse", "--config"):
        while flag in rest:
            j = rest.index(flag)
            del rest[j:j + 2]
    return rest


def _shared_dir(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this run sees (the run's own base folder when serial)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def fast_runs(request, tmp_path_factory) -> dict:
    """The DagBag report plus the orchestration runs, in one Airflow process (its start-up is paid once).

    test_dag_graphs.py and test_dag_runs.py both read it: the first pytest-xdist
    worker to ask runs Airflow and leaves the JSON report in a shared folder; a worker
    that asks later (or waits on the lock meanwhile) reads that report.
    """
    from filelock import FileLock

    shared = _shared_dir(tmp_path_factory)
    saved = shared / "fast_runs.json"
    with FileLock(str(shared / "fast_runs.lock")):
        if saved.exists():
            out = json.loads(saved.read_text())
        else:
            out = _orchestration_runs(request.getfixturevalue("airflow_env"), shared / "fast_runs")
            saved.write_text(json.dumps(out))
    out["work"] = Path(out["work"])
    out["warehouse"] = Path(out["warehouse"])
    return out


def _orchestration_runs(env: dict[str, str], work: Path) -> dict:
    work.mkdir()
    warehouse = work / "wh"
    previous = warehouse / "models" / "student" / "s1"
    previous.mkdir(parents=True)
    (previous / "student.safetensors").write_bytes(b"")
    (previous.parent / "current").write_text("s1\n")

    def fake(name: str, **extra: str) -> dict[str, str]:
        return {"SEARCHREL_SPARK_SUBMIT": str(FAKE), "SEARCHREL_WAREHOUSE": str(warehouse),
                "FAKE_LOG": str(work / f"{name}.log"), **NO_RETRIES, **extra}

    jobs = {
        "inspect": {"action": "inspect"},
        "gate": {"action": "run", "dag_id": "searchrel_daily", "logical_date": DAY,
                 "env": fake("gate", FAKE_FAIL="features/pin_text", FAKE_CAPTIONS_OFF="1")},
        "backfill": {"action": "run", "dag_id": "searchrel_backfill", "logical_date": "2026-11-10",
                     "conf": {"start": "2026-11-01", "end": "2026-11-10", "chunk_days": 4}, "env": fake("backfill")},
        "student_worse": {"action": "run", "dag_id": "searchrel_student_weekly", "logical_date": "2026-11-23",
                          "env": fake("student_worse", FAKE_NEW_VERSION="s2",
                                      FAKE_NDCG=json.dumps({"s1": 0.60, "s2": 0.55}))},
        "teacher_few": {"action": "run", "dag_id": "searchrel_teacher", "logical_date": "2026-11-23",
                        "conf": {"min_new_labels": 50}, "env": fake("teacher_few", FAKE_NEW_LABELS="49")},
    }
    spec = work / "jobs.json"
    spec.write_text(json.dumps(jobs))
    out = report(env, "batch", str(spec), timeout=900)
    out["work"] = str(work)
    out["warehouse"] = str(warehouse)
    return out


__all__ = ["AF_VENV", "CHECKS", "DAGS", "DAY", "FAKE", "NO_RETRIES", "REPO", "calls", "pipeline", "report",
           "script_and_args"]
