"""What the whole suite shares: settings, one SparkSession, the tiny world, the tiny teacher.

Tables live in tmp_path. Session fixtures here are built once per pytest worker;
read from them, never write into them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from searchrel.core.session import TINY_DATA_CONF

os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The shared Airflow fixtures (tests/airflow_support.py) are available to every test file.
pytest_plugins = ["airflow_support"]

# Test settings: two cores, few shuffle partitions, little memory; everything else is the
# code's defaults (conf/searchrel.yaml holds the same values, but an edit there must not
# change a test's result).
# `conf`: the session settings for tiny data (searchrel.core.session.TINY_DATA_CONF), which
# leave every result as it is and took a sixth off the tiny demo (256 s -> 215 s). `conf` comes
# last: test_config_file appends the driver's Java options to it.
TEST_SETTINGS = """\
spark:
  master: local[2]
  shuffle_partitions: 2
  driver_memory: 2g
  app_name: searchrel-tests
  conf:
""" + "".join(f"    {key}: \"{value}\"\n" for key, value in TINY_DATA_CONF.items())
# The files that each hold a long end-to-end run, longest first (make test's --durations).
# pytest-xdist hands whole files to its two workers in collection order (the Makefile passes
# --no-loadscope-reorder: by default it puts the files with the most tests first, which queued
# these one- to nine-test files last and left a core idle for the suite's last ten minutes).
# Started first, they run beside each other and the short files fill in around them.
LONG_FILES = ("test_cluster.py", "test_faults.py", "test_dag_end_to_end.py", "test_demo.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    first = {name: rank for rank, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: the rest keep their order


# Cache locations change no result: kept, so a developer's unpacked backbones are found.
KEPT_VARIABLES = {"SEARCHREL_CACHE"}


@pytest.fixture(scope="session", autouse=True)
def hermetic_environment():
    """No SEARCHREL_* variable of the developer's shell reaches a test.

    `load_config` reads SEARCHREL_CONFIG, SEARCHREL_WAREHOUSE and SEARCHREL__SECTION__KEY,
    and jobs read a few more (a crash switch, thread counts); any of them would change
    results. Removed before the SparkSession starts, so its Python workers lack them too.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("SEARCHREL_") and n not in KEPT_VARIABLES]:
            patch.delenv(name)
        yield


def spark_start_lock():
    """Held while a JVM resolves Delta's package into the one Ivy cache (~/.ivy2.5.2): under
    pytest-xdist every worker starts JVMs of its own, and two resolutions at once can corrupt it."""
    from filelock import FileLock

    return FileLock(str(Path(tempfile.gettempdir()) / "searchrel-tests-spark-start.lock"))


@pytest.fixture(scope="session")
def class_archive() -> Path | None:
    """The JVM class archive (searchrel.core.class_archive): built on a machine's first run, then read.

    Every Spark driver the suite starts maps it: the session's, the CLI tests' and fault
    tests' job processes, the DAG run's tasks. Its build submits a Spark job, so it holds
    the Ivy lock too.
    """
    from searchrel.core.class_archive import ensure_archive

    with spark_start_lock():
        return ensure_archive()


@pytest.fixture(scope="session")
def test_config_file(tmp_path_factory, class_archive) -> Path:
    """The test settings as a config file: every CLI test passes `--config` with it.

    Without `--config` the CLI reads conf/searchrel.yaml, whose `spark` section would
    also resize the shared session's shuffle partitions for the tests that follow.
    The driver's options add the class archive's to the default's (UTC): they change no
    result, only the JVM's start.
    """
    from searchrel.core.class_archive import java_options
    from searchrel.core.session import UTC_JVM

    path = tmp_path_factory.mktemp("config") / "searchrel-test.yaml"
    path.write_text(TEST_SETTINGS + f"    spark.driver.extraJavaOptions: \"{UTC_JVM} {java_options(class_archive)}\"\n")
    return path


@pytest.fixture(scope="session")
def test_config(test_config_file):
    """The test settings (the file above), loaded as the CLI would load them."""
    from searchrel.core.config import load_config

    return load_config(test_config_file, environ={})


@pytest.fixture(scope="session")
def spark(test_config):
    from searchrel.core.session import get_spark

    with spark_start_lock():
        session = get_spark(test_config)
    yield session
    session.stop()


@pytest.fixture
def tables(spark, tmp_path: Path):
    """An empty warehouse for one test."""
    from searchrel.core.tables import Tables

    return Tables(spark, str(tmp_path / "warehouse"))


@pytest.fixture
def dq_config(test_config, tables):
    """Test settings with validation reports under this test's warehouse."""
    return test_config.model_copy(update={"warehouse": tables.root})


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


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    """A models folder (`models_dir`) with a tiny random BERT teacher saved as version t1, `current`.

    Random weights: it tests the plumbing (scoring, labelling, the DAGs), not a teacher's
    quality. Its head is widened so that the labels of different rows differ.
    """
    import torch

    from modeling.cross_encoder import build_teacher, save_teacher, set_current
    from modeling.tiny_models import make_tiny_bert
    from searchrel.core.config import TeacherConfig

    root = tmp_path_factory.mktemp("tiny_teacher")
    backbone = make_tiny_bert(root / "tiny_bert", seed=3)
    torch.manual_seed(5)
    model, tokenizer = build_teacher(TeacherConfig(backbone=backbone, head_hidden=[16], head_dropout=0.0, max_length=48))
    with torch.no_grad():  # a random head makes near-uniform probs; widen it so rows differ clearly
        model.head[-1].weight.mul_(40.0)
    save_teacher(model, tokenizer, {"version": "t1"}, root / "teacher" / "t1")
    set_current(root, "t1")
    return root
