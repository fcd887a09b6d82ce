"""The pipeline, once: its steps in order, the job each runs, the tables that gate it, where it runs.

Both drivers read this: `searchrel demo` runs every step in this order in one
process, and the Airflow DAGs build their tasks from the steps they own. Airflow
runs in its own environment (`.venv-airflow`), which must not hold pyspark or
torch, and a DAG folder may be deployed without the rest of the checkout; so the
DAG package reads a JSON rendering of this module that sits beside it
(`airflow_dags/searchrel_airflow/pipeline.json`, written by
`python -m searchrel.core.pipeline --write`) rather than importing the project.
`tests/test_pipeline.py` fails when that file is not what this module renders,
so the two cannot drift apart.

A step's gates are the catalog's tables, validated after the job in this order;
a failed gate stops every later step. Table names come from `catalog`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from searchrel.core import catalog
from searchrel.core.catalog import Table
from searchrel.core.files import write_text_atomic

# "window": the job takes --ds D or --start/--end (a backfill chunk); "day": it is
# incremental by itself and --ds only dates its quarantine rows (once per backfill);
# "none": the job takes no dates (training, evaluation, the simulator).
DateArgs = Literal["window", "day", "none"]
# Which DAG runs the step: "daily" (also searchrel_backfill), "teacher", "student";
# None: only the demo (the simulator stands in for logging; the ablation is an experiment).
Dag = Literal["daily", "teacher", "student"]


@dataclass(frozen=True)
class Step:
    """One job of the pipeline and the tables whose suites gate what comes after it."""

    key: str  # the Airflow task_id and the demo's stage key
    job: str  # spark_jobs/<job>.py
    title: str  # what the demo console shows while it runs
    gates: tuple[Table, ...]
    dates: DateArgs
    timeout_minutes: int  # an Airflow task's execution timeout
    dag: Dag | None
    upstream: tuple[str, ...] = ()  # keys of the steps whose (validated) output it reads
    # The job may report {"status": "off"} (captioning without a configured model): its gate
    # is skipped and the steps reading its table run without it.
    optional: bool = False


# Captioning reads raw/pin_images only, so it runs beside the aggregation rather than
# after it; both feed the assembled pin text (DESIGN.md data flow).
STEPS: tuple[Step, ...] = (
    Step("simulate", "simulate", "simulate the world", (catalog.IMPRESSIONS, catalog.HUMAN_LABELS), "none", 120,
         None),
    # raw/search_events is the daily input (logging writes it, no step of the DAGs): its suite
    # gates the aggregation that reads it, so a day with half its events lost stops the day.
    Step("aggregate_features", "aggregate_features", "aggregate pin-text features",
         (catalog.SEARCH_EVENTS, catalog.PIN_QUERY_TOKENS, catalog.PIN_BOARD_TOKENS, catalog.PIN_LINK_TEXT),
         "window", 120, "daily"),
    Step("caption_pins", "caption_pins", "caption pin images (BLIP)", (catalog.PIN_CAPTIONS,), "day", 180, "daily",
         optional=True),
    Step("assemble_pin_text", "assemble_pin_text", "assemble pin text", (catalog.PIN_TEXT,), "window", 60, "daily",
         upstream=("aggregate_features", "caption_pins")),
    Step("train_teacher", "train_teacher", "train the teacher (all text parts)", (), "none", 720, "teacher",
         upstream=("assemble_pin_text",)),
    Step("train_ablation_teacher", "train_teacher", "train the teacher (title + description)", (), "none", 720,
         None, upstream=("assemble_pin_text",)),
    Step("label_impressions", "label_impressions", "label impressions with the teacher", (catalog.TEACHER_SCORES,),
         "window", 240, "daily", upstream=("assemble_pin_text", "train_teacher")),
    Step("build_student_examples", "build_student_examples", "build student examples", (catalog.STUDENT_EXAMPLES,),
         "window", 120, "daily", upstream=("label_impressions",)),
    Step("train_student", "train_student", "distil the student (+ scaling experiment)", (), "none", 480, "student",
         upstream=("build_student_examples",)),
    Step("evaluate", "evaluate", "evaluate teacher, baselines and student", (), "none", 120, "student",
         upstream=("train_teacher", "train_student")),
)

STEP_BY_KEY: dict[str, Step] = {step.key: step for step in STEPS}

# Where the DAG package reads the rendering (a sibling of its pipeline.py).
RENDERED = Path(__file__).resolve().parents[2] / "airflow_dags" / "searchrel_airflow" / "pipeline.json"


def gated_tables() -> list[str]:
    """Every table some step gates, in pipeline order."""
    return [table.name for step in STEPS for table in step.gates]


def as_data() -> dict[str, Any]:
    """The steps as plain JSON data: what the Airflow side reads."""
    return {
        "about": "generated by `python -m searchrel.core.pipeline --write` from searchrel/core/pipeline.py; "
                 "do not edit by hand",
        "steps": [
            {
                "key": s.key, "job": s.job, "title": s.title, "dates": s.dates, "timeout_minutes": s.timeout_minutes,
                "dag": s.dag, "upstream": list(s.upstream), "optional": s.optional,
                # Tables without a partition column are validated whole, without dates.
                "gates": [{"table": t.name, "partitioned": t.partition is not None} for t in s.gates],
            }
            for s in STEPS
        ],
    }


def render() -> str:
    return json.dumps(as_data(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m searchrel.core.pipeline", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {RENDERED.name} for the DAGs")
    args = parser.parse_args(argv)
    if args.write:
        write_text_atomic(RENDERED, render())
        print(f"wrote {RENDERED}")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
