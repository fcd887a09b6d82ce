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
    Setting("py_files", "searchrel_py_files", "SEARCHREL_PY_FILES", "",
            "spark-submit --py-files: the project as a zip or wheel, for executors that lack the checkout "
            "(empty: executors import it from their own environment)"),
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
                 "SEARCHREL_CONFIG", "SEARCHREL_PY_FILES"):
        path = values.get(name, "")
        if path and "://" not in path and not os.path.exists(path):
            problems.append(f"{name}={path} does not exist")
    return problems


# Delta's log store for s3a (S3SingleDriverLogStore) makes commits exclusive within one driver
# only: two drivers committing to one table at once can both write the same log entry, and one
# commit is lost without an error. Parallel backfill chunks are separate drivers.
MULTI_WRITER_LOG_STORE = "spark.delta.logStore.s3a.impl"
OBJECT_STORE_SCHEMES = ("s3a://", "s3://", "s3n://")


def _properties(path: str) -> dict[str, str]:
    """A spark-submit properties file (`key value` or `key=value` lines); empty if it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.replace("=", " ", 1).partition(" ")
            out[key.strip()] = value.strip()
    return out


def concurrent_writers_refusal(values: Mapping[str, str], parallelism: int) -> str | None:
    """Why running `parallelism` drivers at once against this warehouse would be unsafe, or None.

    On S3 that takes a log store that coordinates drivers (the DynamoDB one, set in the
    properties file); without it, one writer at a time (parallelism 1) is the safe choice.
    """
    warehouse = values.get("SEARCHREL_WAREHOUSE", "")
    if parallelism <= 1 or not warehouse.startswith(OBJECT_STORE_SCHEMES):
        return None
    if _properties(values.get("SEARCHREL_SPARK_CONF", "")).get(MULTI_WRITER_LOG_STORE):
        return None
    return (f"{parallelism} backfill chunks at once would commit to the same Delta tables on {warehouse} "
            f"from {parallelism} drivers, which Delta's default S3 log store does not make safe: set "
            "SEARCHREL_BACKFILL_PARALLELISM=1, or configure the DynamoDB log store "
            f"({MULTI_WRITER_LOG_STORE}=io.delta.storage.S3DynamoDBLogStore) in {values.get('SEARCHREL_SPARK_CONF')}")
