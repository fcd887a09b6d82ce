"""The demo report's sections over the model evaluations: teacher, levels, ablation, student, scaling, calibration.

Each builder reads what a job left behind (the evaluation JSON, the scaling
experiment) and returns a `Section` of plain data: a caption, tables as
header + rows, images it drew. The page template (`searchrel/templates/report/`)
turns them into HTML, escaping every value. A builder whose input is missing
returns a section with `missing` set, so the page says "not run" instead of
leaving a gap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from modeling.scaling_plot import plot_scaling
from searchrel import report_plots as plots

# (key in an evaluation's metrics, column title); the keys are what modeling.metrics writes.
METRICS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("quadratic_weighted_kappa", "QWK"),
           ("ndcg_at_10", "nDCG@10"))


@dataclass
class Table:
    header: Sequence[str]
    rows: list[Sequence[Any]]


@dataclass
class Section:
    key: str
    title: str
    caption: str = ""
    tables: list[Table] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, text) under the tables
    missing: str | None = None


def load_json(path: Path) -> Any:
    """A job's JSON output, or None where the job has not written it (or is writing it)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def metric(block: dict[str, Any] | None, name: str) -> float | None:
    """A metric's value, None where the block lacks it or holds no number (e.g. a kappa of one class)."""
    value = (block or {}).get(name)
    return float(value) if isinstance(value, (int, float)) else None


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def held_out(block: dict | None) -> dict[str, Any]:
    """Evaluations keep a model's test-split metrics under "test"."""
    return (block or {}).get("test") or {}


def _groups(named: dict[str, dict | None]) -> dict[str, dict[str, float | None]]:
    return {name: {m: metric(block, m) for m, _ in METRICS} for name, block in named.items() if block}


def _metrics_table(groups: dict[str, dict[str, float | None]], first: str = "model") -> Table:
    return Table((first, *[t for _, t in METRICS]), [(n, *[fmt(g[m]) for m, _ in METRICS]) for n, g in groups.items()])


def teacher(evaluation: dict | None, out: Path) -> Section:
    section = Section("teacher", "Teacher against baselines")
    found = held_out((evaluation or {}).get("teacher"))
    if not found:
        section.missing = "no teacher evaluation (run `searchrel evaluate --teacher …`)"
        return section
    named = {"teacher": found}
    for name, block in (evaluation.get("baselines") or {}).items():
        named[name.replace("_", " ")] = held_out(block)
    groups = _groups(named)
    plots.bar_chart(out / "teacher.png", groups, METRICS, "Teacher vs baselines (test split, query-disjoint)")
    section.images.append("teacher.png")
    section.tables.append(_metrics_table(groups))
    best = max((g["accuracy"] or 0 for n, g in groups.items() if n != "teacher"), default=0)
    section.caption = (
        f"The fine-tuned cross-encoder reaches accuracy {fmt(groups['teacher']['accuracy'])} on "
        f"{found.get('n', 0):,} held-out rows of queries it never saw, against {best:.3f} for the best baseline."
    )
    return section


def levels(evaluation: dict | None) -> Section:
    """Recall and predicted share per level, and metrics per query language, for each evaluated teacher."""
    section = Section("levels", "Teacher per relevance level and per language")
    teachers = [(name, held_out((evaluation or {}).get(key))) for name, key in
                (("teacher", "teacher"), ("title + description", "ablation_teacher"))]
    teachers = [(name, block) for name, block in teachers if block.get("per_class")]
    if not teachers:
        section.missing = "no per-level metrics in the teacher evaluation"
        return section
    rows, warnings = [], []
    for name, block in teachers:
        for level, values in sorted(block["per_class"].items()):
            share = values.get("predicted_share")
            flag = "NEVER PREDICTED" if share == 0 else ("rare" if share is not None and share < 0.03 else "")
            rows.append((name, f"L{level}", values.get("support", 0), fmt(values.get("recall")), fmt(share), flag))
        if block.get("levels_never_predicted"):
            warnings.append(f"{name} never predicts level(s) {', '.join(map(str, block['levels_never_predicted']))}")
    section.tables.append(Table(("teacher", "level", "test rows", "recall", "predicted share", ""), rows))
    languages = [(name, lang, v) for name, block in teachers for lang, v in (block.get("by_language") or {}).items()]
    if languages:
        section.tables.append(Table(("teacher", "query language", "test rows", "accuracy", "QWK", "macro-F1"), [
            (name, lang, v["n"], fmt(v.get("accuracy")), fmt(v.get("quadratic_weighted_kappa")), fmt(v.get("macro_f1")))
            for name, lang, v in languages]))
    decoding = (teachers[0][1].get("decoding") or {}).get("method", "argmax")
    how = "cut-points on the expected relevance fitted on validation" if decoding == "cutpoints" else "argmax"
    section.caption = (
        (" ".join(w + "." for w in warnings) + " " if warnings else "Every level is predicted. ")
        + f"Levels are read from the probabilities by {how}; a level below 3% of predictions is marked rare."
    )
    return section


