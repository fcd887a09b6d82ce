"""`searchrel demo`: the whole pipeline end to end on a simulated world, then the report.

Stages run in this process, one after another, through the same `main(argv)`
entry points that `spark-submit` and Airflow use, so the demo exercises the
real jobs and shares one SparkSession. The stages are the steps of
`searchrel.core.pipeline` (the definition the DAGs read), each followed by the
suites of the tables it writes (`plan.py`). One progress display owns the
terminal; each stage's output, JSON and logs go to `<reports>/logs/<stage>.log`
and Spark's JVM to `spark.log` there (`console.py`); the closing table reads the
evaluation report (`summary.py`). Each finished stage is recorded in
`<reports>/demo_state.json` with a fingerprint of the scale, seed and
configuration: a rerun skips what is done (every job is idempotent anyway, but
retraining a teacher costs minutes), and `--fresh` starts over.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from searchrel.core.config import REPO_ROOT
from searchrel.core.errors import JobFailed
from searchrel.core.files import write_json_atomic, write_text_atomic
from searchrel.demo import plan, summary
from searchrel.demo.console import StageDisplay, output_to
from spark_jobs import runner

log = logging.getLogger("searchrel.demo")

SERVING_BENCH = REPO_ROOT / "bench" / "student_serving.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", choices=("tiny", "small", "medium", "large"), default="small")
    parser.add_argument("--seed", type=int, help="world seed (default: simulation.seed)")
    parser.add_argument("--fresh", action="store_true", help="delete the warehouse and start over")


def _fingerprint(ctx: runner.JobContext, scale: str, seed: int) -> str:
    blob = json.dumps({"scale": scale, "seed": seed, "config": ctx.config.model_dump()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _serving_bench(ctx: runner.JobContext) -> int:
    """The student's serving benchmark on the model just trained; its JSON feeds the report."""
    from modeling.student import resolve_version_dir  # noqa: PLC0415 - torch only when needed

    model_dir = resolve_version_dir(ctx.config.models_path, "current")
    out = Path(ctx.config.reports_path) / "student_serving.json"
    done = subprocess.run(
        [sys.executable, str(SERVING_BENCH), "--model-dir", str(model_dir), "--requests", "200", "--batches", "5",
         "--json"],
        capture_output=True, text=True, check=False,
    )
    sys.stderr.write(done.stderr)  # into the stage's log
    if done.returncode == 0:
        write_text_atomic(out, done.stdout)
    return done.returncode


def _passthrough(ctx: runner.JobContext, overrides: dict[str, Any]) -> list[str]:
    argv = ["--warehouse", ctx.config.warehouse_path]
    if ctx.args.config:
        argv += ["--config", ctx.args.config]
    for key, value in overrides.items():
        argv += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    for item in ctx.args.set_options or []:
        argv += ["--set", item]
    return argv


def _log_name(key: str) -> str:
    return key.replace(":", "-").replace("/", "__") + ".log"


def run(ctx: runner.JobContext) -> dict[str, Any] | None:
    scale: str = ctx.args.scale
    seed = ctx.config.simulation.seed if ctx.args.seed is None else ctx.args.seed
    warehouse = Path(ctx.config.warehouse_path)
    fresh = ctx.args.fresh and warehouse.exists()
    if fresh:
        shutil.rmtree(warehouse)
    reports = Path(ctx.config.reports_path)
    logs = reports / "logs"
    if logs.exists():
        shutil.rmtree(logs)  # this run's logs only
    logs.mkdir(parents=True)
    state_file = reports / "demo_state.json"
    fingerprint = _fingerprint(ctx, scale, seed)
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    if state.get("fingerprint") != fingerprint:
        state = {"fingerprint": fingerprint, "done": {}}

    common = _passthrough(ctx, plan.SCALE_OVERRIDES.get(scale, {}))
    sim = ctx.config.simulation
    stages = plan.stages(scale, seed, sim.end_ds, sim.impression_days, ctx.config.captions.model,
                         str(SERVING_BENCH) if SERVING_BENCH.exists() else None)
    spark_log = logs / "spark.log"
    timings: list[tuple[str, str, float]] = []
    t_all = time.perf_counter()
    with StageDisplay(len(stages)) as display:
        if fresh:
            display.console.print(f"[bold]--fresh:[/] removed {warehouse}")
        display.console.print(f"searchrel demo ({scale} world), {len(stages)} stages; the output of each goes to "
                              f"{logs}/<stage>.log", soft_wrap=True)
        display.running(1, "starting Spark")
        with output_to(spark_log):  # the JVM keeps the descriptors it starts with: its log4j stays in spark.log
            ctx.spark  # noqa: B018 - started here, shared by every stage
        for i, stage in enumerate(stages, 1):
            if stage.skip:
                display.finished(i, stage.title, f"[yellow]skipped[/]  {stage.skip}")
                timings.append((stage.title, "skipped", 0.0))
                continue
            if stage.record and stage.key in state["done"]:
                display.finished(i, stage.title, f"[cyan]done earlier[/] ({state['done'][stage.key]:.1f} s)")
                timings.append((stage.title, "reused", float(state["done"][stage.key])))
                continue
            display.running(i, stage.title)
            stage_log = logs / _log_name(stage.key)
            t0 = time.perf_counter()
            with output_to(stage_log):
                if stage.module is None:
                    code = _serving_bench(ctx)
                else:
                    code = int(importlib.import_module(stage.module).main([*stage.argv, *common]) or 0)
            seconds = time.perf_counter() - t0
            if code != 0:
                display.failed(i, stage.title, f"[red]failed[/] after {seconds:.1f} s (exit {code})",
                               [stage_log, spark_log])
                raise JobFailed(f"stage '{stage.title}' failed with exit code {code}; later stages not run "
                                f"(log: {stage_log})")
            display.finished(i, stage.title, f"[green]ok[/] {seconds:7.1f} s")
            timings.append((stage.title, "ok", seconds))
            if stage.record:
                state["done"][stage.key] = seconds
                write_json_atomic(state_file, state)

        from searchrel.report import build_report  # noqa: PLC0415 - matplotlib only when reporting

        t0 = time.perf_counter()
        with output_to(logs / "report.log"):
            report, report_summary = build_report(ctx.tables, ctx.config, timings=timings, scale=scale)
        timings.append(("write the report", "ok", time.perf_counter() - t0))
    total = time.perf_counter() - t_all

    console = display.console
    table = summary.closing_table(summary.load_evaluation(reports),
                                  f"searchrel demo ({scale} world) — {total / 60:.1f} min — what to compare")
    if table is not None:
        console.print(table)
    gaps = report_summary.get("report sections without data", "0")
    console.print(f"report: [bold]{report}[/]" + ("" if gaps == "0" else f"  ({gaps} sections without data)"),
                  soft_wrap=True)
    console.print(f"logs:   {logs}/  (one per stage; Spark's own in spark.log)", soft_wrap=True)
    return {"report": str(report), "minutes": round(total / 60, 2)} if ctx.args.json else None


main = runner.entry_point("demo", run, dates="none", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
