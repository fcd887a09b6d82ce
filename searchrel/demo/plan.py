"""The demo's stages: every step of the pipeline definition, each followed by its gates.

The steps and their gates come from `searchrel.core.pipeline`, the definition
the Airflow DAGs read too; this module only adds what a demo run chooses: the
world's scale and seed, the teacher versions it trains and compares, and the
serving benchmark that feeds the report. It is pure data (no Spark), so a test
can check that the demo validates every table the definition gates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from searchrel.core import pipeline

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
        "validation.min_teacher_levels": 1,  # likewise: such a teacher may well answer one level
    },
    # small: the recipe's 3 epochs at max_length 64 (most pin texts run 64-115 tokens; the tail is
    # the link text and the last boards). bench/teacher_quality.py on this world, batches of 16:
    # 3 epochs at 64 tokens test accuracy 0.592 / QWK 0.767 (every level >= 7.5% of rows), at 128
    # (the default) 0.585 / 0.752, with more tokens to pay for; 2 epochs at 96 0.579 / 0.743, level 2
    # at 1.9%. One epoch (the old demo teacher) was 0.486-0.538.
    "small": {"teacher.max_length": 64},
    "medium": {"teacher.epochs": 1, "teacher.max_length": 96},
    "large": {"teacher.epochs": 1, "teacher.max_length": 96},
}

FULL_TEACHER, ABLATION_TEACHER = "demo-all-parts", "demo-title-description"
SERVING = "serving"  # the key of the last stage, run by the demo itself (not a spark_jobs module)


@dataclass(frozen=True)
class Stage:
    key: str  # the step's key, `validate:<table>` for a gate; the demo's state remembers finished keys
    title: str
    module: str | None  # the module whose main(argv) runs it; None: the demo runs it itself
    argv: tuple[str, ...]
    record: bool = True  # remember completion (skip on rerun); gates are cheap and always rerun
    skip: str | None = None  # why it does not run in this configuration


def _demo_args(scale: str, seed: int) -> dict[str, tuple[str, ...]]:
    """What the demo passes each step beyond its dates: its world, and the teachers it compares."""
    return {
        "simulate": ("--scale", scale, "--seed", str(seed)),
        "train_teacher": ("--version", FULL_TEACHER),
        "train_ablation_teacher": ("--version", ABLATION_TEACHER, "--parts", "title,description", "--no-promote"),
        "label_impressions": ("--teacher", FULL_TEACHER),
        "train_student": ("--scaling",),
        "evaluate": ("--teacher", FULL_TEACHER, "--ablation-teacher", ABLATION_TEACHER, "--student", "current"),
    }


def stages(scale: str, seed: int, end: str, impression_days: int, captioner: str | None,
           serving_bench: str | None) -> list[Stage]:
    """Every pipeline step over the impression window ending `end`, each followed by its gates.

    Gates validate the window's last day: the demo's budget pays for one day
    per suite (the jobs wrote every day of the window, the DAGs gate each one).
    """
    start = (dt.date.fromisoformat(end) - dt.timedelta(days=impression_days - 1)).isoformat()
    dates = {"window": ("--start", start, "--end", end), "day": ("--ds", end), "none": ()}
    extra = _demo_args(scale, seed)
    out: list[Stage] = []
    for step in pipeline.STEPS:
        skip = None
        if step.key == "caption_pins" and not captioner:
            skip = "no captioner configured (captions.model)"
        title = f"simulate the {scale} world" if step.key == "simulate" else step.title
        out.append(Stage(step.key, title, f"spark_jobs.{step.job}", dates[step.dates] + extra.get(step.key, ()),
                         skip=skip))
        for table in step.gates:
            day = ("--ds", end) if table.partition is not None else ()
            out.append(Stage(f"validate:{table.name}", f"validate {table.name}", "spark_jobs.validate",
                             (table.name, *day), record=False, skip=skip))
    out.append(Stage(SERVING, "benchmark student serving (CPU)", None, (), record=False,
                     skip=None if serving_bench else "bench/student_serving.py is not in this installation"))
    return out