def ablation(evaluation: dict | None, out: Path) -> Section:
    section = Section("ablation", "Enriched text ablation")
    full = held_out((evaluation or {}).get("teacher"))
    title_only = held_out((evaluation or {}).get("ablation_teacher"))
    if not full or not title_only:
        section.missing = "no ablation teacher evaluated (title + description only)"
        return section
    groups = _groups({"all text parts": full, "title + description": title_only})
    plots.bar_chart(out / "ablation.png", groups, METRICS, "Teacher input: enriched text vs title + description")
    section.images.append("ablation.png")
    section.tables.append(_metrics_table(groups, "pin text"))
    delta = (groups["all text parts"]["accuracy"] or 0) - (groups["title + description"]["accuracy"] or 0)
    section.caption = (
        f"Adding captions, engagement query tokens, board titles and long-click link text changes teacher "
        f"accuracy by {delta:+.3f} over title and description alone (the paper's enriched-text experiment)."
    )
    return section


def student(evaluation: dict | None, out: Path) -> Section:
    section = Section("student", "Student against teacher")
    found = (evaluation or {}).get("student") or {}
    if not isinstance(found.get("student"), dict):
        section.missing = "no student evaluation (run `searchrel evaluate --student …`)"
        return section
    groups = _groups({
        "distilled student": found.get("student"),
        "human-labels-only student": found.get("student_human_only"),
        "teacher": found.get("teacher_on_scored"),
        "BM25 ranking": found.get("bm25"),
    })
    plots.bar_chart(out / "student.png", groups, METRICS, "Distilled student vs teacher, human-only student, BM25")
    section.images.append("student.png")
    section.tables.append(_metrics_table(groups))
    distilled = groups["distilled student"]["accuracy"]
    human = groups.get("human-labels-only student", {}).get("accuracy")
    section.caption = (
        f"On {found.get('n_test_rows', 0):,} human-labelled test rows the distilled MLP student reaches accuracy "
        f"{fmt(distilled)} against {fmt(human)} for the same student trained on human labels only "
        "(the teacher is scored on the rows it labelled; BM25 only ranks, so it has nDCG alone)."
    )
    return section


def scaling(reports: Path, out: Path) -> Section:
    section = Section("scaling", "Scaling with teacher-labelled rows")
    found = load_json(reports / "student_scaling.json") or {}
    points = found.get("points") or []
    if not points:
        section.missing = "no scaling experiment found (`searchrel student-train --scaling`)"
        return section
    plot_scaling(points, found.get("human_only_baseline"), out / "scaling.png")
    section.images.append("scaling.png")
    section.tables.append(Table(
        ("point", "teacher rows", "seeds", *[t for _, t in METRICS]),
        [(p.get("point"), f"{p.get('teacher_rows', 0):,}", p.get("seeds", 1),
          *[_with_std(p, m) for m, _ in METRICS]) for p in points],
    ))
    section.caption = (
        f"Student quality as teacher-labelled training rows grow ({found.get('human_train_rows', 0):,} human-labelled "
        "training rows for scale), mean ± standard deviation over the seeds trained at each point; the dashed lines "
        "are the student trained on human labels only. " + _scaling_source(reports, points)
    )
    sizes = load_json(reports / "bench_teacher_size.json") or {}
    if sizes.get("rows"):
        section.tables.append(Table(
            ("teacher backbone", "teacher accuracy", "teacher QWK", f"student accuracy ({sizes.get('point')})",
             "student QWK", "student / teacher QWK"),
            [(r["teacher"].get("backbone") or "default", fmt(metric(r["teacher"], "test_accuracy")),
              fmt(metric(r["teacher"], "test_qwk")), _with_std(r["student"], "accuracy"),
              _with_std(r["student"], "quadratic_weighted_kappa"),
              _share(metric(r["student"], "quadratic_weighted_kappa"), metric(r["teacher"], "test_qwk")))
             for r in sizes["rows"]],
        ))
        section.caption += (
            f" Second table: teacher size → student (bench/student_scaling.py --teachers), each teacher trained on the "
            f"same {sizes.get('human_rows', 0):,} human labels and the student distilled from its scores alone at "
            f"{sizes.get('teacher_rows', 0):,} teacher-labelled rows."
        )
    return section


