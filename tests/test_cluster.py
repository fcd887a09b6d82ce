"""The jobs on a real cluster: Spark standalone (a master, two 1-core workers) and SeaweedFS's S3, from packages.

`searchrel.cluster` starts the same processes `make cluster-up` does, in a
temporary folder, once for this module, and always takes them down again. Two
days of the tiny world go through the daily DAG's steps (searchrel.core.pipeline)
twice, each step the same job entry point: on the cluster into `s3a://` (three
spark-submits: the steps before `label`, `label` itself, the rest with every gate),
with the project shipped as `--py-files` and the teacher read from a shared
`models_dir`, and with a local master into a folder. On the cluster, one
worker is SIGKILLed while an executor is scoring in `label`, and every gate's
suite is validated afterwards. The tables must be equal row for row: that is what
"nothing in the code assumes local mode" (docs/DESIGN.md, Scale) means. A
comparison script submitted to the cluster reads both warehouses (the executors
share this machine's disk). Then a wrong secret and a store that is down must each
fail a job in one line, with nothing committed.

The first tests need no cluster: they check the generated settings and error lines.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from searchrel.cluster.local import ClusterSpec, LocalCluster
from searchrel.cluster.processes import alive, free_ports
from searchrel.cluster.properties import read_properties, submit_properties
from searchrel.cluster.s3 import S3Client
from searchrel.cluster.submit import job_script, project_root, start_script, submit_job, submit_script
from searchrel.core import catalog, pipeline
from searchrel.core.session import bundled_hadoop_version

REPO = project_root()
# Two of the tiny world's three impression days (simulation.end_ds and the day before); the
# third is left for the failure tests, which must find nothing of theirs committed.
DAY0, DAY, SPARE_DAY = "2026-11-22", "2026-11-23", "2026-11-21"
DAILY_STEPS = [step for step in pipeline.STEPS if step.dag == "daily" and not step.optional]
# The aggregate job's tables; pin_feature_days records which run computed a day (run_id), not what.
AGGREGATE_TABLES = [
    "features/pin_query_token_daily", "features/pin_link_text_daily", "features/pin_feature_days:run_id",
    "features/pin_query_tokens", "features/pin_board_tokens", "features/pin_link_text",
]
JOB_TIMEOUT_S = 900
# A line the job's Python side writes: our log format (time without a date), a traceback, or the CLI's own line.
# The JVM's log4j lines carry a date (yy/MM/dd) and its stacks are Java's, so neither matches.
PYTHON_LINE = re.compile(r"^(searchrel |Traceback |\s+File \"|\d{2}:\d{2}:\d{2} [A-Z]+ [\w.]+: )")
RUN_JOBS = REPO / "airflow_dags" / "searchrel_airflow" / "run_jobs.py"  # several jobs in one driver
# What the daily chain writes, compared with a local run. Model outputs (scores, embeddings,
# features) are matched on the catalog's keys with floats within 1e-4: batching differs.
COMPARED_TABLES = AGGREGATE_TABLES + [
    "features/pin_text",
    "labels/teacher_scores:scored_at@" + ",".join(catalog.TEACHER_SCORES.keys),
    "features/student_examples@" + ",".join(catalog.STUDENT_EXAMPLES.keys),
    "features/pin_embeddings@" + ",".join(catalog.PIN_EMBEDDINGS.keys),
    "features/query_features@" + ",".join(catalog.QUERY_FEATURES.keys),
]


def test_submit_properties_point_s3a_at_the_endpoint_with_matching_jars():
    props = submit_properties("spark://127.0.0.1:7077", "http://127.0.0.1:8333", "AK", "SK")
    hadoop = bundled_hadoop_version()
    packages = props["spark.jars.packages"].split(",")
    assert f"org.apache.hadoop:hadoop-aws:{hadoop}" in packages
    assert any(p.startswith("io.delta:delta-spark_") for p in packages)
    # the 500 MB shaded SDK is replaced by the modules s3a uses, all of one SDK version
    assert props["spark.jars.excludes"] == "software.amazon.awssdk:bundle"
    assert len({p.rsplit(":", 1)[1] for p in packages if p.startswith("software.amazon.awssdk:")}) == 1
    assert props["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert props["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:8333"
    assert props["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith("SimpleAWSCredentialsProvider")


def test_a_refused_s3a_request_becomes_one_line_without_secrets():
    from searchrel.core.errors import storage_refusal

    jvm_text = ("An error occurred while calling o57.load.\n: java.nio.file.AccessDeniedException: "
                "s3a://b/warehouse/raw/pins/_delta_log: getFileStatus on s3a://b/warehouse/raw/pins/_delta_log: "
                "software.amazon.awssdk.services.s3.model.S3Exception: Forbidden (Service: S3, Status Code: 403)\n"
                "\tat org.apache.hadoop.fs.s3a.S3AUtils.translateException(S3AUtils.java:271)")
    line = storage_refusal(RuntimeError(jvm_text))
    assert line is not None and "\n" not in line
    assert line.startswith("the object store refused access to s3a://b/warehouse/raw/pins/_delta_log (403 Forbidden)")
    assert storage_refusal(RuntimeError("SignatureDoesNotMatch " + jvm_text)).count("SignatureDoesNotMatch") == 1
    assert storage_refusal(RuntimeError("java.io.FileNotFoundException: s3a://b/x")) is None


def test_an_unreachable_store_becomes_one_line_and_refused_access_does_not_match():
    from searchrel.core.errors import storage_refusal, storage_unreachable

    jvm_text = ("An error occurred while calling z:io.delta.tables.DeltaTable.isDeltaTable.\n: java.net.ConnectException: "
                "getFileStatus on s3a://b/warehouse/raw/pins/_delta_log: software.amazon.awssdk.core.exception."
                "SdkClientException: Unable to execute HTTP request: Connect to 127.0.0.1:50643 [/127.0.0.1] failed: "
                "Connection refused: Connection refused\n\tat org.apache.hadoop.fs.s3a.S3AUtils.translateException")
    line = storage_unreachable(RuntimeError(jvm_text))
    assert line is not None and "\n" not in line
    assert line.startswith("the object store did not answer at 127.0.0.1:50643 (Connection refused) "
                           "for s3a://b/warehouse/raw/pins/_delta_log")
    assert storage_refusal(RuntimeError(jvm_text)) is None
    assert storage_unreachable(RuntimeError("java.nio.file.AccessDeniedException: s3a://b/x: 403")) is None


def _lock():
    from filelock import FileLock

    # The lock conftest's session start takes: one Ivy resolution into ~/.ivy2.5.2 at a time.
    return FileLock(str(Path(tempfile.gettempdir()) / "searchrel-tests-spark-start.lock"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A cluster for this module; whatever happens, every process it started is stopped afterwards."""
    root = tmp_path_factory.mktemp("cluster")
    local = LocalCluster(root)
    t0 = time.monotonic()
    try:
        record = local.up(ClusterSpec(root, workers=2, worker_cores=1, worker_memory="1g", stop_with_caller=True))
        print(f"\ncluster up in {time.monotonic() - t0:.1f} s: {json.dumps(record['timings_s'])}")
        yield local
    finally:
        pids = [p["pid"] for p in local.record().get("processes", [])]
        local.down()
        left = [pid for pid in pids if alive(pid)]
        assert not left, f"processes left running after down: {left}"


