"""`searchrel demo`: the whole pipeline end to end on a simulated world, then the report.

Stages run in this process, one after another, through the same `main(argv)`
entry points that `spark-submit` and Airflow use, so the demo exercises the
real jobs and shares one SparkSession. Each finished stage is recorded in
`<warehouse>/reports/demo_state.json` with a fingerprint of the scale, seed and
configuration: a rerun skips what is done (every job is idempotent anyway, but
retraining a teacher costs minutes), and `--fresh` starts over.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import json
import logging
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from searchrel.cli import COMMANDS
from searchrel.core.config import REPO_ROOT
from searchrel.core.errors import JobFailed
from spark_jobs import runner

log = logging.getLogger("searchrel.demo")

# Settings per scale that keep the demo inside its time budget on 2 cores.
# They are ordinary config overrides: anything given with --set wins.
SCALE_OVERRIDES: dict[str, dict[str, Any]] = {
    # tiny (tests) has ~230 training labels: too few for any teacher to learn the label
    # distribution, so the teacher-vs-human distribution gates would (rightly) stop the
    # run. The tiny demo checks the plumbing, so those two gates are opened; every other
    # scale keeps the configured tolerances.
    "tiny": {
        "teacher.epochs": 2, "teacher.max_length": 64, "teacher.batch_size": 16, "student.epochs": 3,
        "validation.label_distribution_tolerance": 1.0, "validation.argmax_distribution_tolerance": 1.0,
    },
    # small: one epoch (a MiniLM epoch over 3,705 labels takes ~5.5 min on 2 cores, so three,
    # the recipe's default, break the 15-minute budget). bench/teacher_quality.py on this world:
    # 1 epoch QWK 0.717 (cut-points) / accuracy 0.477 (argmax); 3 epochs QWK 0.767 / 0.558.
    "small": {"teacher.epochs": 1, "teacher.max_length": 96},
    "medium": {"teacher.epochs": 1, "teacher.max_length": 96},
    "large": {"teacher.epochs": 1, "teacher.max_length": 96},
}

FULL_TEACHER, ABLATION_TEACHER = "demo-all-parts", "demo-title-description"


@dataclass
class Stage:
    key: str
    title: str
    command: str
    argv: list[str]
    record: bool = True  # remember completion (skip on rerun)
    optional: Callable[[], str | None] = field(default=lambda: None)  # returns a reason to skip
    call: Callable[[], int] | None = None  # run this instead of a searchrel command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", choices=("tiny", "small", "medium", "large"), default="small")
    parser.add_argument("--seed", type=int, help="world seed (default: simulation.seed)")
    parser.add_argument("--fresh", action="store_true", help="delete the warehouse and start over")


def _fingerprint(ctx: runner.JobContext, scale: str, seed: int) -> str:
    blob = json.dumps({"scale": scale, "seed": seed, "config": ctx.config.model_dump()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _stages(ctx: runner.JobContext, scale: str, seed: int) -> list[Stage]:
    sim = ctx.config.simulation
    end = sim.end_ds
    start = (dt.date.fromisoformat(end) - dt.timedelta(days=sim.impression_days - 1)).isoformat()
    days = ["--start", start, "--end", end]
    captioner = ctx.config.captions.model
    validate = lambda table, *extra: Stage(  # noqa: E731 - a table of stages reads best this way
        f"validate:{table}", f"validate {table}", "validate", [table, *extra], record=False
    )
    return [
        Stage("simulate", f"simulate the {scale} world", "simulate", ["--scale", scale, "--seed", str(seed)]),
        validate("raw/search_events", "--ds", end),
        validate("raw/impressions", "--ds", end),
        validate("raw/human_labels"),
        Stage("aggregate", "aggregate pin-text features", "aggregate", days),
        validate("features/pin_query_tokens", "--ds", end),
        Stage(
            "caption", "caption pin images (BLIP)", "caption", [],
            optional=lambda: None if captioner else "no captioner configured (captions.model)",
        ),
        Stage("assemble", "assemble pin text", "assemble-text", days),
        validate("features/pin_text", "--ds", end),
        Stage("teacher", "train the teacher (all text parts)", "teacher-train", ["--version", FULL_TEACHER]),
        Stage(
            "teacher-ablation", "train the teacher (title + description)", "teacher-train",
            ["--version", ABLATION_TEACHER, "--parts", "title,description", "--no-promote"],
        ),
        Stage("label", "label impressions with the teacher", "label", days + ["--teacher", FULL_TEACHER]),
        validate("labels/teacher_scores", "--ds", end),
        Stage("student-features", "build student examples", "student-features", days),
        validate("features/student_examples", "--ds", end),
        Stage("student", "distil the student (+ scaling experiment)", "student-train", ["--scaling"]),
        Stage(
            "evaluate", "evaluate teacher, baselines and student", "evaluate",
            ["--teacher", FULL_TEACHER, "--ablation-teacher", ABLATION_TEACHER, "--student", "current", "--json"],
        ),
        Stage(
            "serving", "benchmark student serving (CPU)", "", [], record=False,
            optional=lambda: None if SERVING_BENCH.exists() else f"{SERVING_BENCH} is not in this installation",
            call=lambda: _serving_bench(ctx),
        ),
    ]


SERVING_BENCH = REPO_ROOT / "bench" / "student_serving.py"


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
    if done.returncode == 0:
        out.write_text(done.stdout)
    else:
        log.error("serving benchmark failed: %s", done.stderr.strip().splitlines()[-1:] or done.returncode)
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


def run(ctx: runner.JobContext) -> dict[str, Any]:
    console = Console(stderr=False, highlight=False)
    scale: str = ctx.args.scale
    seed = ctx.config.simulation.seed if ctx.args.seed is None else ctx.args.seed
    warehouse = Path(ctx.config.warehouse_path)
    if ctx.args.fresh and warehouse.exists():
        console.print(f"[bold]--fresh:[/] removing {warehouse}")
        shutil.rmtree(warehouse)
    reports = Path(ctx.config.reports_path)
    reports.mkdir(parents=True, exist_ok=True)
    state_file = reports / "demo_state.json"
    fingerprint = _fingerprint(ctx, scale, seed)
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    if state.get("fingerprint") != fingerprint:
        state = {"fingerprint": fingerprint, "done": {}}

    overrides = SCALE_OVERRIDES.get(scale, {})
    common = _passthrough(ctx, overrides)
    stages = _stages(ctx, scale, seed)
    timings: list[tuple[str, str, float]] = []
    t_all = time.perf_counter()
    for i, stage in enumerate(stages, 1):
        label = f"[{i:2d}/{len(stages)}] {stage.title}"
        skip = stage.optional()
        if skip:
            console.print(f"{label:<58} [yellow]skipped[/]  {skip}")
            timings.append((stage.title, "skipped", 0.0))
            continue
        if stage.record and stage.key in state["done"]:
            console.print(f"{label:<58} [cyan]done earlier[/] ({state['done'][stage.key]:.1f} s)")
            timings.append((stage.title, "reused", float(state["done"][stage.key])))
            continue
        console.print(f"{label:<58} …", end="\r")
        t0 = time.perf_counter()
        if stage.call is not None:
            code = stage.call()
        else:
            code = importlib.import_module(COMMANDS[stage.command][0]).main(stage.argv + common)
        seconds = time.perf_counter() - t0
        if code != 0:
            console.print(f"{label:<58} [red]failed[/] after {seconds:.1f} s (exit {code})")
            raise JobFailed(f"stage '{stage.title}' failed with exit code {code}; later stages not run")
        console.print(f"{label:<58} [green]ok[/] {seconds:7.1f} s")
        timings.append((stage.title, "ok", seconds))
        if stage.record:
            state["done"][stage.key] = seconds
            state_file.write_text(json.dumps(state, indent=2))

    from searchrel.report import build_report  # noqa: PLC0415 - matplotlib only when reporting

    t0 = time.perf_counter()
    report, summary = build_report(ctx.tables, ctx.config, timings=timings, scale=scale)
    timings.append(("write the report", "ok", time.perf_counter() - t0))
    total = time.perf_counter() - t_all

    table = Table(title=f"searchrel demo ({scale} world) — {total / 60:.1f} min")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, value)
    console.print(table)
    console.print(f"report: [bold]{report}[/]")
    return {"report": str(report), "minutes": round(total / 60, 2)} if ctx.args.json else None  # type: ignore[return-value]


main = runner.entry_point("demo", run, dates="none", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
