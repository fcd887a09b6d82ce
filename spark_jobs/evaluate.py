"""`searchrel evaluate`: teacher (and student) metrics on the held-out human labels, with baselines.

The teacher is scored on the test split of exactly the rows it was trained
from (its teacher.json names the Delta versions, read back by time travel).
Baselines on the same rows: the majority class, and a BM25-threshold classifier
fitted on the training split. `--ablation-teacher` adds a second teacher (for
example the title + description one) and `--student` the student's own report
(modeling.student_evaluation). In a simulated world the report also holds the ceiling: the
human labels of the test rows scored against eval/true_relevance. The report goes to
<warehouse>/reports/teacher_eval.json.

    searchrel evaluate --teacher current --json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from searchrel.core import catalog
from searchrel.core.errors import UsageError
from searchrel.core.files import write_json_atomic
from spark_jobs import runner

log = logging.getLogger(__name__)

REPORT_NAME = "teacher_eval.json"
TABLE_METRICS = ("accuracy", "macro_f1", "auroc_ge3", "auroc_ge4", "auroc_ge5", "quadratic_weighted_kappa",
                 "ndcg_at_10", "expected_calibration_error", "rmse_original_scale")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", default="current", help="teacher version (default: current)")
    parser.add_argument("--ablation-teacher", help="a second teacher version to report beside the first")
    parser.add_argument("--student", help="student version to evaluate too (needs modeling.student_evaluation)")
    parser.add_argument("--device", help="cpu, cuda … (default: cuda when available)")
    parser.add_argument("--batch-size", type=int, default=64, help="inference batch size")


def _teacher_report(ctx: runner.JobContext, version: str, device: str) -> tuple[dict[str, Any], Any]:
    """(report, the labelled frame with texts) for one saved teacher on its own test split."""
    from modeling import cross_encoder as ce
    from modeling import teacher_evaluation as te
    from features.splits import TEST
    from spark_jobs.teacher_inputs import load_labelled, texts_for

    directory = ce.resolve_teacher_dir(ctx.config.models_path, version)
    model, tokenizer, meta = ce.load_teacher(directory, device=device)
    data = meta.get("training_data", {})
    cfg = ctx.config.teacher
    frame, snapshot = load_labelled(
        ctx.tables, data.get("split", cfg.split), data.get("val_fraction", cfg.val_fraction),
        data.get("test_fraction", cfg.test_fraction), data.get("seed", cfg.seed),
        snapshot={"versions": data.get("versions", {}), "text_source": data.get("text_source")},
    )
    parts = meta.get("parts") or cfg.parts
    frame["text"] = texts_for(frame, parts, ctx.config.features.text.budgets, snapshot["text_source"])
    test = frame[frame["split"] == TEST]
    probs = te.predict(model, tokenizer, meta, test["query"], test["text"], ctx.args.batch_size, device)
    scale = meta.get("scale_values")
    report = te.evaluation_report(
        test["query"].tolist(), test["label"].to_numpy(), probs,
        test["raw_score"].to_numpy(dtype=float) if scale and "raw_score" in test else None, scale,
        cutpoints=(meta.get("decoding") or {}).get("cutpoints"),
        languages=test["lang"].tolist() if "lang" in test else None,
        alternative_cutpoints=(meta.get("decoding") or {}).get("unused_cutpoints"),
    )
    info = {"version": meta.get("version", directory.name), "directory": str(directory), "backbone": meta.get("backbone"),
            "parts": parts, "split": data.get("split"), "weights": meta.get("weights")}
    return {**info, "test": report}, frame


def _baselines(frame, scale: list[float] | None) -> dict[str, Any]:
    from modeling import teacher_evaluation as te
    from modeling.baselines import BM25ThresholdClassifier, MajorityClassifier, bm25_pair_scores
    from features.splits import TEST, TRAIN

    train, test = frame[frame["split"] == TRAIN], frame[frame["split"] == TEST]
    raw = test["raw_score"].to_numpy(dtype=float) if scale and "raw_score" in test else None
    majority = MajorityClassifier().fit(train["label"].to_numpy())
    scores = bm25_pair_scores(frame["query"].tolist(), frame["text"].tolist())
    is_train, is_test = (frame["split"] == TRAIN).to_numpy(), (frame["split"] == TEST).to_numpy()
    bm25 = BM25ThresholdClassifier().fit(scores[is_train], train["label"].to_numpy())
    return {
        "majority_class": {
            "label": int(majority.prior.argmax() + 1),
            "test": te.evaluation_report(test["query"].tolist(), test["label"].to_numpy(),
                                         majority.predict_proba(len(test)), raw, scale),
        },
        "bm25_threshold": {
            **bm25.to_dict(),
            "test": te.evaluation_report(test["query"].tolist(), test["label"].to_numpy(),
                                         bm25.predict_proba(scores[is_test]), raw, scale),
        },
    }


def _ceiling(ctx: runner.JobContext, frame) -> dict[str, Any] | None:
    """The human labels of the teacher's test rows scored against the world's true relevance.

    The teacher learns the human labels, so it cannot be expected to agree with
    the truth more often than they do: this is the number to read its own
    against. Only a simulated world has `eval/true_relevance` (None elsewhere);
    it is read here and nowhere else in the pipeline.
    """
    import numpy as np
    from pyspark.sql import functions as F

    from features.splits import TEST
    from modeling.metrics import classification_metrics

    truth_table = catalog.TRUE_RELEVANCE.name
    test = frame[frame["split"] == TEST][["query", "pin_id", "label"]]
    if test.empty or not ctx.tables.exists(truth_table):
        return None
    truth = (ctx.tables.read(truth_table).where(F.col("query").isin(sorted(set(test["query"]))))
             .select("query", "pin_id", "relevance").toPandas())
    rows = test.merge(truth, on=["query", "pin_id"], how="inner")
    if rows.empty:
        return None
    labels = rows["label"].to_numpy(dtype=np.int64)
    metrics = classification_metrics(rows["relevance"].to_numpy(dtype=np.int64), np.eye(5)[labels - 1], labels)
    return {"what": "human labels scored against the world's true relevance (the teacher's test rows)",
            "n": int(len(rows)), **{k: metrics[k] for k in ("accuracy", "quadratic_weighted_kappa", "macro_f1")}}


def _table(report: dict[str, Any]) -> str:
    rows = [("teacher " + report["teacher"]["version"], report["teacher"]["test"])]
    if "ablation_teacher" in report:
        rows.append(("ablation " + report["ablation_teacher"]["version"], report["ablation_teacher"]["test"]))
    rows += [(name, body["test"]) for name, body in report["baselines"].items()]
    if isinstance(report.get("ceiling"), dict):
        rows.append(("ceiling (labels vs truth)", report["ceiling"]))
    student = report.get("student")
    if isinstance(student, dict) and isinstance(student.get("test"), dict):
        rows.append(("student", student["test"]))
    shown = [m for m in TABLE_METRICS if any(isinstance(r.get(m), (int, float)) for _, r in rows)]
    width = max(len(name) for name, _ in rows)
    lines = [" ".join(["model".ljust(width), *[m[:10].rjust(10) for m in shown]])]
    for name, metrics in rows:
        cells = [f"{metrics[m]:.4f}".rjust(10) if isinstance(metrics.get(m), (int, float)) else "-".rjust(10) for m in shown]
        lines.append(" ".join([name.ljust(width), *cells]))
    n = report["teacher"]["test"].get("n", 0)
    lines.append(f"(test rows: {n}; report: {report['report_path']})")
    return "\n".join(lines)


def _check_models(ctx: runner.JobContext) -> None:
    """Refuse bad version names and a student folder holding pickles before minutes of teacher scoring."""
    from modeling.safe_weights import refuse_pickles
    from searchrel.core.names import check_plain_name

    for what, version in (("teacher version", ctx.args.teacher), ("teacher version", ctx.args.ablation_teacher),
                          ("student version", ctx.args.student)):
        if version is not None:
            check_plain_name(version, what)
    if ctx.args.student:
        from modeling.student import resolve_version_dir

        try:
            refuse_pickles(resolve_version_dir(ctx.config.models_path, ctx.args.student), "student")
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None


def run(ctx: runner.JobContext) -> dict | None:
    from modeling import teacher_training as tt

    _check_models(ctx)
    device = tt.pick_device(ctx.args.device)
    try:
        teacher, frame = _teacher_report(ctx, ctx.args.teacher, device)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    from modeling import cross_encoder as ce

    meta_scale = json.loads((ce.resolve_teacher_dir(ctx.config.models_path, ctx.args.teacher) / ce.TEACHER_JSON)
                            .read_text()).get("scale_values")
    report: dict[str, Any] = {"teacher": teacher, "baselines": _baselines(frame, meta_scale)}
    ceiling = _ceiling(ctx, frame)
    if ceiling is not None:
        report["ceiling"] = ceiling
    if ctx.args.ablation_teacher:
        try:
            report["ablation_teacher"], _ = _teacher_report(ctx, ctx.args.ablation_teacher, device)
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
    if ctx.args.student:
        try:
            from modeling.student_evaluation import evaluate_student  # noqa: PLC0415 - the student's module
        except ImportError as exc:
            raise UsageError(f"--student needs modeling.student_evaluation ({exc})") from None
        examples = catalog.STUDENT_EXAMPLES.name
        report["student"] = evaluate_student(
            ctx.config.models_path, ctx.config.reports_path, list(ctx.tables.read(examples).inputFiles()),
            ctx.tables.version(examples), ctx.args.student,
        )
    path = os.path.join(ctx.config.reports_path, REPORT_NAME)
    report["report_path"] = path
    if "://" not in path:
        write_json_atomic(path, report)
    log.info("wrote %s", path)
    if ctx.args.json:
        return report
    print(_table(report))
    return None


main = runner.entry_point("evaluate", run, dates="none", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
