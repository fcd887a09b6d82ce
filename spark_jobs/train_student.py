"""`searchrel student-train [--max-rows N] [--scaling]`: distil the student from teacher scores.

Spark is used only to pin the snapshot: the job takes the parquet files of the
current Delta version of features/student_examples (`DataFrame.inputFiles()`)
and PyTorch streams them as Arrow record batches, so training memory does not
grow with the table. Writes `<models_path>/student/<version>/` (weights,
feature spec, ONNX export, checkpoints, and the human-labels-only baseline
under `human_only/`), moves the `current` pointer unless `--no-promote` (the
weekly DAG publishes only after comparing with the current student), evaluates on the test split
(reports/student_eval.json) and, with --scaling, runs the scaling experiment
(reports/student_scaling.json and .png).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from searchrel.core import catalog
from searchrel.core.files import write_json_atomic
from spark_jobs import runner

log = logging.getLogger(__name__)

EXAMPLES = catalog.STUDENT_EXAMPLES.name


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-rows", type=_positive_int, help="cap on teacher-labelled training rows")
    parser.add_argument("--version", help="model version name (default: the run id)")
    parser.add_argument("--scaling", action="store_true", help="also run the scaling experiment")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-promote", action="store_true", help="save the version without moving `current` to it")


def _train_and_save(files: list[str], settings, directory: Path, meta: dict[str, Any]):
    from modeling.distillation import train_student
    from modeling.student import save_student

    model, summary = train_student(files, settings, directory / "checkpoints")
    save_student(model, directory, {**meta, "training": summary})
    return model, summary


def _build_version(files: list[str], settings, directory: Path, meta: dict[str, Any], human_baseline: bool):
    """Everything a student version folder holds: weights, ONNX export, the human-only baseline."""
    import dataclasses

    from modeling.student import ONNX_FILE
    from modeling.student_evaluation import HUMAN_ONLY_DIR
    from modeling.student_export import export_onnx

    model, info = _train_and_save(files, settings, directory, meta)
    export_onnx(model, directory / ONNX_FILE)
    human_info = None
    if human_baseline:
        human_settings = dataclasses.replace(settings, mode="human", max_teacher_rows=None)
        try:
            _, human_info = _train_and_save(files, human_settings, directory / HUMAN_ONLY_DIR, {**meta, "mode": "human"})
        except ValueError as exc:  # no human-labelled training rows: nothing to compare against
            log.warning("human-only baseline skipped: %s", exc)
    return model, info, human_info


def run_scaling(ctx: runner.JobContext, files: list[str], base_settings, n_human: int, available: int,
                baseline: dict[str, Any] | None, trained_on_all: tuple[Any, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Train the distilled student on growing teacher-labelled subsets; table + plot under reports/.

    Each point trains `student.scaling_seeds` students (seeds seed, seed+1, ...) on the same rows and
    reports their mean ± std, so a difference between points can be told from seed noise.
    `trained_on_all` is the (model, summary) of a student already trained on every teacher row with
    these settings: the 'all' point's first seed reuses it instead of training the same model twice.
    """
    import dataclasses

    from modeling.distillation import train_student
    from modeling.scaling_plot import plot_scaling
    from modeling.student_evaluation import across_seeds, evaluate_rows, human_rows, scaling_points, summary

    test = human_rows(files)
    rows = []
    for label, n in scaling_points(n_human, available, ctx.config.student.scaling_multiples):
        runs = []
        for k in range(ctx.config.student.scaling_seeds):
            if k == 0 and trained_on_all is not None and n >= available:
                model, info = trained_on_all
            else:
                settings = dataclasses.replace(base_settings, max_teacher_rows=n, seed=base_settings.seed + k)
                model, info = train_student(files, settings, None)
            runs.append({"seed": base_settings.seed + k, **summary(evaluate_rows(test, {"student": model})["student"])})
        point = across_seeds(runs)
        point.pop("n", None)
        # A point's size is its teacher-labelled impressions, the rows the cap counts (human rows the
        # teacher also scored are in every point alike).
        rows.append({"point": label, "teacher_rows": info["train_impression_rows"], "human_rows": info["train_human_rows"],
                     **point})
        log.info("scaling %s: %s", label, {k: v for k, v in rows[-1].items() if k != "runs"})
    out_dir = Path(ctx.config.reports_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"human_train_rows": n_human, "available_teacher_rows": available, "points": rows,
              "human_only_baseline": baseline}
    write_json_atomic(out_dir / "student_scaling.json", report)
    plot_scaling(rows, baseline, out_dir / "student_scaling.png")
    return report