def _secret(cluster: LocalCluster) -> str:
    return read_properties(cluster.properties_path)["spark.hadoop.fs.s3a.secret.key"]


@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_cluster_is_up_with_two_workers_and_private_credentials(cluster):
    status = cluster.status()
    assert status["alive_workers"] == 2
    assert status["s3_answers"] is True
    assert all(status["processes"].values()) and len(status["processes"]) == 4
    record = cluster.record()
    assert record["master_url"].startswith("spark://127.0.0.1:")
    assert Path(record["properties_file"]) == cluster.properties_path
    for private in (cluster.properties_path, cluster.root / "seaweedfs" / "identities.json"):
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600, private
    props = read_properties(cluster.properties_path)
    secret, access = props["spark.hadoop.fs.s3a.secret.key"], props["spark.hadoop.fs.s3a.access.key"]
    assert len(secret) == 40 and secret not in (cluster.root / "cluster.json").read_text()
    client = S3Client(record["s3_endpoint"], access, secret)
    assert client.head_bucket(record["bucket"]).status == 200
    assert S3Client(record["s3_endpoint"], access, "x" * 40).list_buckets().code == "SignatureDoesNotMatch"


@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_a_session_of_our_own_on_an_s3a_warehouse_gets_the_jars(cluster):
    """get_spark without spark-submit: Delta's and s3a's packages from the session module, keys from config."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with _lock():
        done = subprocess.run([sys.executable, str(REPO / "tests" / "cluster_checks" / "session_on_s3a.py"),
                               str(cluster.properties_path), "s3a://searchrel/session-check"],
                              env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"rows": 10}
    assert _secret(cluster) not in done.stdout + done.stderr


@pytest.fixture(scope="module")
def chain_config(test_config_file, tiny_teacher, tmp_path_factory) -> Path:
    """The test settings, with the tiny teacher's folder as `models_dir` for both runs.

    How the teacher reaches the executors: a shared path. `models_dir` is an absolute
    folder every executor can read (here this machine's disk; on a cluster an NFS, EFS or
    DBFS mount), and each Python worker loads the teacher from it once. It keeps one copy
    of the weights where `searchrel teacher-train` writes them, with no upload step that
    could go stale, and Hugging Face's from_pretrained reads a folder, not an s3a:// URI.
    """
    folder = tmp_path_factory.mktemp("chain-config")
    path = folder / "chain.yaml"
    # great-expectations writes its Data Docs and summaries to a local folder, not to the store.
    # The tiny world's 600 searches over 10 days of history, not 800: every day then has search
    # events (over 800 or even 40 days some have none, and the raw/search_events gate wants rows),
    # with windows to match. The tiny teacher is random, so the gates on its label shares and
    # levels are opened (as in tests/test_dag_end_to_end.py). Every other gate runs as configured.
    path.write_text(test_config_file.read_text() + f"models_dir: {tiny_teacher}\n"
                    "simulation:\n  history_days: 10\n"
                    "features:\n  query_tokens:\n    window_days: 10\n  link_text:\n    window_days: 10\n"
                    "student:\n  als_iterations: 3\n"
                    f"validation:\n  reports_dir: {folder / 'reports'}\n  label_distribution_tolerance: 1.0\n"
                    "  argmax_distribution_tolerance: 1.0\n  min_teacher_levels: 1\n")
    return path


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _worker_of(cluster: LocalCluster, pid: int) -> dict:
    """The Spark worker (name, pid) whose executor runs process `pid`: its ancestor among the recorded workers."""
    workers = {p["pid"]: p for p in cluster.record()["processes"] if p["name"].startswith("spark-worker")}
    while pid > 1:
        if pid in workers:
            return workers[pid]
        pid = _parent(pid)
    raise AssertionError("the held Python worker runs under no recorded Spark worker")


def _with_tiny_data(properties: Path, to: Path, class_archive: Path | None) -> Path:
    """A private copy of a properties file with the tiny world's settings appended (they win).

    searchrel.core.session.TINY_DATA_CONF, as every test session has them, the C1-only JIT of
    searchrel.core.session.SHORT_LIVED_JVM for the drivers and the executors (each of this
    module's JVMs lives for one submission), and the class archive for the drivers (its class
    path is the jars', whatever the conf folder: the cluster's drivers map it too). Both sides
    of the comparison run with them, the cluster's drivers and executors and the local driver alike.
    """
    from searchrel.core.class_archive import java_options
    from searchrel.core.session import tiny_data_properties

    to.write_text(properties.read_text() + "\n"
                  + tiny_data_properties(short_lived_jvm=True, driver_options=java_options(class_archive)))
    os.chmod(to, 0o600)  # the cluster's holds the store's keys
    return to


def _label_losing_a_worker(cluster: LocalCluster, args: list[str], work: Path, properties: Path) -> dict:
    """`label` on the cluster; once an executor has scored its first batch, its Spark worker is SIGKILLed.

    The fault point `label.batch.scored` (searchrel.core.faults) reaches the executors through
    spark.executorEnv.*: each Python worker that gets there leaves its pid and waits. The first
    one's Spark worker (its process group: the worker JVM, the executor, its Python workers) is
    killed as a lost machine would be; then the survivors are let go. No sleep decides the moment.
    """
    hold = work / "hold"
    props = cluster.root / "label-kill.properties"
    props.write_text(properties.read_text()
                     + "spark.executorEnv.SEARCHREL_FAULT_AT label.batch.scored\n"
                     + f"spark.executorEnv.SEARCHREL_FAULT_ACTION hold:{hold}\n")
    os.chmod(props, 0o600)
    log_file = cluster.root / "logs" / "cluster-label.log"
    t0 = time.monotonic()
    process = start_script(cluster, job_script("label_impressions"), args, log_file, properties_file=props)
    try:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while not list(hold.glob("*.held")):
            assert process.poll() is None, f"label ended before any batch was scored; see {log_file}"
            assert time.monotonic() < deadline, f"no executor reached label.batch.scored; see {log_file}"
            time.sleep(0.1)
        held = min(hold.glob("*.held"), key=lambda f: f.stat().st_mtime)
        worker = _worker_of(cluster, int(held.read_text()))
        os.killpg(worker["pid"], signal.SIGKILL)
        killed_after = round(time.monotonic() - t0, 1)
        while alive(worker["pid"]):
            time.sleep(0.05)
        (hold / "go").touch()
        process.wait(timeout=JOB_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
        (hold / "go").touch()
    return {"worker": worker["name"], "killed_after_s": killed_after, "returncode": process.returncode,
            "seconds": round(time.monotonic() - t0, 1), "log": str(log_file)}


def _chained(commands: list[list[str]], common: list[str]) -> list[str]:
    """run_jobs.py's argument list for these job commands, each given the common arguments."""
    return [arg for i, job in enumerate(commands) for arg in (["--then"] if i else []) + job + common]


