"""One teacher fit, from labelled frames to a trained model and its metrics: the recipe in one place.

`searchrel teacher-train` and `bench/teacher_quality.py` both call
`fit_teacher`, so what the bench measures is exactly what the job ships:
tokenise once, train with selection on validation QWK, fit the ordinal
cut-points on validation, and score validation and test with them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modeling import cross_encoder as ce
from modeling import teacher_evaluation as te
from modeling import teacher_training as tt
from modeling.metrics import expected_relevance
from modeling.ordinal import decode_probs, fit_cutpoints, quadratic_kappa
from searchrel.core.config import TeacherConfig

log = logging.getLogger(__name__)


@dataclass
class FittedTeacher:
    model: Any
    tokenizer: Any
    meta: dict[str, Any]  # what teacher.json records about the model and its decoding
    history: list[dict[str, Any]]
    metrics: dict[str, dict[str, Any]]  # "validation" / "test" -> evaluation_report
    scale_values: list[float] | None
    probs: dict[str, np.ndarray]  # "validation" / "test" -> [N, 5], in the frames' row order
    prepare_seconds: float
    train_seconds: float


def _column(df: pd.DataFrame, name: str) -> np.ndarray | None:
    return df[name].to_numpy() if name in df.columns else None


def fit_teacher(
    cfg: TeacherConfig,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    test_df: pd.DataFrame,
    device: str = "cpu",
    progress: bool = True,
    test_curve: bool = False,
) -> FittedTeacher:
    """Train on `train_df`, select and fit cut-points on `val_df`, report on both.

    Frames carry query, text, label (1..5) and optionally raw_score (a
    dataset's own scale, for RMSE) and lang (for per-language metrics).
    `test_curve` also scores the test split at every validation point (its
    accuracy and QWK under that point's cut-points go into the history): the
    learning curves of the quality bench, never used to choose anything.
    """
    started = time.perf_counter()
    tt.seed_everything(cfg.seed)
    model, tokenizer = ce.build_teacher(cfg)
    sets = {
        name: tt.make_examples(tokenizer, df["query"].tolist(), df["text"].tolist(), df["label"].tolist(),
                               cfg.max_length, model.is_decoder)
        for name, df in (("train", train_df), ("validation", val_df), ("test", test_df))
    }
    prepare_seconds = time.perf_counter() - started
    pad_id = ce._pad_id(tokenizer)

    def score_test(model_now: ce.CrossEncoder, scores: dict[str, Any]) -> dict[str, Any]:
        probs_now = tt.predict_examples(model_now, sets["test"], pad_id, cfg.batch_size * 2, device)
        pred = decode_probs(probs_now, scores["cutpoints"] if cfg.decoding == "cutpoints" else None)
        labels = sets["test"].labels
        return {"test_accuracy": float((pred == labels).mean()), "test_qwk": quadratic_kappa(labels, pred)}

    history = tt.train(model, tokenizer, cfg, sets["train"], sets["validation"], device=device, progress=progress,
                       on_eval=score_test if test_curve and len(test_df) else None)
    train_seconds = _train_seconds(history)
    probs = {name: tt.predict_examples(model, sets[name], pad_id, cfg.batch_size * 2, device)
             for name in ("validation", "test")}
    # Fitted whatever the decoding: an argmax teacher still reports what cut-points would trade.
    fitted_cuts = (fit_cutpoints(expected_relevance(probs["validation"]), val_df["label"].to_numpy())
                   if len(val_df) else None)
    cutpoints = fitted_cuts if cfg.decoding == "cutpoints" else None
    scale = (te.score_scale_values(train_df["label"].to_numpy(), train_df["raw_score"].to_numpy(dtype=float))
             if "raw_score" in train_df.columns else None)
    metrics = {}
    for name, df in (("validation", val_df), ("test", test_df)):
        raw = df["raw_score"].to_numpy(dtype=float) if scale and "raw_score" in df.columns else None
        metrics[name] = te.evaluation_report(df["query"].tolist(), df["label"].to_numpy(), probs[name], raw, scale,
                                             cutpoints, _column(df, "lang"), alternative_cutpoints=fitted_cuts)
    meta = dict(model.meta_defaults)
    meta["decoding"] = {"method": "argmax"} if cutpoints is None else {
        "method": "cutpoints", "cutpoints": cutpoints, "fitted_on": "validation"}
    if cutpoints is None and fitted_cuts is not None:
        # Not `cutpoints`: labelling and the teacher-scores suite decode with that key when it is there.
        meta["decoding"]["unused_cutpoints"] = fitted_cuts
    return FittedTeacher(model, tokenizer, meta, history, metrics, scale, probs, prepare_seconds, train_seconds)


def _train_seconds(history: list[dict[str, Any]]) -> float:
    """Training time summed over epochs (each entry's `seconds` is cumulative within its epoch)."""
    last_in_epoch: dict[int, float] = {}
    for entry in history:
        last_in_epoch[int(np.ceil(entry["epoch"] - 1e-9))] = entry["seconds"]
    return float(sum(last_in_epoch.values()))
