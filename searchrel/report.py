"""The demo's report: one static HTML page with PNG plots under `<warehouse>/reports/`.

It only reads what the jobs left behind (Delta tables for volumes, the JSON
files that evaluation, labelling, serving and validation write), so it can be
rebuilt at any time without rerunning anything. A section whose inputs are
missing says so instead of disappearing, so a reader can tell "not run" from
"nothing to show". The sections are built in `report_sections` (models) and
`report_operations` (how the pipeline ran) and rendered through the Jinja2
templates in `searchrel/templates/report/`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from searchrel import report_operations as ops
from searchrel import report_sections as models
from searchrel.core.config import Config
from searchrel.core.files import write_text_atomic
from searchrel.core.templates import environment
from searchrel.report_sections import Section, fmt, held_out, load_json, metric

log = logging.getLogger(__name__)

# Every pipeline section, in page order; the teacher quality bench's section is
# added after "levels" only where the bench was run.
SECTIONS = (
    ("volumes", "Data volumes"),
    ("teacher", "Teacher against baselines"),
    ("levels", "Teacher per relevance level and per language"),
    ("ablation", "Enriched text ablation"),
    ("student", "Student against teacher"),
    ("scaling", "Scaling with teacher-labelled rows"),
    ("confusion", "Confusion matrices"),
    ("calibration", "Calibration"),
    ("throughput", "Labelling and serving throughput"),
    ("quality", "Data quality"),
)

_TEMPLATES = environment("searchrel", "templates/report")


def render(sections: list[Section], title: str, meta: dict[str, str]) -> str:
    """The page's HTML: a table of `meta`, a navigation bar, then each section (or why it is missing)."""
    return _TEMPLATES.get_template("page.html.j2").render(sections=sections, title=title, meta=meta)


def _evaluation(reports: Path) -> dict[str, Any] | None:
    """teacher_eval.json, with the student's own evaluation folded in where `evaluate` was run without --student."""
    evaluation = load_json(reports / "teacher_eval.json")
    if evaluation is not None and not isinstance(evaluation.get("student"), dict):
        student = load_json(reports / "student_eval.json")
        if student:
            evaluation["student"] = student
    return evaluation


def build_report(
    tables, config: Config, timings: list[tuple[str, str, float]] | None = None, scale: str | None = None
) -> tuple[Path, dict[str, str]]:
    """Write `<warehouse>/reports/index.html` and return its path and a short summary."""
    reports = Path(config.reports_path)
    reports.mkdir(parents=True, exist_ok=True)
    evaluation = _evaluation(reports)
    sections = [
        ops.volumes(tables, reports),
        models.teacher(evaluation, reports),
        models.levels(evaluation),
        models.ablation(evaluation, reports),
        models.student(evaluation, reports),
        models.scaling(reports, reports),
        models.confusion(evaluation, reports),
        models.calibration(evaluation, reports),
        ops.throughput(reports),
        ops.quality(reports),
    ]
    bench = models.teacher_quality(reports)
    if not bench.missing:  # a bench, not a pipeline stage: shown where it was run, never as a gap
        sections.insert(3, bench)
    faults = ops.reliability(reports)
    if not faults.missing:  # bench/faults.py's figures, likewise only where it was run
        sections.append(faults)
    meta = {"generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "warehouse": config.warehouse_path}
    if scale:
        meta["world"] = scale
    if timings:
        meta["pipeline time"] = f"{sum(t for _, _, t in timings) / 60:.1f} min"
    page = write_text_atomic(reports / "index.html", render(sections, "searchrel — pipeline report", meta))
    student = (evaluation or {}).get("student") or {}
    summary = {
        "teacher accuracy (test)": fmt(metric(held_out((evaluation or {}).get("teacher")), "accuracy")),
        "title+description teacher accuracy": fmt(metric(held_out((evaluation or {}).get("ablation_teacher")), "accuracy")),
        "distilled student accuracy": fmt(metric(student.get("student"), "accuracy")),
        "human-only student accuracy": fmt(metric(student.get("student_human_only"), "accuracy")),
        "report sections without data": str(sum(1 for s in sections if s.missing)),
    }
    if timings:
        for title, status, seconds in timings:
            summary[title] = {"ok": f"{seconds:.1f} s", "reused": f"{seconds:.1f} s (earlier run)"}.get(status, status)
    log.info("report written to %s", page)
    return page, summary
