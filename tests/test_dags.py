"""Airflow 3 DAGs: the folder imports, the graphs are the design's, and runs behave.

Airflow lives in its own environment (.venv-airflow, `make airflow-venv`), so
these tests drive it in a subprocess (tests/airflow_checks/dag_report.py) with
a throw-away AIRFLOW_HOME and SQLite metadata DB, and assert on its JSON.
The orchestration runs use a stand-in spark-submit (fake_spark_submit.py) so
that they check what Airflow does with exit codes and outputs in seconds; the
end-to-end test runs the daily DAG with the real spark-submit, Spark and Delta
on the tiny world.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "airflow_dags"
AF_VENV = REPO / ".venv-airflow"
CHECKS = REPO / "tests" / "airflow_checks"
FAKE = CHECKS / "fake_spark_submit.py"
DAY = "2026-11-23"
NO_RETRIES = {"SEARCHREL_AIRFLOW_JOB_RETRIES": "0"}  # test runs fail at once rather than wait out retry delays

sys.path.insert(0, str(DAGS))  # the helpers below import no Airflow: they are plain Python
from searchrel_airflow import gates, pipeline, run_jobs, settings  # noqa: E402

pytestmark = pytest.mark.airflow


# -- plain helpers (no Airflow needed) ----------------------------------------------


def test_chunks_cover_the_range_exactly_once():
    assert pipeline.chunks("2026-11-01", "2026-11-10", 4) == [
        ("2026-11-01", "2026-11-04"), ("2026-11-05", "2026-11-08"), ("2026-11-09", "2026-11-10")]
    assert pipeline.chunks("2026-02-27", "2026-03-01", 7) == [("2026-02-27", "2026-03-01")]
    with pytest.raises(ValueError, match="after"):
        pipeline.chunks("2026-11-02", "2026-11-01", 1)


def test_one_driver_runs_several_jobs_and_exits_with_the_worst_code():
    assert run_jobs.split_commands(["validate", "a/b", "--ds", "D", "--then", "validate", "c/d"]) == [
        ["validate", "a/b", "--ds", "D"], ["validate", "c/d"]]
    with pytest.raises(ValueError, match="empty command"):
        run_jobs.split_commands(["validate", "a/b", "--then"])
    assert run_jobs.worst([0, 0]) == 0
    assert run_jobs.worst([0, 1, 0]) == 1  # one failed suite fails the gate
    assert run_jobs.worst([1, 2]) == 2  # bad arguments win: they need a person, not a retry


def test_settings_prefer_variable_then_environment_then_default():
    values = settings.resolve(
        {"searchrel_warehouse": "s3a://bucket/wh"}.get,
        environ={"SEARCHREL_WAREHOUSE": "/ignored", "SEARCHREL_SPARK_MASTER": "yarn", "SEARCHREL_REPO": "/srv/sr"},
    )
    assert values["SEARCHREL_WAREHOUSE"] == "s3a://bucket/wh"
    assert values["SEARCHREL_SPARK_MASTER"] == "yarn"
    # Defaults follow the repo setting, and the PySpark driver is the pipeline's Python.
    assert values["SEARCHREL_SPARK_SUBMIT"] == "/srv/sr/.venv/bin/spark-submit"
    assert values["PYSPARK_PYTHON"] == values["SEARCHREL_PYTHON"] == "/srv/sr/.venv/bin/python"
    assert settings.missing_local_files(values) == [
        f"{name}={values[name]} does not exist"
        for name in ("SEARCHREL_REPO", "SEARCHREL_SPARK_SUBMIT", "SEARCHREL_PYTHON", "SEARCHREL_SPARK_CONF",
                     "SEARCHREL_CONFIG")
    ]


def test_publish_decision_compares_the_student_metric():
    # The shape of `evaluate --student V --json`: teacher and baselines beside the student's report.
    report = lambda v: {"teacher": {"test": {"ndcg_at_10": 0.9}}, "baselines": {"bm25": {"test": {"ndcg_at_10": 0.8}}},  # noqa: E731
                        "student": {"bm25": {"ndcg_at_10": 0.7}, "student": {"ndcg_at_10": v}, "test": {"ndcg_at_10": v}}}
    assert gates.pick_metric(report(0.5), "ndcg_at_10") == 0.5  # the student's, not the teacher's or BM25's
    assert gates.pick_metric({"student": {"ndcg_at_10": 0.4}}, "ndcg_at_10") == 0.4  # train_student --json
    assert gates.pick_metric({"student": {"test": {"ndcg_at_10": float("nan")}}}, "ndcg_at_10") is None
    assert gates.not_worse(report(0.50), report(0.50), "ndcg_at_10")[0] is True  # equal is not worse
    assert gates.not_worse(report(0.49), report(0.50), "ndcg_at_10")[0] is False
    assert gates.not_worse(report(0.49), report(0.50), "ndcg_at_10", tolerance=0.02)[0] is True
    assert gates.not_worse(report(0.10), None, "ndcg_at_10")[0] is True  # first student
    assert gates.not_worse({"student": {}}, report(0.5), "ndcg_at_10")[0] is False  # cannot show "not worse"
    assert gates.enough_new_labels({"new_labels": 999}, 1000)[0] is False
    assert gates.enough_new_labels({"new_labels": 1000}, 1000)[0] is True


def test_the_local_spark_submit_properties_bring_delta():
    conf = dict(line.split(None, 1) for line in (REPO / "conf" / "spark-submit.local.conf").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    import delta  # the delta-spark the pipeline pins must match the jar spark-submit fetches
    from importlib.metadata import version

    assert conf["spark.jars.packages"].strip() == f"io.delta:delta-spark_4.1_2.13:{version('delta-spark')}"
    assert conf["spark.sql.extensions"].strip() == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"].strip() == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert conf["spark.sql.session.timeZone"].strip() == "UTC"
    assert delta is not None


# -- real Airflow -------------------------------------------------------------------


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    """Environment of an isolated Airflow: its own home and SQLite DB, this DAG folder, no examples."""
    if not (AF_VENV / "bin" / "python").exists():
        pytest.skip("Airflow environment missing: run `make airflow-venv` (make test creates it)")
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    for name in [n for n in env if n.startswith(("SEARCHREL_", "AIRFLOW_VAR_"))]:
        del env[name]  # the DAGs must not pick up the developer's own settings
    done = subprocess.run([str(AF_VENV / "bin" / "airflow"), "db", "migrate"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return env


def _report(env: dict[str, str], *args: str, timeout: int = 600) -> dict:
    done = subprocess.run([str(AF_VENV / "bin" / "python"), str(CHECKS / "dag_report.py"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG_REPORT ")]
    assert done.returncode == 0 and lines, f"dag_report failed ({done.returncode}):\n{done.stderr[-6000:]}"
    return json.loads(lines[-1][len("DAG_REPORT "):])


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()] if log.exists() else []


def _script_and_args(argv: list[str]) -> list[str]:
    """spark-submit argv from the application script on, without the common --warehouse/--config."""
    i = next(i for i, a in enumerate(argv) if a.endswith(".py"))
    rest = argv[i:]
    for flag in ("--warehouse", "--config"):
        while flag in rest:
            j = rest.index(flag)
            del rest[j:j + 2]
    return rest


@pytest.fixture(scope="module")
def fast_runs(airflow_env, tmp_path_factory) -> dict:
    """The DagBag report plus the orchestration runs, in one Airflow process (its start-up is paid once)."""
    work = tmp_path_factory.mktemp("fast_runs")
    warehouse = work / "wh"
    previous = warehouse / "models" / "student" / "s1"
    previous.mkdir(parents=True)
    (previous / "student.safetensors").write_bytes(b"")
    (previous.parent / "current").write_text("s1\n")

    def fake(name: str, **extra: str) -> dict[str, str]:
        return {"SEARCHREL_SPARK_SUBMIT": str(FAKE), "SEARCHREL_WAREHOUSE": str(warehouse),
                "FAKE_LOG": str(work / f"{name}.log"), **NO_RETRIES, **extra}

    jobs = {
        "inspect": {"action": "inspect"},
        "gate": {"action": "run", "dag_id": "searchrel_daily", "logical_date": DAY,
                 "env": fake("gate", FAKE_FAIL="features/pin_text", FAKE_CAPTIONS_OFF="1")},
        "backfill": {"action": "run", "dag_id": "searchrel_backfill", "logical_date": "2026-11-10",
                     "conf": {"start": "2026-11-01", "end": "2026-11-10", "chunk_days": 4}, "env": fake("backfill")},
        "student_worse": {"action": "run", "dag_id": "searchrel_student_weekly", "logical_date": "2026-11-23",
                          "env": fake("student_worse", FAKE_NEW_VERSION="s2",
                                      FAKE_NDCG=json.dumps({"s1": 0.60, "s2": 0.55}))},
        "teacher_few": {"action": "run", "dag_id": "searchrel_teacher", "logical_date": "2026-11-23",
                        "conf": {"min_new_labels": 50}, "env": fake("teacher_few", FAKE_NEW_LABELS="49")},
    }
    spec = work / "jobs.json"
    spec.write_text(json.dumps(jobs))
    out = _report(airflow_env, "batch", str(spec), timeout=900)
    out["work"] = work
    out["warehouse"] = warehouse
    return out


def test_dag_folder_imports_without_errors_and_holds_the_four_dags(fast_runs):
    report = fast_runs["inspect"]
    assert report["import_errors"] == {}
    assert set(report["dags"]) == {"searchrel_daily", "searchrel_backfill", "searchrel_student_weekly",
                                   "searchrel_teacher"}
    for dag_id, dag in report["dags"].items():
        assert "searchrel" in dag["tags"], dag_id
        assert dag["max_active_runs"] == 1, dag_id
        assert dag["catchup"] is False, dag_id
        for task_id, task in dag["tasks"].items():
            if task["operator"] == "BashOperator":
                assert task["execution_timeout_s"], f"{dag_id}.{task_id} has no execution timeout"
                assert '"$SEARCHREL_' in task["bash_command"], f"{dag_id}.{task_id} hard-codes its paths"
                # Gates never retry (a failed suite fails the same way again); idempotent jobs do.
                expected = 0 if task_id.startswith("validate_") else pipeline.JOB_RETRIES
                assert task["retries"] == expected, f"{dag_id}.{task_id}"


def test_daily_graph_gates_every_step_on_its_validation(fast_runs):
    dag = fast_runs["inspect"]["dags"]["searchrel_daily"]
    tasks = dag["tasks"]
    assert dag["timetable"] == "CronDataIntervalTimetable" and dag["schedule"] == "0 2 * * *"
    expected_upstream = {
        "aggregate_features": ["resolve_settings"],
        "validate_aggregate_features": ["aggregate_features", "resolve_settings"],
        "caption_pins": ["resolve_settings"],
        "validate_caption_pins": ["caption_pins", "resolve_settings"],
        "assemble_pin_text": ["resolve_settings", "validate_aggregate_features", "validate_caption_pins"],
        "validate_assemble_pin_text": ["assemble_pin_text", "resolve_settings"],
        "label_impressions": ["resolve_settings", "validate_assemble_pin_text"],
        "validate_label_impressions": ["label_impressions", "resolve_settings"],
        "build_student_examples": ["resolve_settings", "validate_label_impressions"],
        "validate_build_student_examples": ["build_student_examples", "resolve_settings"],
        "resolve_settings": [],
    }
    assert {t: tasks[t]["upstream"] for t in tasks} == expected_upstream
    # A skipped caption gate (captioning off) must not stop the text; a failed one still does.
    assert tasks["assemble_pin_text"]["trigger_rule"] == "none_failed"
    assert {tasks[t]["trigger_rule"] for t in tasks if t != "assemble_pin_text"} == {"all_success"}
    cmd = {t: tasks[t]["bash_command"] for t in tasks if tasks[t]["bash_command"]}
    assert "spark_jobs/aggregate_features.py --ds {{ ds }}" in cmd["aggregate_features"]
    assert "spark_jobs/label_impressions.py --ds {{ ds }}" in cmd["label_impressions"]
    assert "spark_jobs/build_student_examples.py --ds {{ ds }}" in cmd["build_student_examples"]
    for table in ("features/pin_query_tokens", "features/pin_board_tokens", "features/pin_link_text"):
        assert f"validate {table} --ds {{{{ ds }}}}" in cmd["validate_aggregate_features"]
    assert "spark_jobs/validate.py labels/teacher_scores --ds {{ ds }}" in cmd["validate_label_impressions"]
    assert "spark_jobs/validate.py features/student_examples --ds {{ ds }}" in cmd["validate_build_student_examples"]
    assert all('--properties-file "$SEARCHREL_SPARK_CONF"' in c for t, c in cmd.items())


def test_backfill_graph_maps_each_step_over_chunks_with_bounded_parallelism(fast_runs):
    dag = fast_runs["inspect"]["dags"]["searchrel_backfill"]
    tasks = dag["tasks"]
    assert dag["params"] == {"start": "2026-11-21", "end": "2026-11-23", "chunk_days": 7}
    assert dag["max_active_tasks"] == 2
    for step in ("aggregate_features", "assemble_pin_text", "label_impressions", "build_student_examples"):
        assert tasks[step]["mapped"] and tasks[f"validate_{step}"]["mapped"], step
        assert tasks[step]["max_active_tis_per_dagrun"] == 2
        assert f'spark_jobs/{step}.py --start "$CHUNK_START" --end "$CHUNK_END"' in tasks[step]["bash_command"]
    assert not tasks["caption_pins"]["mapped"]  # incremental by itself: once per backfill
    assert "validate_aggregate_features" in tasks["assemble_pin_text"]["upstream"]
    assert "validate_label_impressions" in tasks["build_student_examples"]["upstream"]


def test_student_and_teacher_graphs(fast_runs):
    dags = fast_runs["inspect"]["dags"]
    student = dags["searchrel_student_weekly"]["tasks"]
    assert student["decide"]["upstream"] == ["evaluate_candidate", "evaluate_previous"]
    assert student["decide"]["trigger_rule"] == "none_failed"  # evaluate_previous is skipped for a first student
    assert student["publish_student"]["upstream"] == ["decide", "resolve_settings"]
    assert student["evaluate_previous"]["upstream"] == ["previous_student", "resolve_settings"]
    assert "train_student" in student["evaluate_candidate"]["upstream"]
    teacher = dags["searchrel_teacher"]
    assert teacher["params"] == {"min_new_labels": 1000, "since": None}
    order = teacher["topological_order"]
    assert order.index("count_new_labels") < order.index("enough_new_labels") < order.index("train_teacher") \
        < order.index("evaluate_teacher")


def test_a_failed_validation_stops_everything_downstream(fast_runs):
    run = fast_runs["gate"]
    assert run["state"] == "failed"
    states = run["tasks"]
    assert states["validate_assemble_pin_text"] == "failed"
    assert states["validate_caption_pins"] == "skipped"  # captioning off: nothing to validate, text goes on
    for task_id in ("label_impressions", "validate_label_impressions", "build_student_examples",
                    "validate_build_student_examples"):
        assert states[task_id] == "upstream_failed", task_id
    for task_id in ("aggregate_features", "validate_aggregate_features", "caption_pins", "assemble_pin_text"):
        assert states[task_id] == "success", task_id
    calls = [_script_and_args(argv) for argv in _calls(fast_runs["work"] / "gate.log")]
    assert ["spark_jobs/aggregate_features.py", "--ds", DAY] in calls
    assert ["spark_jobs/assemble_pin_text.py", "--ds", DAY] in calls
    assert ["spark_jobs/caption_pins.py", "--ds", DAY, "--json"] in calls
    assert not any("features/pin_captions" in c for c in calls)
    assert not any(c[0] == "spark_jobs/label_impressions.py" for c in calls)  # never submitted
    # The three aggregate tables are validated in one driver.
    assert [pipeline.RUN_JOBS, "validate", "features/pin_query_tokens", "--ds", DAY, "--then", "validate",
            "features/pin_board_tokens", "--ds", DAY, "--then", "validate", "features/pin_link_text", "--ds",
            DAY] in calls
    argv = _calls(fast_runs["work"] / "gate.log")[0]
    assert argv[:4] == ["--master", "local[2]", "--properties-file", str(REPO / "conf" / "spark-submit.local.conf")]
    assert argv[argv.index("--warehouse") + 1] == str(fast_runs["warehouse"])


def test_backfill_runs_every_step_once_per_chunk(fast_runs):
    run = fast_runs["backfill"]
    assert run["state"] == "success", run["tasks"]
    ranges = [("2026-11-01", "2026-11-04"), ("2026-11-05", "2026-11-08"), ("2026-11-09", "2026-11-10")]
    calls = [_script_and_args(argv) for argv in _calls(fast_runs["work"] / "backfill.log")]
    for step in ("aggregate_features", "assemble_pin_text", "label_impressions", "build_student_examples"):
        got = sorted((c[2], c[4]) for c in calls if c[0] == f"spark_jobs/{step}.py")
        assert got == ranges, step
        assert {f"{step}[{i}]" for i in range(3)} <= set(run["tasks"])
    assert [c for c in calls if c[0] == "spark_jobs/caption_pins.py"] == [
        ["spark_jobs/caption_pins.py", "--ds", "2026-11-10", "--json"]]
    assert ["spark_jobs/validate.py", "features/pin_captions"] in calls
    label_checks = sorted((c[3], c[5]) for c in calls if c[:2] == ["spark_jobs/validate.py", "labels/teacher_scores"])
    assert label_checks == ranges


def test_a_worse_student_is_not_published(fast_runs):
    run = fast_runs["student_worse"]
    states = run["tasks"]
    assert states["decide"] == "success"
    assert states["publish_student"] == "skipped" and states["keep_current_student"] == "success"
    # The candidate is trained with --no-promote (the fake, like the job, would otherwise move
    # `current` to s2), so serving never sees it; keeping leaves s1.
    assert (fast_runs["warehouse"] / "models" / "student" / "current").read_text().strip() == "s1"
    assert run["xcoms"]["evaluate_candidate"]["student"]["test"] == {"ndcg_at_10": 0.55}
    calls = [_script_and_args(a) for a in _calls(fast_runs["work"] / "student_worse.log")]
    assert ["spark_jobs/train_student.py", "--no-progress", "--no-promote", "--json"] in calls
    assert ["spark_jobs/evaluate.py", "--student", "s1", "--json"] in calls
    assert ["spark_jobs/evaluate.py", "--student", "s2", "--json"] in calls


def test_teacher_is_not_retrained_without_enough_new_labels(fast_runs):
    run = fast_runs["teacher_few"]
    assert run["tasks"]["count_new_labels"] == "success"
    assert run["xcoms"]["count_new_labels"]["new_labels"] == 49
    assert run["tasks"]["train_teacher"] == "skipped" and run["tasks"]["evaluate_teacher"] == "skipped"
    calls = [_script_and_args(a) for a in _calls(fast_runs["work"] / "teacher_few.log")]
    assert calls == [[pipeline.NEW_LABELS, "--json"]]


# -- end to end, real spark-submit -------------------------------------------------

DAILY_JOBS = ("aggregate_features", "caption_pins", "assemble_pin_text", "label_impressions",
              "build_student_examples", "validate")


# Two years of history would make the first aggregation compute 730 daily partials;
# a short world and window keep the run to what one day costs. The teacher is a
# random tiny BERT (this tests the plumbing, not the teacher), whose labels are
# nothing like the human ones, so the label-distribution check is opened up.
# Passed to the jobs as their --config file, the way a deployment points the DAGs
# at its own config.
E2E_CONFIG = """\
simulation:
  history_days: 40
