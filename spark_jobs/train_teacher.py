"""`searchrel teacher-train`: fine-tune the cross-encoder teacher on raw/human_labels.

Reads the labels joined with features/pin_text as of each label date (or
title + description from raw/pins before pin text exists), splits them by
query (`--split rows` for the row-level split public benchmarks used), trains,
and saves `<models>/teacher/<version>/` with validation and test metrics in
teacher.json, then points `current` at it unless `--no-promote`.

    searchrel teacher-train --parts title,description --version td-only --no-promote
    searchrel teacher-train --backbone smollm2-135m --set teacher.lora.enabled=true
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from searchrel.core.errors import JobFailed, UsageError
from spark_jobs import runner

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", help="a backbone name (minilm-l6, mpnet-base, smollm2-135m) or a local "
                        "folder (default: teacher.backbone)")
    parser.add_argument("--parts", help="comma-separated pin-text parts, e.g. title,description (default: teacher.parts)")
    parser.add_argument("--split", choices=("query", "rows"), help="query-disjoint (default) or row-level split")
    parser.add_argument("--version", help="model version name (default: v<UTC timestamp>)")
    parser.add_argument("--no-promote", action="store_true", help="save the version without moving `current` to it")
    parser.add_argument("--max-train-rows", type=int, help="subsample the training split to this many rows")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when available)")


def teacher_config(ctx: runner.JobContext):
    """The teacher section with the command-line overrides applied (validated like the config file)."""
    from pydantic import ValidationError

    from modeling.teacher_data import check_parts
    from searchrel.core.config import TeacherConfig
    from searchrel.core.errors import ConfigError

    args = ctx.args
    update = {}
    if args.backbone:
        update["backbone"] = args.backbone
    if args.parts:
        try:
            update["parts"] = check_parts(args.parts.split(","))
        except ValueError as exc:
            raise UsageError(f"--parts: {exc}") from None
    if args.split:
        update["split"] = args.split
    if args.max_train_rows is not None:
        update["max_train_rows"] = args.max_train_rows
    try:
        cfg = TeacherConfig.model_validate(ctx.config.teacher.model_dump() | update)
        check_parts(cfg.parts)
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"teacher settings: {str(exc).splitlines()[0]}") from None
    return cfg


def run(ctx: runner.JobContext) -> dict:
    import numpy as np

    from modeling import cross_encoder as ce
    from modeling import teacher_training as tt
    from features.splits import TEST, TRAIN, VALIDATION
    from modeling.teacher_fit import fit_teacher
    from spark_jobs.teacher_inputs import label_distribution, load_labelled, texts_for

    from searchrel.core.names import check_plain_name

    if ctx.args.version is not None:  # checked before the data and the training, not at the save
        check_plain_name(ctx.args.version, "teacher version")
    cfg = teacher_config(ctx)
    if cfg.backbone and os.path.isdir(cfg.backbone):  # a local folder: refused now, not after the data loads
        from modeling.safe_weights import refuse_pickle_only

        refuse_pickle_only(cfg.backbone, "backbone folder")
    if cfg.num_threads:
        import torch

        torch.set_num_threads(cfg.num_threads)
    device = tt.pick_device(ctx.args.device)
    started = time.perf_counter()
    frame, snapshot = load_labelled(ctx.tables, cfg.split, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    if not len(frame):
        raise JobFailed("no labelled pairs with pin text: import or simulate labels first")
    frame["text"] = texts_for(frame, cfg.parts, ctx.config.features.text.budgets, snapshot["text_source"])
    train_df = frame[frame["split"] == TRAIN]
    if cfg.max_train_rows and len(train_df) > cfg.max_train_rows:
        log.info("subsampling train from %d to %d rows (teacher.max_train_rows)", len(train_df), cfg.max_train_rows)
        train_df = train_df.sample(n=cfg.max_train_rows, random_state=cfg.seed)
    val_df, test_df = frame[frame["split"] == VALIDATION], frame[frame["split"] == TEST]
    load_seconds = time.perf_counter() - started
    fitted = fit_teacher(cfg, train_df, val_df, test_df, device=device)
    history, metrics, train_seconds = fitted.history, fitted.metrics, fitted.train_seconds
    meta = dict(fitted.meta)
    version = ctx.args.version or ce.new_version()
    meta.update(
        version=version,
        run_id=ctx.run_id,
        template_version=",".join(snapshot["template_versions"]) or None,
        parts=cfg.parts,
        training_data={
            **snapshot,
            "split": cfg.split,
            "val_fraction": cfg.val_fraction,
            "test_fraction": cfg.test_fraction,
            "seed": cfg.seed,
            "rows": {"train": int(len(train_df)), "validation": int(len(val_df)), "test": int(len(test_df))},
            "max_train_rows": cfg.max_train_rows,
            "label_distribution": label_distribution(frame),
        },
        training={"config": cfg.model_dump(), "history": history, "device": device,
                  "train_seconds": round(train_seconds, 1),
                  "prepare_seconds": round(load_seconds + fitted.prepare_seconds, 1)},
        metrics=metrics,
        scale_values=fitted.scale_values,
    )
    directory = ce.save_teacher(fitted.model, fitted.tokenizer, meta, ce.teacher_root(ctx.config.models_path) / version)
    if not ctx.args.no_promote:
        ce.set_current(ctx.config.models_path, version)
        log.info("teacher %s is now current", version)
    test = metrics["test"]
    return {
        "version": version,
        "directory": str(directory),
        "promoted": not ctx.args.no_promote,
        "backbone": meta["backbone"],
        "parts": cfg.parts,
        "split": cfg.split,
        "rows": meta["training_data"]["rows"],
        "epochs_run": max(h["epoch"] for h in history),
        "train_seconds": round(train_seconds, 1),
        "examples_per_s": round(float(np.mean([h["examples_per_s"] for h in history])), 1),
        "test_accuracy": test.get("accuracy"),
        "test_levels_never_predicted": test.get("levels_never_predicted"),
        "test_macro_f1": test.get("macro_f1"),
        "test_qwk": test.get("quadratic_weighted_kappa"),
        "test_auroc_ge3": test.get("auroc_ge3"),
        "test_ndcg_at_10": test.get("ndcg_at_10"),
        "test_rmse_original_scale": test.get("rmse_original_scale"),
    }


main = runner.entry_point("teacher-train", run, dates="none", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
