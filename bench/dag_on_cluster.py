"""The daily DAG, run by Airflow (`dag.test()`), against the local cluster: Variables point it there.

    .venv/bin/python bench/dag_on_cluster.py [--day 2026-11-23] [--out reports/dag_on_cluster.json] [--keep DIR]

Starts a local cluster (searchrel.cluster: a Spark standalone master, two workers,
SeaweedFS's S3) in a temporary folder, simulates the tiny world into its bucket, saves a
tiny random teacher as `current` under a local `models_dir` (the shared path the
executors read), then, in an isolated Airflow (its own home and SQLite database, the
project's `.venv-airflow`), sets the Airflow Variables that say where the pipeline runs:

    searchrel_spark_master   spark://127.0.0.1:<port>
    searchrel_warehouse      s3a://searchrel/warehouse
    searchrel_spark_conf     <cluster>/spark-submit.properties   (the s3a keys live only there)
    searchrel_py_files       <cluster>/dist/searchrel-py.zip     (the project, for the executors)
    searchrel_config         <work>/searchrel.yaml

and runs `searchrel_daily` for one day with `dag.test()`. Where the pipeline runs comes
from those Variables alone: no SEARCHREL_* location variable reaches Airflow (only
SEARCHREL_AIRFLOW_JOB_RETRIES=0, so a failure shows at once). Prints and writes the
state of every task, the wall times, and whether any log holds the secret key. Takes
about 15 minutes on two cores. The cluster is always taken down.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

AF_VENV = REPO / ".venv-airflow"
# The tiny teacher is random: the gates on its label shares and levels are opened (as the DAG's
# end-to-end test does); every other gate runs as configured.
CONFIG = """\
spark:
  shuffle_partitions: 4
simulation:
  history_days: 40
features:
  query_tokens:
    window_days: 30
  link_text:
    window_days: 30
models_dir: {models}
validation:
  reports_dir: {reports}
  label_distribution_tolerance: 1.0
  argmax_distribution_tolerance: 1.0
  min_teacher_levels: 1
"""


def tiny_teacher(root: Path) -> Path:
    """A models folder with a tiny random BERT teacher as version t1, `current` (as tests/conftest.py builds)."""
    import torch

    from modeling.cross_encoder import build_teacher, save_teacher, set_current
    from modeling.tiny_models import make_tiny_bert
    from searchrel.core.config import TeacherConfig

    backbone = make_tiny_bert(root / "tiny_bert", seed=3)
    torch.manual_seed(5)
    model, tokenizer = build_teacher(TeacherConfig(backbone=backbone, head_hidden=[16], head_dropout=0.0,
                                                   max_length=48))
    with torch.no_grad():
        model.head[-1].weight.mul_(40.0)
    save_teacher(model, tokenizer, {"version": "t1"}, root / "teacher" / "t1")
    set_current(root, "t1")
    return root


def airflow(env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(AF_VENV / "bin" / "airflow"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", default="2026-11-23")
    parser.add_argument("--out", default=str(REPO / "reports" / "dag_on_cluster.json"))
    parser.add_argument("--keep", help="work folder to keep (default: a temporary one, removed after)")
    args = parser.parse_args(argv)
    if not (AF_VENV / "bin" / "airflow").exists():
        raise SystemExit("no .venv-airflow: run `make airflow-venv` first")

    from searchrel.cluster.local import ClusterSpec, LocalCluster
    from searchrel.cluster.properties import read_properties
    from searchrel.cluster.submit import build_py_files, submit_job

    work = Path(args.keep or tempfile.mkdtemp(prefix="searchrel-dag-cluster-"))
    work.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(work / "cluster")
    timings: dict[str, float] = {}
    result: dict = {"day": args.day}
    t0 = time.monotonic()
    try:
        record = cluster.up(ClusterSpec(work / "cluster", workers=2, worker_cores=1, worker_memory="1g",
                                        stop_with_caller=True))
        timings["cluster_up"] = round(time.monotonic() - t0, 1)
        warehouse = record["warehouse"]
        config = work / "searchrel.yaml"
        config.write_text(CONFIG.format(models=tiny_teacher(work / "models"), reports=work / "reports"))
        t = time.monotonic()
        done = submit_job(cluster, "simulate", ["--scale", "tiny", "--warehouse", warehouse, "--config", str(config)],
                          log_file=cluster.root / "logs" / "simulate.log", timeout_s=1800)
        timings["simulate"] = round(time.monotonic() - t, 1)
        if done.returncode != 0:
            raise SystemExit(f"simulate failed; see {cluster.root / 'logs' / 'simulate.log'}")

        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEARCHREL_", "AIRFLOW_VAR_"))}
        env.update({"AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "airflow_dags"),
                    "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
                    # spark-submit's own: pyspark's SPARK_HOME, and the cluster's (empty) conf folder
                    "SPARK_CONF_DIR": str(cluster.root / "spark" / "conf"), "SEARCHREL_AIRFLOW_JOB_RETRIES": "0"})
        migrated = airflow(env, "db", "migrate")
        if migrated.returncode != 0:
            raise SystemExit(migrated.stderr[-3000:])
        variables = {
            "searchrel_spark_master": record["master_url"],
            "searchrel_warehouse": warehouse,
            "searchrel_spark_conf": str(cluster.properties_path),
            "searchrel_py_files": str(build_py_files(cluster.root / "dist" / "searchrel-py.zip")),
            "searchrel_config": str(config),
        }
        for name, value in variables.items():
            done = airflow(env, "variables", "set", name, value)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-3000:])
        result["variables"] = variables
        t = time.monotonic()
        run = subprocess.run([str(AF_VENV / "bin" / "python"), str(REPO / "tests" / "airflow_checks" / "dag_report.py"),
                              "run", "searchrel_daily", args.day], env=env, capture_output=True, text=True,
                             timeout=3600, cwd=REPO)
        timings["dag_run"] = round(time.monotonic() - t, 1)
        (work / "dag_run.log").write_text(run.stdout + "\n" + run.stderr)
        lines = [line for line in run.stdout.splitlines() if line.startswith("DAG_REPORT ")]
        report = json.loads(lines[-1][len("DAG_REPORT "):]) if lines else {"state": f"no report (exit {run.returncode})"}
        result.update(state=report.get("state"), tasks=report.get("tasks"))
        secret = read_properties(cluster.properties_path)["spark.hadoop.fs.s3a.secret.key"]
        logs = [p for p in work.rglob("*") if p.is_file() and p.suffix in (".log", "") and p.stat().st_size < 50e6
                and "spark.properties" not in p.name and p.name != "spark-submit.properties"]
        leaked = [str(p) for p in logs if p.name != "identities.json" and secret in p.read_text(errors="replace")]
        result.update(logs_searched=len(logs), secret_in=leaked)
    finally:
        t = time.monotonic()
        cluster.down()
        timings["cluster_down"] = round(time.monotonic() - t, 1)
        result["timings_s"] = timings
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = result.get("state") == "success" and not result.get("secret_in")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