@pytest.fixture(scope="module")
def daily_chain(cluster, chain_config, class_archive, tmp_path_factory):
    """Two days of the tiny world through the daily DAG's steps, on the cluster (s3a) and locally (a folder).

    The steps and their gates are the pipeline's own (searchrel.core.pipeline: the steps
    of the daily DAG) for DAY0..DAY. On the cluster they go in three spark-submits: the
    steps before `label` in one driver (run_jobs.py, which calls each job's main, as a
    DAG's gate task does), `label` as its unchanged spark_jobs/label_impressions.py with
    a Spark worker killed while it scores, then the steps after it and every gate's
    suite in one driver. A spark-submit per step paid a JVM start, Delta's package
    resolution and fresh executors each time, which was most of this module's time;
    the per-job entry points are still submitted alone here (`label`, and `aggregate`
    in the failure tests below).
    """
    work = tmp_path_factory.mktemp("runs")
    logs = cluster.root / "logs"
    s3a = cluster.record()["warehouse"]
    local = work / "local-warehouse"
    common = ["--config", str(chain_config)]
    dates = ["--start", DAY0, "--end", DAY]
    cluster_props = _with_tiny_data(cluster.properties_path, cluster.root / "chain.properties", class_archive)
    local_props = _with_tiny_data(REPO / "conf" / "spark-submit.local.conf", work / "local.properties", class_archive)
    timings: dict[str, float] = {}
    label_at = [step.job for step in DAILY_STEPS].index("label_impressions")
    before = [["simulate", "--scale", "tiny"]] + [[step.job, *dates] for step in DAILY_STEPS[:label_at]]
    after = [[step.job, *dates] for step in DAILY_STEPS[label_at + 1:]]
    gates = [["validate", gate.name, *(dates if gate.partition else [])]
             for step in DAILY_STEPS for gate in step.gates]

    def run_chain(name: str, commands: list[list[str]]) -> int:
        t0 = time.monotonic()
        done = submit_script(cluster, RUN_JOBS, _chained(commands, ["--warehouse", s3a, *common]),
                             log_file=logs / f"{name}.log", properties_file=cluster_props, timeout_s=JOB_TIMEOUT_S)
        timings[name] = round(time.monotonic() - t0, 1)
        return done.returncode

    with _lock():  # the first submission may still resolve s3a's jars into the shared Ivy cache
        code = run_chain("cluster-before-label", before)
    assert code == 0, f"the steps before label exited {code} on the cluster; see {logs / 'cluster-before-label.log'}"
    # The local reference: the same entry points, one after another in one local driver. It
    # shares nothing with the cluster's run but the inputs' code, so it runs beside the
    # cluster's label, which mostly waits on its executors.
    local_started = time.monotonic()
    local_chain = start_script(cluster, RUN_JOBS, _chained(before + [["label_impressions", *dates]] + after,
                                                           ["--warehouse", str(local), *common]),
                               logs / "local-chain.log", properties_file=local_props, master="local[2]")
    try:
        kill = _label_losing_a_worker(cluster, dates + ["--warehouse", s3a] + common, work, cluster_props)
        timings["cluster-label_impressions"] = kill["seconds"]
        assert kill["returncode"] == 0, f"label exited {kill['returncode']} after losing a worker; see {kill['log']}"
        gates_code = run_chain("cluster-after-label-and-gates", after + gates)
        local_chain.wait(timeout=JOB_TIMEOUT_S * 2)
    finally:
        if local_chain.poll() is None:
            local_chain.kill()
            local_chain.wait()
    timings["local-chain"] = round(time.monotonic() - local_started, 1)
    assert local_chain.returncode == 0, f"the local chain exited {local_chain.returncode}; see {logs / 'local-chain.log'}"
    print(f"\njob wall times (s): {json.dumps(timings)}\nworker kill: {json.dumps(kill)}")
    return {"s3a": s3a, "local": local, "work": work, "kill": kill, "gates": gates_code, "properties": cluster_props,
            "gate_count": len(gates), "timings": timings}


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_two_days_of_the_daily_chain_on_s3a_equal_a_local_run_row_for_row(cluster, daily_chain):
    assert daily_chain["gates"] == 0, ("a step after label or a gate failed on the cluster; see "
                                       f"{cluster.root / 'logs' / 'cluster-after-label-and-gates.log'}")
    assert daily_chain["gate_count"] >= 7
    out = daily_chain["work"] / "comparison.json"
    done = submit_script(cluster, REPO / "tests" / "cluster_checks" / "compare_tables.py",
                         [str(out), f"file://{daily_chain['local']}", daily_chain["s3a"], *COMPARED_TABLES],
                         log_file=cluster.root / "logs" / "compare.log", properties_file=daily_chain["properties"],
                         timeout_s=JOB_TIMEOUT_S)
    assert done.returncode == 0, f"comparison failed; see {cluster.root / 'logs' / 'compare.log'}"
    result = json.loads(out.read_text())
    print(f"\ncompared: {json.dumps(result)}")
    assert set(result) == {spec.split(":")[0].split("@")[0] for spec in COMPARED_TABLES}
    for table, counts in result.items():
        assert counts["columns_equal"], table
        assert counts["left"] == counts["right"] > 0, (table, counts)
        assert counts["left_only"] == counts["right_only"] == 0, (table, counts)
        assert counts.get("duplicated_keys", 0) == counts.get("differing", 0) == 0, (table, counts)
    # Both days made it through: a chain that silently did one day would still compare equal.
    for table in ("labels/teacher_scores", "features/pin_text"):
        assert result[table]["left_days"] == result[table]["right_days"] == 2, (table, result[table])
    # The secret went to spark-submit in the properties file only: no log of any run shows it.
    secret = _secret(cluster)
    # The drivers' logs, and every executor's stdout and stderr (spark/work/<worker>/<app>/<executor>/).
    executor_logs = sorted((cluster.root / "spark" / "work").glob("*/app-*/*/std*"))
    logs = [*(cluster.root / "logs").glob("*.log"), *executor_logs]
    assert {"cluster-before-label.log", "cluster-label.log", "cluster-after-label-and-gates.log",
            "local-chain.log", "compare.log"} <= {log_file.name for log_file in logs}
    assert len({log_file.parent.parent for log_file in executor_logs}) >= 4  # the chain's three apps and compare's
    for log_file in logs:
        assert secret not in log_file.read_text(errors="replace"), log_file


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_label_finishes_after_losing_a_worker_with_every_pair_scored_once(cluster, daily_chain):
    kill = daily_chain["kill"]
    assert kill["returncode"] == 0
    # The worker is gone for good (the master lists it DEAD or not at all): the job finished on the other one.
    assert cluster.status()["alive_workers"] == 1
    text = Path(kill["log"]).read_text(errors="replace")
    assert "Lost executor" in text or "ExecutorLostFailure" in text or "lost worker" in text.lower(), kill["log"]
    # Exactly once: the run's own reconciliation (rows in = written + quarantined) passed, and
    # the table's keys are unique and equal a local run's (the equality test above).
    assert "ReconciliationError" not in text


