"""The demo report renders every section from the files the jobs write, through its Jinja2 templates.

The evaluation blocks are made by `modeling.metrics` itself, so the report is
checked against the metric names the evaluators really write.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modeling.metrics import classification_metrics, metrics_by_group


def _block(seed: int, never: int | None = None) -> dict:
    """Test-split metrics of a model on 60 rows; `never` is a level it never predicts."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, 6, 60)
    probs = rng.dirichlet(np.ones(5), 60)
    pred = probs.argmax(axis=1) + 1
    if never is not None:
        pred[pred == never] = 3 if never != 3 else 2
    out = classification_metrics(labels, probs, pred)
    out["ndcg_at_10"] = 0.9
    out["by_language"] = metrics_by_group(["en"] * 40 + ["de"] * 20, labels, pred)
    out["decoding"] = {"method": "cutpoints", "cutpoints": [1.5, 2.5, 3.5, 4.5]}
    return out


def _write(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")


def _reports(reports: Path) -> None:
    """What evaluate, student-train --scaling, label, serving, validate and the bench leave behind."""
    student = {"n_test_rows": 60, "student": _block(3), "student_human_only": _block(4),
               "teacher_on_scored": _block(1), "bm25": {"n": 60, "ndcg_at_10": 0.8}}
    _write(reports / "teacher_eval.json", {
        "teacher": {"test": _block(1, never=5)},
        "ablation_teacher": {"test": _block(2)},
        "baselines": {"majority_class": {"test": _block(5)}, "bm25_threshold": {"test": _block(6)}},
        "student": student,
    })
    points = [{"point": p, "teacher_rows": n, **{k: student["student"][k] for k in
                                                 ("accuracy", "macro_f1", "quadratic_weighted_kappa")},
               "ndcg_at_10": 0.9, "seeds": 3, "accuracy_std": 0.0125} for p, n in (("1x", 100), ("all (4x)", 400))]
    _write(reports / "student_scaling.json", {"human_train_rows": 100, "points": points,
                                              "human_only_baseline": {"accuracy": 0.3, "ndcg_at_10": 0.85}})
    _write(reports / "label_runs.json", [{"start": "2026-11-21", "end": "2026-11-23", "rows": 1308, "seconds": 27.7,
                                          "rows_per_s": 47.2, "backend": "onnx"}])
    _write(reports / "compute_ratio.json", {
        "teacher": {"flops_per_pair": 3.0e9, "seconds_per_pair": 0.02},
        "student": {"flops_per_pair": 2.0e5, "seconds_per_pair": 2.0e-6},
        "student_embeddings_amortised": {"flops_per_pair": 8.0e5, "serving_flops_per_pair": 1.0e6},
        "ratio": {"flops_model_only": 15000.0, "flops_with_amortised_embeddings": 3000.0,
                  "flops_serving_with_query_embedding": 2500.0, "wall_one_core_model_only": 10000.0}})
    _write(reports / "student_serving.json", {"threads": 1, "pins_per_request": 100,
                                              "results": {"onnxruntime": {"rows_per_s": 1.6e5, "p50_ms": 0.47,
                                                                          "p99_ms": 0.61}}})
    run = {"ds": "2026-11-23", "success": False, "rows": 50, "evaluated": 10, "failed": 1,
           "failures": ["column 'event': e.g. '<script>alert(1)</script>'"], "validated_at": "x",
           "data_docs_page": None, "summary_path": "s"}
    _write(reports / "validation" / "index.json", {"tables": {"raw/search_events": {"runs": {"2026-11-23": run},
                                                                                       "latest": run}}})
    _write(reports / "teacher_quality_small.json", {"name": "small", "reference": {"ceiling": {"accuracy": 0.7}},
                                                    "runs": [{"backbone": "minilm", "recipe": "ordinal",
                                                              "train_rows": 1200, "epochs_run": 3,
                                                              "test": {"accuracy": 0.5}, "seconds_per_epoch": 9}]})


def test_sections_render_from_the_evaluators_metric_names_and_escape_values(tmp_path: Path):
    from searchrel import report_operations as ops
    from searchrel import report_sections as models
    from searchrel.report import render

    reports = tmp_path / "reports"
    _reports(reports)
    evaluation = json.loads((reports / "teacher_eval.json").read_text())
    sections = [
        models.teacher(evaluation, reports), models.levels(evaluation), models.teacher_quality(reports),
        models.ablation(evaluation, reports), models.student(evaluation, reports), models.scaling(reports, reports),
        models.confusion(evaluation, reports), models.calibration(evaluation, reports),
        ops.throughput(reports), ops.quality(reports),
    ]
    assert [s.key for s in sections if s.missing] == []
    # QWK is read under the name modeling.metrics writes (quadratic_weighted_kappa), not left blank.
    teacher_rows = sections[0].tables[0].rows
    assert teacher_rows[0][0] == "teacher" and teacher_rows[0][3] == f"{evaluation['teacher']['test']['quadratic_weighted_kappa']:.3f}"
    levels = sections[1]
    assert ("teacher", "L5") in [row[:2] for row in levels.tables[0].rows if row[-1] == "NEVER PREDICTED"]
    assert "teacher never predicts level(s) 5" in levels.caption and "cut-points" in levels.caption
    assert {row[1] for row in levels.tables[1].rows} == {"en", "de"}
    for image in ("teacher.png", "ablation.png", "student.png", "scaling.png", "confusion.png", "calibration.png"):
        assert (reports / image).stat().st_size > 1000, image

    page = render(sections, "searchrel <report>", {"warehouse": "/w&h"})
    for section in sections:
        assert f'<h2 id="{section.key}">' in page
    assert "<title>searchrel &lt;report&gt;</title>" in page and "/w&amp;h" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<a href="validation/index.html">Every validation run</a> · <a href="data_docs/index.html">' in page
    assert "minilm · ordinal" in page and "1,200" in page
    assert "teacher labelling (Spark pandas UDF, onnx)" in page  # the backend each run scored with
    scaling_row = sections[5].tables[0].rows[0]  # mean ± std over the point's seeds
    assert scaling_row[2] == 3 and scaling_row[3].endswith(" ± 0.013") and "±" not in scaling_row[-1]
    compute = sections[8].tables[-1].rows  # teacher against student per pair
    assert compute[1][-1] == "x15,000 FLOPs, x10,000 time" and compute[2][1] == "1.20 M"
    assert compute[2][-1] == "x2,500 FLOPs" and compute[3][1] == "1.00 M"
    assert "Not available" not in page
    assert "This run's own curve" in sections[5].caption  # no scaling bench summary beside it


def test_the_scaling_section_names_the_bench_world_and_shows_teacher_size_to_student(tmp_path: Path):
    from searchrel import report_sections as models

    reports = tmp_path / "reports"
    _reports(reports)
    curve = json.loads((reports / "student_scaling.json").read_text())
    top = curve["points"][-1]
    _write(reports / "bench_student_scaling.json", {
        "scale": "medium", "human_rows": 100, "teacher": {"test_accuracy": 0.5, "test_qwk": 0.8},
        "student": [{"teacher_rows": p["teacher_rows"]} for p in curve["points"]]})
    student = {"accuracy": 0.45, "accuracy_std": 0.01, "quadratic_weighted_kappa": 0.6, "seeds": 3}
    _write(reports / "bench_teacher_size.json", {"point": "10x", "teacher_rows": 1000, "human_rows": 100, "rows": [
        {"teacher": {"backbone": None, "test_accuracy": 0.5, "test_qwk": 0.8}, "student": student},
        {"teacher": {"backbone": "mpnet-base", "test_accuracy": 0.55, "test_qwk": 0.75}, "student": student}]})
    section = models.scaling(reports, reports)
    kept = top["quadratic_weighted_kappa"] / 0.8
    assert "bench/student_scaling.py on a medium world" in section.caption
    assert f"keeps {kept:.0%} of the teacher's QWK" in section.caption
    sizes = section.tables[1].rows
    assert [r[0] for r in sizes] == ["default", "mpnet-base"]
    assert sizes[1][1:] == ("0.550", "0.750", "0.450 ± 0.010", "0.600", "80%")

    # A curve the demo wrote after the bench (other points) is not passed off as the bench's.
    _write(reports / "student_scaling.json", {**curve, "points": curve["points"][:1]})
    assert "This run's own curve" in models.scaling(reports, reports).caption


@pytest.mark.spark
def test_build_report_writes_every_section_and_says_what_is_missing(tables, test_config, tmp_path: Path):
    from searchrel.report import SECTIONS, build_report

    config = test_config.model_copy(update={"warehouse": tables.root})
    reports = Path(config.reports_path)
    _reports(reports)
    (reports / "student_scaling.json").unlink()
    page, summary = build_report(tables, config, timings=[("simulate", "ok", 60.0)], scale="tiny")
    text = page.read_text()
    for key, title in SECTIONS:
        assert f'id="{key}"' in text and title in text
    assert 'id="teacher_quality"' in text  # the bench ran here, so its section is shown
    assert "Not available: no tables found in the warehouse." in text
    assert "Not available: no scaling experiment found" in text
    assert summary["report sections without data"] == "2"
    assert summary["teacher accuracy (test)"] != "–" and summary["simulate"] == "60.0 s"


def test_reliability_section_reads_the_fault_bench(tmp_path: Path):
    """bench/faults.py's summary becomes the reliability table; without the file the section says so."""
    from searchrel.report import render
    from searchrel.report_operations import reliability

    assert reliability(tmp_path).missing and "bench/faults.py" in reliability(tmp_path).missing
    _write(tmp_path / "reliability.json", {
        "command": "bench/faults.py --repeats 2", "generated": "2026-11-24T10:00:00+00:00", "repeats": 2,
        "summary": [{"fault": "kill", "kind": "between commits", "jobs": ["aggregate", "label"], "tries": 2,
                     "rows_lost": 0, "rows_extra": 0, "problems": 0, "recover_s_median": 31.5,
                     "recover_s_max": 40.0}]})
    section = reliability(tmp_path)
    assert section.missing is None
    assert section.tables[0].rows == [("kill", "between commits", "aggregate, label", 2, 0, 0, 0, "31.5 / 40.0 s")]
    assert "Rows lost or extra against an uninterrupted run: 0" in section.caption
    assert '<h2 id="reliability">' in render([section], "r", {})
    assert "at once" not in section.caption
    _write(tmp_path / "reliability.json", {**json.loads((tmp_path / "reliability.json").read_text()), "parallel": 2})
    assert "2 kill-and-rerun repeats ran at once" in reliability(tmp_path).caption
    assert "Partial" not in reliability(tmp_path).caption
    _write(tmp_path / "reliability.json", {**json.loads((tmp_path / "reliability.json").read_text()),
                                           "partial": True, "runs_done": 40, "runs_expected": 200})
    assert "Partial: 40 of the 200 runs" in reliability(tmp_path).caption