features:
  query_tokens:
    window_days: 30
  link_text:
    window_days: 30
student:
  als_iterations: 3
validation:
  label_distribution_tolerance: 1.0
  argmax_distribution_tolerance: 1.0
"""


@pytest.fixture(scope="module")
def daily_world(spark, tmp_path_factory) -> tuple[Path, Path, Path]:
    """(warehouse, config file, spark-submit properties): the tiny world, a tiny random teacher as `current`.

    The properties are the local ones with the test JVM's flags (conftest.SHORT_LIVED_JVM),
    the way a deployment points SEARCHREL_SPARK_CONF at its own file.
    """
    missing = [job for job in DAILY_JOBS if not (REPO / "spark_jobs" / f"{job}.py").exists()]
    if missing:
        pytest.skip(f"job modules not written yet: {', '.join(missing)}")
    import torch

    from modeling.cross_encoder import build_teacher, save_teacher, set_current
    from modeling.tiny_models import make_tiny_bert
    from searchrel.core.config import TeacherConfig, load_config
    from simulation.world import write_world
    from searchrel.core.tables import Tables

    root = tmp_path_factory.mktemp("daily")
    config_file = root / "searchrel.yaml"
    config_file.write_text(E2E_CONFIG)
    from conftest import SHORT_LIVED_JVM

    properties = root / "spark-submit.conf"
    properties.write_text("\n".join(
        f"spark.driver.extraJavaOptions {SHORT_LIVED_JVM}" if line.startswith("spark.driver.extraJavaOptions") else line
        for line in (REPO / "conf" / "spark-submit.local.conf").read_text().splitlines()) + "\n")
    warehouse = root / "wh"
    config = load_config(config_file, overrides={"warehouse": str(warehouse)}, environ={})
    write_world(Tables(spark, str(warehouse)), config.simulation, "tiny", config.simulation.seed)
    models = Path(config.models_path)
    backbone = make_tiny_bert(models / "tiny_bert", seed=3)
    torch.manual_seed(5)
    model, tokenizer = build_teacher(TeacherConfig(backbone=backbone, head_hidden=[16], head_dropout=0.0,
                                                   max_length=48))
    with torch.no_grad():  # a random head gives near-uniform probabilities; widen it so labels vary
        model.head[-1].weight.mul_(40.0)
    save_teacher(model, tokenizer, {"version": "t1"}, models / "teacher" / "t1")
    set_current(models, "t1")
    return warehouse, config_file, properties


@pytest.mark.spark
@pytest.mark.slow
def test_daily_dag_runs_end_to_end_on_the_tiny_world(airflow_env, daily_world, spark):
    warehouse, config_file, properties = daily_world
    env = {**airflow_env, **NO_RETRIES, "SEARCHREL_WAREHOUSE": str(warehouse), "SEARCHREL_CONFIG": str(config_file),
           "SEARCHREL_SPARK_CONF": str(properties)}
    run = _report(env, "run", "searchrel_daily", DAY, timeout=1500)
    assert run["state"] == "success", run["tasks"]
    assert run["tasks"]["validate_caption_pins"] == "skipped"  # captions.model is null by default
    assert {s for t, s in run["tasks"].items() if t != "validate_caption_pins"} == {"success"}

    from pyspark.sql import functions as F

    from searchrel.core.tables import Tables

    tables = Tables(spark, str(warehouse))
    for name in ("features/pin_query_tokens", "features/pin_board_tokens", "features/pin_link_text",
                 "features/pin_text"):
        assert tables.read(name).where(F.col("as_of") == DAY).count() > 0, name
    impressions = tables.read("raw/impressions").where(F.col("ds") == DAY)
    scores = tables.read("labels/teacher_scores").where(F.col("ds") == DAY)
    assert {r.teacher_version for r in scores.select("teacher_version").distinct().collect()} == {"t1"}
    # Every impression of the day is scored once or quarantined with a reason; nothing else is scored.
    quarantined = tables.read("quarantine/labels_teacher_scores").where(F.col("ds") == DAY).count()
    assert scores.count() + quarantined == impressions.count() > 0
    assert scores.count() == scores.select("query", "pin_id").distinct().count()
    assert scores.join(impressions, ["query", "pin_id"], "left_anti").count() == 0
    assert tables.read("features/student_examples").where(F.col("ds") == DAY).count() > 0
    # Each gate left a passing summary for its tables and day.
    reports = warehouse / "reports" / "validation"
    for table in ("features/pin_query_tokens", "features/pin_board_tokens", "features/pin_link_text",
                  "features/pin_text", "labels/teacher_scores", "features/student_examples"):
        summary = json.loads((reports / f"{table.replace('/', '__')}__{DAY}.json").read_text())
        assert summary["success"] is True, table
