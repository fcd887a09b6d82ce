"""The one place a SparkSession is built.

Local runs get Delta through `configure_spark_with_delta_pip` (the jars come
from Maven Central on first use and from the Ivy cache afterwards), shuffle
partitions sized to the cores, Arrow on, UTC, and the UI off unless asked for.
Under `spark-submit` the JVM already exists with the cluster's settings, so
those win: we only attach to it and make sure the Delta extension is present.
"""

from __future__ import annotations

import glob
import logging
import os
import sys

from pyspark.sql import SparkSession

from searchrel.core.config import Config, SparkConfig
from searchrel.core.errors import ConfigError

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


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
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.ui.enabled": str(spark_cfg.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": spark_cfg.driver_memory,
        "spark.sql.adaptive.enabled": "true",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.databricks.delta.optimizeWrite.enabled": "false",
        # Local tables are small: keep Delta's commit checks cheap.
        "spark.databricks.delta.stalenessLimit": "1h",
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

        builder = configure_spark_with_delta_pip(builder)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(spark_cfg.log_level)
    log.info("spark %s session on %s", spark.version, spark_cfg.master)
    return spark
