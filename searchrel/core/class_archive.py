"""A class-data-sharing archive of what a Spark driver loads, for the JVMs that live for a job or two.

A Spark driver loads some 28,000 classes before and while it runs its first Delta
job, and parses and verifies each one; every spark-submit pays that again. The
test suite starts dozens of such JVMs (its job processes, the fault tests' kills,
the DAG run's tasks, the demo's and each test worker's session). The JDK can map
classes it archived once instead (dynamic class-data sharing, JDK 13+:
`-XX:ArchiveClassesAtExit`, then `-XX:SharedArchiveFile`); on the tiny world
`aggregate` took 32 CPU-s with an archive and 38 without.

The archive is built once per JDK, Spark and Delta (its key) under
`$SEARCHREL_CACHE/jvm/` by submitting this module, whose `__main__` runs a short
Spark and Delta workload. A JVM whose JDK or class path does not match the
archive ignores it and loads its classes as usual. It would say so on its
stdout, which a job's output shares, so the class-sharing log is turned off.
The archive makes no result different, only the start cheaper. Production
leaves it out: the tests and benches use it (docs/DESIGN.md, Layout).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from searchrel.core.cache import cache_root
from searchrel.core.session import DELTA_CATALOG, DELTA_EXTENSION, SHORT_LIVED_JVM, delta_package, spark_home

log = logging.getLogger(__name__)

BUILD_TIMEOUT_S = 900
KEPT_OTHERS = 2
# A JVM that cannot use the archive logs a warning to stdout, where a job's own output goes.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else (shutil.which("java") or "java")


def archive_key() -> str:
    """What an archive is valid for: the JDK's exact build, Spark's jars where they are, Delta's package.

    The JVM checks the archive's class path against its own by the jars' paths: another
    virtual environment (a fresh clone's) needs an archive of its own.
    """
    return _key(_java())


@functools.cache  # per java: the JDK and Spark do not change under a running process
def _key(java: str) -> str:
    version = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=True)
    jars = sorted(p.name for p in (spark_home() / "jars").glob("*.jar"))
    text = "\n".join([version.stderr.strip(), delta_package(), str(spark_home()), *jars])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def archive_path(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "jvm" / f"spark-driver-{archive_key()}.jsa"


def java_options(archive: Path | None) -> str:
    """The options that map the archive (nothing without one): appended to a JVM's own options."""
    return f"-XX:SharedArchiveFile={archive} {QUIET}" if archive else ""


def ensure_archive(cache: Path | None = None) -> Path | None:
    """The archive for this JDK, Spark and Delta, built first if there is none yet (once: others wait).

    Returns None, after a warning that names the build's log, if the build fails: every JVM
    then starts as it would have without one.
    """
    from filelock import FileLock

    try:
        path = archive_path(cache)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("no class-data archive: %s -version failed (%s); JVMs start without one", _java(), exc)
        return None
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return path
        staged = path.with_name(f".{path.stem}.{os.getpid()}.jsa")  # the JVM writes it as it exits
        build_log = path.with_suffix(".log")
        with tempfile.TemporaryDirectory(prefix="searchrel-class-archive-") as work, open(build_log, "w") as out:
            done = _run_logged(
                [str(spark_home() / "bin" / "spark-submit"), "--master", "local[2]",
                 "--driver-java-options", f"{SHORT_LIVED_JVM} -XX:ArchiveClassesAtExit={staged}",
                 "--packages", delta_package(),
                 "--conf", f"spark.sql.extensions={DELTA_EXTENSION}",
                 "--conf", f"spark.sql.catalog.spark_catalog={DELTA_CATALOG}",
                 "--conf", "spark.sql.shuffle.partitions=2", "--conf", "spark.ui.enabled=false",
                 __file__, work],
                {**os.environ, "SPARK_HOME": str(spark_home()), "PYSPARK_PYTHON": sys.executable,
                 "PYSPARK_DRIVER_PYTHON": sys.executable},
                out)
        if done != 0 or not staged.is_file():
            staged.unlink(missing_ok=True)
            log.warning("no class-data archive: its build %s (see %s); JVMs start without one",
                        f"exited {done}" if done is not None else f"ran past {BUILD_TIMEOUT_S} s", build_log)
            return None
        os.replace(staged, path)
        _prune(path)
    return path


def _run_logged(argv: list[str], env: dict[str, str], out) -> int | None:
    """The build's exit code, its output to `out`; None if it ran past BUILD_TIMEOUT_S (then killed)."""
    try:
        return subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S,
                              check=False).returncode
    except subprocess.TimeoutExpired:
        return None