def _warehouse_keys(cluster) -> list[str]:
    """Every object under the bucket's warehouse/, listed with the good credentials."""
    record = cluster.record()
    props = read_properties(cluster.properties_path)
    good = S3Client(record["s3_endpoint"], props["spark.hadoop.fs.s3a.access.key"],
                    props["spark.hadoop.fs.s3a.secret.key"])
    return sorted(good.list_keys(record["bucket"], "warehouse/"))


def _aggregate_spare_day(cluster, s3a: str, properties_text: str, folder: Path) -> tuple[int, str]:
    """(exit code, log) of aggregating SPARE_DAY with these spark-submit properties.

    SPARE_DAY is not aggregated yet: with good settings this run would write every aggregate table.
    """
    properties = folder / "job.properties"
    properties.write_text(properties_text)
    os.chmod(properties, 0o600)
    log_file = folder / "job.log"
    done = submit_job(cluster, "aggregate_features", ["--ds", SPARE_DAY, "--warehouse", s3a],
                      properties_file=properties, log_file=log_file, timeout_s=JOB_TIMEOUT_S)
    return done.returncode, log_file.read_text(errors="replace")


def _the_one_error_line(output: str) -> str:
    """The job's one error line; nothing of the job's own follows it, and no Python traceback is anywhere.

    The JVM may still log its own shutdown after the line (CI saw an executor still fetching jars
    from the exiting driver log last): log4j's lines and Java stacks, not the job's. Above it,
    Delta's JVM logs its own WARN with a Java stack while probing the path, also left as the JVM's.
    """
    lines = output.splitlines()
    errors = [line for line in lines if line.startswith("searchrel aggregate: error:")]
    assert len(errors) == 1, output[-3000:]
    after = lines[lines.index(errors[0]) + 1:]
    assert not [line for line in after if PYTHON_LINE.match(line)], after
    assert "Traceback" not in output
    return errors[0]