def _scaling_source(reports: Path, points: list[dict[str, Any]]) -> str:
    """Which experiment the curve is: the scaling bench's world (its summary beside it, same points) or this run's."""
    bench = load_json(reports / "bench_student_scaling.json") or {}
    same = [p.get("teacher_rows") for p in bench.get("student") or []] == [p.get("teacher_rows") for p in points]
    if not (bench and same):
        return "This run's own curve (`searchrel student-train --scaling` on this warehouse's world)."
    teacher = bench.get("teacher") or {}
    text = (f"From bench/student_scaling.py on a {bench.get('scale')} world of its own: a teacher trained on the same "
            f"{bench.get('human_rows', 0):,} human labels (test accuracy {fmt(metric(teacher, 'test_accuracy'))}, "
            f"QWK {fmt(metric(teacher, 'test_qwk'))}) labelled its impressions")
    top = max(points, key=lambda p: p.get("teacher_rows", 0))
    kept = _share(metric(top, "quadratic_weighted_kappa"), metric(teacher, "test_qwk"))
    return text + (f"; at its largest point the student keeps {kept} of the teacher's QWK." if kept != "–" else ".")


def _share(part: float | None, whole: float | None) -> str:
    return "–" if part is None or not whole else f"{part / whole:.0%}"


def _with_std(point: dict[str, Any], key: str) -> str:
    """`0.512 ± 0.004` where the point has a spread across seeds, else the value alone."""
    std = point.get(f"{key}_std")
    return fmt(metric(point, key)) + (f" ± {std:.3f}" if std is not None and point.get("seeds", 1) > 1 else "")


def teacher_quality(reports: Path) -> Section:
    """The teacher quality bench's runs (bench/teacher_quality.py --out <warehouse>/reports), where it was run."""
    section = Section("teacher_quality", "Teacher quality bench")
    found = sorted(reports.glob("teacher_quality_*.json"))
    results = [r for r in (load_json(p) for p in found) if isinstance(r, dict) and r.get("runs")]
    if not results:
        section.missing = "bench/teacher_quality.py has not written here (run it with --out <warehouse>/reports)"
        return section
    rows = []
    for result in results:
        ref = result.get("reference") or {}
        for label, block in (("ceiling: labels vs truth", ref.get("ceiling")), ("majority class", ref.get("majority"))):
            if block:
                rows.append((result["name"], label, "", "", fmt(block.get("accuracy")),
                             fmt(block.get("quadratic_weighted_kappa")), "", ""))
        for run in result["runs"]:
            test = run.get("test") or {}
            what = f"{run['backbone']} · {run['recipe']}" + (" · en only" if run.get("english_only") else "")
            rows.append((result["name"], what, f"{run['train_rows']:,}", run.get("epochs_run"), fmt(test.get("accuracy")),
                         fmt(test.get("quadratic_weighted_kappa")), fmt(test.get("macro_f1")),
                         run.get("seconds_per_epoch")))
        image = reports / f"teacher_quality_{result['name']}.png"
        if image.exists():
            section.images.append(image.name)
    section.tables.append(Table(
        ("data", "teacher", "train labels", "epochs", "accuracy", "QWK", "macro-F1", "s / epoch"), rows))
    section.caption = ("Test metrics per backbone, recipe and number of human labels, beside the ceiling the labels "
                       "themselves allow and the majority class; curves are test metrics at each validation point.")
    return section


def _evaluated_models(evaluation: dict | None) -> list[tuple[str, dict[str, Any]]]:
    """(name, test metrics) of the teacher and the distilled student, where evaluated."""
    found = []
    teacher_block = held_out((evaluation or {}).get("teacher"))
    if teacher_block:
        found.append(("teacher", teacher_block))
    student_block = ((evaluation or {}).get("student") or {}).get("student")
    if isinstance(student_block, dict):
        found.append(("distilled student", student_block))
    return found


def confusion(evaluation: dict | None, out: Path) -> Section:
    section = Section("confusion", "Confusion matrices")
    matrices = [(name, np.asarray(m["confusion_matrix"])) for name, m in _evaluated_models(evaluation)
                if m.get("confusion_matrix")]
    if not matrices:
        section.missing = "no confusion matrices in the evaluation"
        return section
    plots.confusion_chart(out / "confusion.png", matrices)
    section.images.append("confusion.png")
    section.caption = ("Rows are human labels, columns predictions; mass off the diagonal shows which relevance "
                       "levels get confused.")
    return section


def calibration(evaluation: dict | None, out: Path) -> Section:
    section = Section("calibration", "Calibration")
    curves = []
    for name, metrics in _evaluated_models(evaluation):
        bins = [b for b in metrics.get("reliability") or [] if b.get("count")]
        if metrics.get("reliability"):
            curves.append((f"{name} (ECE {fmt(metrics.get('expected_calibration_error'))})",
                           [b["confidence"] for b in bins], [b["accuracy"] for b in bins]))
    if not curves:
        section.missing = "no reliability bins in the evaluation"
        return section
    plots.reliability_chart(out / "calibration.png", curves)
    section.images.append("calibration.png")
    section.caption = "Reliability of the top-class probability: points under the diagonal are over-confident."
    return section
