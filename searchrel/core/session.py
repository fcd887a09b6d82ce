"""The one place a SparkSession is built.

Local runs get Delta through `configure_spark_with_delta_pip` (the jars come
from Maven Central on first use and from the Ivy cache afterwards), shuffle
partitions sized to the cores, Arrow on, UTC, and the UI off unless asked for.
Under `spark-submit` the JVM already exists with the cluster's settings, so
those win: we only attach to it and make sure the Delta extension is present.

The Maven coordinates are computed here, in one place, for both: Delta's from
the installed delta-spark and pyspark (as `configure_spark_with_delta_pip`
does), and, for a warehouse on `s3a://`, hadoop-aws at the Hadoop version
pyspark bundles with the AWS SDK v2 modules that Hadoop release was built
against (`submit_packages` writes them into a spark-submit properties file;
`searchrel.cluster` does).
"""

from __future__ import annotations

import glob
import importlib.metadata
import logging
import os
import re
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from searchrel.core.config import Config, SparkConfig
from searchrel.core.errors import ConfigError

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


# The AWS SDK v2 version each Hadoop release's hadoop-aws is built and tested against
# (hadoop-project's `aws-java-sdk-v2.version`). s3a is supported only with that SDK;
# a different one "only changes the stack traces you see" (Hadoop's s3a troubleshooting).
HADOOP_AWS_SDK_V2 = {"3.4.2": "2.29.52"}  # read from hadoop-project-3.4.2.pom
# hadoop-aws depends on the SDK's shaded `bundle` (over 500 MB, copied to every executor
# of every application); the two modules s3a uses, with their own dependencies, are ~30 MB.
S3A_SDK_MODULES = ("s3", "s3-transfer-manager")
S3A_EXCLUDES = ("software.amazon.awssdk:bundle",)


def delta_package() -> str:
    """Delta's Maven coordinate for the installed delta-spark and pyspark (what configure_spark_with_delta_pip uses)."""
    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{importlib.metadata.version('delta_spark')}"


def spark_home() -> Path:
    """pyspark's package folder: it has bin/ (spark-submit, spark-class) and jars/, all a JVM of Spark's needs."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def bundled_hadoop_version() -> str:
    """The Hadoop version of pyspark's own jars (hadoop-client-api-X.jar): hadoop-aws must match it exactly."""
    jars = glob.glob(str(spark_home() / "jars" / "hadoop-client-api-*.jar"))
    versions = {m.group(1) for j in jars if (m := re.search(r"hadoop-client-api-(.+)\.jar$", j))}
    if len(versions) != 1:
        raise ConfigError(f"cannot tell pyspark's Hadoop version from its jars folder (found {sorted(versions)})")
    return versions.pop()


def s3a_packages() -> list[str]:
    """hadoop-aws and the AWS SDK modules s3a needs, at the versions pyspark's Hadoop was built with."""
    hadoop = bundled_hadoop_version()
    sdk = HADOOP_AWS_SDK_V2.get(hadoop)
    if sdk is None:
        raise ConfigError(f"no AWS SDK version known for Hadoop {hadoop}: add hadoop-project's "
                          f"aws-java-sdk-v2.version for it to searchrel.core.session.HADOOP_AWS_SDK_V2")
    return [f"org.apache.hadoop:hadoop-aws:{hadoop}"] + [f"software.amazon.awssdk:{m}:{sdk}" for m in S3A_SDK_MODULES]


def submit_packages(s3a: bool) -> dict[str, str]:
    """`spark.jars.packages` (and excludes) for a spark-submit properties file: Delta, plus s3a when asked."""
    packages = [delta_package()] + (s3a_packages() if s3a else [])
    settings = {"spark.jars.packages": ",".join(packages)}
    if s3a:
        settings["spark.jars.excludes"] = ",".join(S3A_EXCLUDES)
    return settings


# For data of a few thousand rows (the tests' tiny world): every query there is planned,
# compiled and run in milliseconds of data work, so what a short-lived JVM spends is in
# Janino compiling generated code and in adaptive re-planning, not in the rows.
# Interpreted expressions (`factoryMode` NO_CODEGEN, the mode Spark's own suites use to test
# the interpreted path; internal, but read on every session) and a static plan give the
# same rows: the tiny demo ran in 215 s instead of 256 s with them. Production keeps
# Spark's defaults; tests (tests/conftest.py) and the fault harness set these.
TINY_DATA_CONF: dict[str, str] = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
}