@pytest.mark.cluster
@pytest.mark.timeout(1800)
def test_a_wrong_secret_fails_in_one_line_and_commits_nothing(cluster, daily_chain, tmp_path):
    secret = _secret(cluster)
    wrong_secret = "W" * 40
    before = _warehouse_keys(cluster)
    returncode, output = _aggregate_spare_day(
        cluster, daily_chain["s3a"], daily_chain["properties"].read_text().replace(secret, wrong_secret), tmp_path)
    assert returncode == 2, output[-3000:]
    line = _the_one_error_line(output)
    # s3a's first request is a HEAD, whose 403 has no body and so no S3 error code
    assert "the object store refused access to s3a://searchrel/warehouse/" in line
    assert "(403 Forbidden)" in line or "(SignatureDoesNotMatch)" in line
    assert wrong_secret not in output and secret not in output
    assert _warehouse_keys(cluster) == before


@pytest.mark.cluster
@pytest.mark.timeout(1800)
def test_an_object_store_that_is_down_fails_in_one_line_and_commits_nothing(cluster, daily_chain, tmp_path):
    endpoint = cluster.record()["s3_endpoint"]
    dead_port = free_ports(1)[0]  # picked free: nothing listens there, as when the store is down
    before = _warehouse_keys(cluster)
    returncode, output = _aggregate_spare_day(
        cluster, daily_chain["s3a"],
        daily_chain["properties"].read_text().replace(endpoint, f"http://127.0.0.1:{dead_port}"), tmp_path)
    assert returncode == 1, output[-3000:]  # an outage, not bad arguments: a scheduler may retry
    line = _the_one_error_line(output)
    assert f"the object store did not answer at 127.0.0.1:{dead_port} (Connection refused)" in line
    assert _secret(cluster) not in output
    assert _warehouse_keys(cluster) == before
