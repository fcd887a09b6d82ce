"""The spark-submit properties of a local cluster, and the credentials that live only in them.

One file holds every setting a job on the cluster needs, the s3a key pair included;
it is written 0600 and read back only by the processes that need it, so no key is
ever in code, a log, or `cluster.json`.
"""

from __future__ import annotations

import os
import secrets
import string
import sys
from pathlib import Path

from searchrel.cluster.processes import HOST
from searchrel.core.session import DELTA_CATALOG, DELTA_EXTENSION, UTC_JVM, submit_packages

REGION = "us-east-1"


def _random_key(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_credentials() -> tuple[str, str]:
    """A fresh access key and secret for one cluster (AWS-shaped: 20 upper-case, 40 mixed characters)."""
    access = "SR" + _random_key(18, string.ascii_uppercase + string.digits)
    secret = _random_key(40, string.ascii_letters + string.digits)
    return access, secret


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, created 0600 (never world-readable, not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def read_properties(path: Path) -> dict[str, str]:
    """A spark-submit properties file (`key value` lines, # comments) as a dict."""
    props: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            props[key] = value.strip()
    return props


def submit_properties(master_url: str, s3_endpoint: str, access_key: str, secret_key: str) -> dict[str, str]:
    """Everything spark-submit needs for a job on this cluster with its warehouse on the object store.

    Mirrors conf/spark-submit.local.conf (Delta, UTC, few shuffle partitions) and adds
    the cluster: the jars of s3a (searchrel.core.session.submit_packages), path-style
    access to the local endpoint, the credentials (only the simple provider, so a wrong
    secret fails instead of falling through to environment or instance credentials),
    the driver bound to 127.0.0.1, executors the size of a worker, and this interpreter
    for the Python workers, so executors import pandas and pyarrow from the same venv.
    """
    settings = {
        "spark.master": master_url,
        **submit_packages(s3a=True),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.hadoop.fs.s3a.endpoint": s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": REGION,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.access.key": access_key,
        "spark.hadoop.fs.s3a.secret.key": secret_key,
        # A refused request is not retried for minutes: a bad key fails the job in seconds.
        "spark.hadoop.fs.s3a.attempts.maximum": "3",
        "spark.hadoop.fs.s3a.retry.limit": "3",
        "spark.driver.host": HOST,
        "spark.driver.bindAddress": HOST,
        "spark.driver.memory": "2g",
        "spark.executor.memory": "1g",
        "spark.executor.cores": "1",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": UTC_JVM,
        "spark.executor.extraJavaOptions": UTC_JVM,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "WARN",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.databricks.delta.optimizeWrite.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "static",
    }
    return settings
