"""The demo's closing table: what to compare, with the numbers as `searchrel evaluate` reported them.

Every figure is read from the evaluation report (`<reports>/teacher_eval.json`,
the student's part also from `student_eval.json`), never recomputed here, so
the console, the HTML report and an Airflow task's XCom show the same numbers.
Two comparisons, on two different sets of test rows:

- the teacher against the baselines (it must beat them) and the ceiling (the
  human labels scored against the simulated world's true relevance: the teacher
  learns from those labels, so it cannot be expected to agree with the truth
  more often than they do);
- the distilled student against the teacher (what distillation keeps) and the
  same student trained on human labels only (what the teacher's labels add).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

METRICS = (("accuracy", "acc."), ("quadratic_weighted_kappa", "QWK"), ("macro_f1", "macro-F1"),
           ("ndcg_at_10", "nDCG@10"))
EVALUATION, STUDENT_EVALUATION = "teacher_eval.json", "student_eval.json"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def load_evaluation(reports: Path) -> dict[str, Any] | None:
    """The evaluation report, with the student's own report where evaluate did not nest it."""
    evaluation = _load(reports / EVALUATION)
    if evaluation is not None and not isinstance(evaluation.get("student"), dict):
        student = _load(reports / STUDENT_EVALUATION)
        if student:
            evaluation["student"] = student
    return evaluation


def _cell(block: dict[str, Any] | None, key: str) -> str:
    value = (block or {}).get(key)
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


def _rows(evaluation: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(group, model, metrics) in reading order; a model the report lacks is left out."""
    teacher = "teacher vs baselines and ceiling"
    rows: list[tuple[str, str, dict[str, Any] | None]] = []
    for key, name in (("teacher", "teacher (all text parts)"), ("ablation_teacher", "  title + description only")):
        if isinstance(evaluation.get(key), dict):
            rows.append((teacher, name, evaluation[key].get("test")))
    for name, block in (evaluation.get("baselines") or {}).items():
        rows.append((teacher, "  " + name.replace("_", " "), (block or {}).get("test")))
    if isinstance(evaluation.get("ceiling"), dict):
        rows.append((teacher, "  ceiling: labels vs truth", evaluation["ceiling"]))
    student = evaluation.get("student") if isinstance(evaluation.get("student"), dict) else {}
    if isinstance(student.get("student"), dict):
        group = "student vs teacher and human-only"
        rows.append((group, "distilled student", student["student"]))
        for key, name in (("student_human_only", "  human labels only"),
                          ("teacher_on_scored", "  teacher, rows it labelled"),
                          ("student_on_teacher_scored", "  student, on those rows")):
            if isinstance(student.get(key), dict):
                rows.append((group, name, student[key]))
    return rows


def closing_table(evaluation: dict[str, Any] | None, title: str) -> Table | None:
    """The comparison table (fits 80 columns); None when there is no evaluation report to read."""
    if not evaluation:
        return None
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="Teacher rows: its held-out, query-disjoint human labels; student rows: the human-labelled "
                          "test rows of features/student_examples. The teacher should beat the baselines and come "
                          "near the ceiling; the student should come near the teacher and beat the human-only one.",
                  caption_justify="left")
    table.add_column("model")
    table.add_column("rows", justify="right")
    for _, header in METRICS:
        table.add_column(header, justify="right")
    group = None
    for name_group, name, block in _rows(evaluation):
        if name_group != group:
            if group is not None:
                table.add_section()
            table.add_row(f"[bold]{name_group}[/]")
            group = name_group
        n = (block or {}).get("n")
        table.add_row(name, f"{n:,}" if isinstance(n, int) else "–", *[_cell(block, m) for m, _ in METRICS])
    return table
