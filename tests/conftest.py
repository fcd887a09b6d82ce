"""One SparkSession for the whole test session; tables live in tmp_path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The spark-submit JVMs a test starts (the Airflow end-to-end run) live for a job or
# two: the C1 compiler alone warms up sooner than tiered C2 and cut such a job's CPU
# time by about a quarter. The session's own JVM lives for the whole suite and keeps
# the default tiered JIT: under C1 alone the student-features job ran 20-40 % slower
# in wall clock once warm.
SHORT_LIVED_JVM = "-Duser.timezone=UTC -XX:TieredStopAtLevel=1"


@pytest.fixture(scope="session")
def test_config():
    """Test settings: two cores, few shuffle partitions, little memory."""
    from searchrel.core.config import load_config

    return load_config(
        overrides={
            "spark.master": "local[2]",
            "spark.shuffle_partitions": 2,
            "spark.driver_memory": "2g",
            "spark.app_name": "searchrel-tests",
        },
        environ={},
    )


@pytest.fixture(scope="session")
def spark(test_config):
    from filelock import FileLock

    from searchrel.core.session import get_spark

    # Under pytest-xdist every worker starts a JVM of its own, and each resolves Delta's
    # package into the one Ivy cache: two resolutions at once can corrupt it, so they queue.
    with FileLock(str(Path(tempfile.gettempdir()) / "searchrel-tests-spark-start.lock")):
        session = get_spark(test_config)
    yield session
    session.stop()


@pytest.fixture
def tables(spark, tmp_path: Path):
    """An empty warehouse for one test."""
    from searchrel.core.tables import Tables

    return Tables(spark, str(tmp_path / "warehouse"))


@pytest.fixture(scope="session")
def tiny_world(spark, test_config, tmp_path_factory):
    """The tiny simulated world (every raw/ and eval/ table), written once per test session.

    Shared by every test that asks for it: read from it, never write into it
    (write your outputs to the per-test `tables` fixture instead).
    """
    from simulation.world import write_world
    from searchrel.core.tables import Tables

    world = Tables(spark, str(tmp_path_factory.mktemp("tiny_world") / "warehouse"))
    write_world(world, test_config.simulation, "tiny", test_config.simulation.seed)
    return world
