"""The JVM class archive (searchrel.core.class_archive): built here, mapped by a Spark driver, silent when unusable."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from searchrel.core.class_archive import KEPT_OTHERS, QUIET, _java, _prune, ensure_archive, java_options
from searchrel.core.session import SHORT_LIVED_JVM, spark_home, tiny_data_properties


def _properties(text: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in text.splitlines())


def test_the_archive_goes_to_short_lived_drivers_only():
    archive = Path("/cache/jvm/spark-driver-0123.jsa")
    props = _properties(tiny_data_properties(short_lived_jvm=True, driver_options=java_options(archive)))
    assert props["spark.driver.extraJavaOptions"] == f"{SHORT_LIVED_JVM} -XX:SharedArchiveFile={archive} {QUIET}"
    # the archive holds what a driver loads; executors (a cluster's) load other classes and keep C1 alone
    assert props["spark.executor.extraJavaOptions"] == SHORT_LIVED_JVM
    assert java_options(None) == ""
    assert _properties(tiny_data_properties(short_lived_jvm=True))["spark.driver.extraJavaOptions"] == SHORT_LIVED_JVM


def test_the_archive_is_built_and_a_spark_driver_maps_it(class_archive, tmp_path):
    assert class_archive is not None and class_archive.stat().st_size > 10_000_000
    assert ensure_archive() == class_archive  # found, not built again
    cds_log = tmp_path / "cds.log"
    # spark-submit starts its driver JVM with Spark's class path and these options; --version stops there.
    done = subprocess.run([str(spark_home() / "bin" / "spark-submit"), "--driver-java-options",
                           f"{java_options(class_archive)} -Xlog:cds=info:file={cds_log}", "--version"],
                          env={**os.environ, "SPARK_HOME": str(spark_home())},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Mapped dynamic region" in cds_log.read_text()


def test_a_jvm_that_cannot_use_the_archive_says_nothing_on_stdout(class_archive):
    # Another class path than the archive's: the JVM loads its classes as usual. Its CDS warning
    # would go to stdout, which a job's own output (caption-pins --json) shares.
    done = subprocess.run([_java()] + java_options(class_archive).split() + ["-cp", "/nonexistent", "-version"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "version" in done.stderr
    assert done.stdout == ""


def test_without_a_java_there_is_no_archive_and_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with caplog.at_level(logging.WARNING, logger="searchrel.core.class_archive"):
        assert ensure_archive(tmp_path / "cache") is None
    assert "JVMs start without one" in caplog.text
    assert not (tmp_path / "cache").exists()


def test_a_new_archive_leaves_only_the_newest_others(tmp_path):
    names = [f"spark-driver-{k}" for k in range(5)]
    for age, name in enumerate(names):  # spark-driver-0 is the newest
        for suffix in (".jsa", ".log"):
            (tmp_path / f"{name}{suffix}").write_text("x")
            os.utime(tmp_path / f"{name}{suffix}", (1e9 - age, 1e9 - age))
    kept = tmp_path / "spark-driver-4.jsa"  # just built (its mtime does not matter)
    _prune(kept)
    left = sorted(p.name for p in tmp_path.iterdir())
    others = [f"{name}{suffix}" for name in names[:KEPT_OTHERS] for suffix in (".jsa", ".log")]
    assert left == sorted(others + ["spark-driver-4.jsa", "spark-driver-4.log"])


def test_a_build_that_fails_leaves_no_archive_and_a_warning_naming_its_log(tmp_path, monkeypatch, caplog):
    from searchrel.core import class_archive

    monkeypatch.setattr(class_archive, "SHORT_LIVED_JVM", "-Xmx1k")  # the driver JVM cannot start
    with caplog.at_level(logging.WARNING, logger="searchrel.core.class_archive"):
        assert ensure_archive(tmp_path / "cache") is None
    build_log = next((tmp_path / "cache" / "jvm").glob("*.log"))
    assert f"its build exited 1 (see {build_log})" in caplog.text
    assert "heap" in build_log.read_text()
    assert not list((tmp_path / "cache").rglob("*.jsa"))