def run(ctx: runner.JobContext) -> dict[str, Any]:
    import dataclasses

    from modeling.distillation import TrainSettings
    from modeling.registry import publish_staged, staging_dir
    from modeling.student import set_current, student_root
    from modeling.student_evaluation import evaluate_student, summary

    from searchrel.core.names import check_plain_name

    if ctx.args.version is not None:  # checked before the data and the training, not at the save
        check_plain_name(ctx.args.version, "student version")
    cfg = ctx.config
    examples = ctx.tables.read(EXAMPLES)
    files = list(examples.inputFiles())
    table_version = ctx.tables.version(EXAMPLES)
    log.info("student-train: %s version %s, %d files", EXAMPLES, table_version, len(files))
    overrides: dict[str, Any] = {"progress": not ctx.args.no_progress}
    if ctx.args.max_rows:
        overrides["max_teacher_rows"] = ctx.args.max_rows
    settings = TrainSettings.from_config(cfg.student, **overrides)
    version = ctx.args.version or f"v{ctx.run_id}"
    directory = student_root(cfg.models_path) / version
    meta = {"version": version, "student_examples_version": table_version, "files": len(files),
            "temperature": settings.temperature, "alpha": settings.alpha}

    # Built in a hidden staging folder and renamed into place whole (modeling.registry): a run
    # killed while training, saving, exporting or training the baseline leaves no half a version.
    staging = staging_dir(directory)
    try:
        model, info, human_info = _build_version(files, settings, staging, meta, cfg.student.train_human_baseline)
        publish_staged(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result: dict[str, Any] = {
        "version": version, "model_dir": str(directory), "train_rows": info["train_rows"],
        "train_teacher_rows": info["train_teacher_rows"], "train_human_rows": info["train_human_rows"],
        "best_epoch": info["best_epoch"], "train_seconds": info["seconds"], "peak_rss_mb": info["peak_rss_mb"],
    }
    if human_info is not None:
        result["human_only_train_rows"] = human_info["train_rows"]
    if not ctx.args.no_promote:
        set_current(cfg.models_path, version)
    result["promoted"] = not ctx.args.no_promote
    evaluation = evaluate_student(cfg.models_path, cfg.reports_path, list(ctx.tables.read(EXAMPLES).inputFiles()),
                                  ctx.tables.version(EXAMPLES), version)
    for name in ("student", "student_human_only", "teacher_on_scored", "student_on_teacher_scored"):
        if isinstance(evaluation.get(name), dict):
            result[name] = summary(evaluation[name])
    if "bm25" in evaluation:
        result["bm25_ndcg_at_10"] = evaluation["bm25"]["ndcg_at_10"]
    result["eval_report"] = evaluation.get("report")
    if ctx.args.scaling:
        scaling = run_scaling(
            ctx, files, dataclasses.replace(settings, progress=False), info["train_human_rows"],
            info["available_teacher_rows"], result.get("student_human_only"),
            trained_on_all=(model, info) if settings.max_teacher_rows is None else None,
        )
        result["scaling"] = [{k: r[k] for k in ("point", "teacher_rows", "accuracy", "quadratic_weighted_kappa",
                                                 "ndcg_at_10")} for r in scaling["points"]]
    return result


main = runner.entry_point("student-train", run, dates="none", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