# Every JVM runs in UTC, whatever the machine's zone: dates in the data are UTC dates.
UTC_JVM = "-Duser.timezone=UTC"
# The JVMs a test or bench starts for a job or two (spark-submit drivers, a cluster's
# executors, the fault jobs): the C1 compiler alone warms up sooner than tiered C2 and
# took more than a third off a one-job JVM's CPU time (`aggregate` on the tiny world:
# 58 -> 36 CPU-s). A JVM that lives for many jobs (the tests' shared session) keeps the
# default tiered JIT: under C1 alone test_features_jobs.py and test_student_features.py
# took 318 CPU-s instead of 279. Production keeps the default.
SHORT_LIVED_JVM = f"{UTC_JVM} -XX:TieredStopAtLevel=1"


def tiny_data_properties(short_lived_jvm: bool = False, driver_options: str = "") -> str:
    """TINY_DATA_CONF as spark-submit properties-file lines, to append to a test's or bench's own copy of
    one (a later line wins); with `short_lived_jvm`, SHORT_LIVED_JVM for the driver and the executors too,
    and `driver_options` (a class archive's: searchrel.core.class_archive.java_options) for the driver."""
    if driver_options and not short_lived_jvm:
        raise ValueError("driver_options are appended to SHORT_LIVED_JVM: pass short_lived_jvm=True")
    settings = dict(TINY_DATA_CONF)
    if short_lived_jvm:
        settings |= {"spark.driver.extraJavaOptions": f"{SHORT_LIVED_JVM} {driver_options}".strip(),
                     "spark.executor.extraJavaOptions": SHORT_LIVED_JVM}
    return "".join(f"{key} {value}\n" for key, value in settings.items())


def _under_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands the Python driver its port.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def local_settings(spark_cfg: SparkConfig) -> dict[str, str]:
    """Settings for a session we start ourselves (local or client mode without spark-submit)."""
    cores = os.cpu_count() or 2
    settings = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.shuffle.partitions": str(spark_cfg.shuffle_partitions or 2 * cores),
        "spark.default.parallelism": str(spark_cfg.shuffle_partitions or 2 * cores),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": UTC_JVM,
        "spark.executor.extraJavaOptions": UTC_JVM,
        "spark.ui.enabled": str(spark_cfg.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": spark_cfg.driver_memory,
        "spark.sql.adaptive.enabled": "true",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.databricks.delta.optimizeWrite.enabled": "false",
        # No `spark.databricks.delta.stalenessLimit`: with one, the first read of a table after
        # another process committed to it returns the snapshot this session cached before
        # (bench/faults.py saw "lost" rows that were only a stale read; tests/test_foundation.py).
        "spark.sql.sources.partitionOverwriteMode": "static",
    }
    settings.update(spark_cfg.conf)
    return settings


def get_spark(config: Config) -> SparkSession:
    """Return the process's SparkSession, creating it on first use."""
    spark_cfg = config.spark
    if _under_spark_submit():
        spark = (
            SparkSession.builder.appName(spark_cfg.app_name)
            .config("spark.sql.extensions", DELTA_EXTENSION)
            .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
            .getOrCreate()
        )
        return spark

    # A session we start ourselves: its Python workers must run this interpreter
    # (the venv with pandas and torch), not whatever `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(spark_cfg.master).appName(spark_cfg.app_name)
    for key, value in local_settings(spark_cfg).items():
        builder = builder.config(key, value)
    if spark_cfg.jars_dir:
        jars = sorted(glob.glob(os.path.join(spark_cfg.jars_dir, "*.jar")))
        if not jars:
            raise ConfigError(f"spark.jars_dir {spark_cfg.jars_dir!r} holds no .jar files")
        builder = builder.config("spark.jars", ",".join(jars))
    else:
        from delta import configure_spark_with_delta_pip

        # A warehouse on object storage also needs s3a's jars (its endpoint and credentials
        # come from spark.conf or the environment, never from code).
        on_s3a = config.warehouse_path.startswith("s3a://")
        builder = configure_spark_with_delta_pip(builder, extra_packages=s3a_packages() if on_s3a else None)
        if on_s3a:
            builder = builder.config("spark.jars.excludes", ",".join(S3A_EXCLUDES))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(spark_cfg.log_level)
    log.info("spark %s session on %s", spark.version, spark_cfg.master)
    return spark
