"""Where a DAG run finds the pipeline: resolved when a task runs, never at import.

Each setting comes from, in order: the Airflow Variable (UI, CLI, a secrets
backend or `AIRFLOW_VAR_<NAME>`), the worker's environment variable, then a
local default derived from the checkout that holds this DAG folder. Resolving
at run time keeps DAG parsing free of metadata-database calls and lets an
operator repoint a deployment (another warehouse, a cluster master) without
touching code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

# airflow_dags/searchrel_airflow/settings.py -> the repository root.
DEFAULT_REPO = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class Setting:
    key: str  # short name used in code
    variable: str  # Airflow Variable name
    env: str  # environment variable name; also what the task's shell sees
    default: str  # may refer to {repo}
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("repo", "searchrel_repo", "SEARCHREL_REPO", DEFAULT_REPO,
            "checkout holding spark_jobs/ (the working directory of every job)"),
    Setting("spark_submit", "searchrel_spark_submit", "SEARCHREL_SPARK_SUBMIT", "{repo}/.venv/bin/spark-submit",
            "spark-submit of the pipeline's environment (not Airflow's)"),
    Setting("python", "searchrel_python", "SEARCHREL_PYTHON", "{repo}/.venv/bin/python",
            "Python of the pipeline's environment: the PySpark driver and small helpers"),
    Setting("spark_master", "searchrel_spark_master", "SEARCHREL_SPARK_MASTER", "local[2]",
            "spark-submit --master (local[N], yarn, k8s://…, spark://…)"),
    Setting("spark_conf", "searchrel_spark_conf", "SEARCHREL_SPARK_CONF", "{repo}/conf/spark-submit.local.conf",
            "spark-submit --properties-file (Delta packages, extensions, shuffle partitions)"),
    Setting("warehouse", "searchrel_warehouse", "SEARCHREL_WAREHOUSE", "{repo}/warehouse",
            "warehouse root passed as --warehouse (folder or s3a://… URI)"),
    Setting("config", "searchrel_config", "SEARCHREL_CONFIG", "{repo}/conf/searchrel.yaml",
            "pipeline config file passed as --config"),
)


def resolve(
    variable_get: Callable[[str], str | None],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Settings as the environment of a job task: `{ENV_NAME: value}`.

    `variable_get(name)` returns the Airflow Variable or None; it is a
    parameter so that this stays importable and testable without a database.
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for setting in SETTINGS:
        value = variable_get(setting.variable) or env.get(setting.env) or ""
        if not value:
            value = setting.default.format(repo=values.get("SEARCHREL_REPO", DEFAULT_REPO))
        values[setting.env] = value
    # spark-submit starts the Python driver with PYSPARK_PYTHON (python3 from
    # PATH otherwise, which on an Airflow worker is not the pipeline's).
    values["PYSPARK_PYTHON"] = values["SEARCHREL_PYTHON"]
    values["PYSPARK_DRIVER_PYTHON"] = values["SEARCHREL_PYTHON"]
    return values


def missing_local_files(values: Mapping[str, str]) -> list[str]:
    """Local paths among the settings that do not exist: a run would fail on each task."""
    problems = []
    for name in ("SEARCHREL_REPO", "SEARCHREL_SPARK_SUBMIT", "SEARCHREL_PYTHON", "SEARCHREL_SPARK_CONF",
                 "SEARCHREL_CONFIG"):
        path = values[name]
        if "://" not in path and not os.path.exists(path):
            problems.append(f"{name}={path} does not exist")
    return problems