def _prune(kept: Path) -> None:
    """Leave the newest KEPT_OTHERS archives of other keys (older jars, other checkouts' environments):
    one is some 200 MB. A JVM still using a deleted one keeps its mapping; one started after loads as usual."""
    others = sorted((p for p in kept.parent.glob("spark-driver-*.jsa") if p != kept),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[KEPT_OTHERS:]:
        old.unlink(missing_ok=True)
        old.with_suffix(".log").unlink(missing_ok=True)


def _plus_one(score: pd.Series) -> pd.Series:  # a module-level function: pandas_udf reads its hints
    return score + 1.0


def _workload(spark, root: str) -> None:
    """Delta writes, appends, a partition overwrite, MERGE and DELETE; joins, windows, aggregates,
    pandas UDFs and Arrow transfers: what the jobs and the suites' checks run, in small."""
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = spark.range(2000).select(
        "id", (F.col("id") % 7).cast("string").alias("query"),
        F.concat_ws(" ", F.lit("Pin"), F.col("id").cast("string"), F.lit("title")).alias("text"),
        F.date_add(F.lit("2026-11-01").cast("date"), (F.col("id") % 3).cast("int")).cast("string").alias("ds"),
        (F.col("id") / 3.0).alias("score"), F.current_timestamp().alias("at"))
    path = f"{root}/table"
    rows.write.format("delta").partitionBy("ds").save(path)
    rows.limit(10).write.format("delta").mode("append").save(path)
    (rows.where("ds = '2026-11-02'").write.format("delta").mode("overwrite")
     .option("replaceWhere", "ds = '2026-11-02'").save(path))
    table = spark.read.format("delta").load(path)
    tokens = table.select("query", F.explode(F.split(F.lower("text"), r"\s+")).alias("token"))
    counts = tokens.groupBy("query", "token").agg(F.count("*").alias("n"))
    top = counts.withColumn("rank", F.row_number().over(Window.partitionBy("query").orderBy(F.desc("n"))))
    joined = table.join(F.broadcast(top.where("rank <= 3")), "query").join(table.select("id", "ds"), ["id", "ds"])
    joined.agg(F.min("score"), F.max("score"), F.avg("score"), F.stddev("score"), F.approx_count_distinct("token"),
               F.percentile_approx("score", 0.5), F.collect_list("token"), F.sum(F.length("text"))).collect()
    table.where(F.col("text").rlike("^Pin") & F.col("query").isin("1", "2") & F.col("score").isNotNull()).count()
    table.groupBy("ds").count().toPandas()
    spark.createDataFrame(pd.DataFrame({"id": [1, 2], "score": [0.5, 0.25]})).collect()

    plus_one = F.pandas_udf(_plus_one, "double")
    table.select(plus_one("score").alias("s")).agg(F.sum("s")).collect()
    table.mapInPandas(lambda batches: (b for b in batches), table.schema).count()
    delta = DeltaTable.forPath(spark, path)
    (delta.alias("t").merge(rows.limit(50).alias("s"), "t.id = s.id AND t.ds = s.ds")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    delta.delete("id < 5")
    delta.history().collect()


if __name__ == "__main__":  # submitted by ensure_archive with -XX:ArchiveClassesAtExit
    from pyspark.sql import SparkSession

    session = SparkSession.builder.getOrCreate()
    _workload(session, sys.argv[1])
    session.stop()
