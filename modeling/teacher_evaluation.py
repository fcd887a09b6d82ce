"""What a trained teacher is judged by: its test report, and its scores on a data set's own scale.

Kept apart from the training loop (`modeling/teacher_training.py`) because the
evaluate job and the quality bench read a saved or fitted teacher's
probabilities here without training anything. The report decodes levels the
way the teacher's `label` does (argmax, or its cut-points) and shows the other
decoding beside it, so a reader sees what each would trade.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from modeling.cross_encoder import CrossEncoder, predict_proba
from modeling.metrics import (
    classification_metrics,
    expected_relevance,
    expected_value,
    metrics_by_group,
    ndcg_at_k,
    rmse,
)


def score_scale_values(train_labels: Sequence[int], train_scores: Sequence[float]) -> list[float] | None:
    """Mean original score per level on train: maps 1..5 back to the dataset's scale (Home Depot's 1..3)."""
    labels = np.asarray(train_labels)
    scores = np.asarray(train_scores, dtype=np.float64)
    ok = ~np.isnan(scores)
    if not ok.any():
        return None
    overall = float(scores[ok].mean())
    return [float(scores[ok & (labels == k)].mean()) if (ok & (labels == k)).any() else overall for k in range(1, 6)]


def evaluation_report(
    queries: Sequence[str],
    labels: Sequence[int],
    probs: np.ndarray,
    raw_scores: Sequence[float] | None = None,
    scale_values: Sequence[float] | None = None,
    cutpoints: Sequence[float] | None = None,
    languages: Sequence[str | None] | None = None,
    alternative_cutpoints: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Classification metrics of the decoded levels + nDCG@10 by expected relevance (+ RMSE on the original scale).

    With `cutpoints` the levels are the ordinal decoding of the expected
    relevance, else argmax: what `label` writes. Both decodings' accuracy and
    QWK go under `decodings` whenever cut-points are known (`cutpoints`, or
    `alternative_cutpoints` that an argmax teacher fitted but does not use), so
    every evaluation shows what the other decoding would trade: cut-points buy
    graded agreement (QWK) and usually cost exact-level accuracy.
    `languages` adds the metrics per query language.
    """
    from modeling.ordinal import decode_probs, quadratic_kappa

    labels_arr = np.asarray(labels, dtype=np.int64)
    pred = decode_probs(probs, cutpoints) if len(labels_arr) else np.zeros(0, dtype=np.int64)
    report = classification_metrics(labels_arr, probs, pred)
    if len(labels_arr) == 0:
        return report
    report["decoding"] = {"method": "argmax"} if cutpoints is None else {
        "method": "cutpoints", "cutpoints": [round(float(c), 6) for c in cutpoints]}
    fitted = cutpoints if cutpoints is not None else alternative_cutpoints
    if fitted is not None:
        views = {"argmax": decode_probs(probs, None), "cutpoints": decode_probs(probs, fitted)}
        report["decodings"] = {
            name: {"accuracy": float((levels == labels_arr).mean()),
                   "quadratic_weighted_kappa": quadratic_kappa(labels_arr, levels)}
            for name, levels in views.items()
        }
        report["decodings"]["cutpoints"]["cutpoints"] = [round(float(c), 6) for c in fitted]
    report["ndcg_at_10"] = ndcg_at_k(queries, labels_arr, expected_relevance(probs), k=10)
    if raw_scores is not None and scale_values is not None:
        scores = np.asarray(raw_scores, dtype=np.float64)
        ok = ~np.isnan(scores)
        if ok.any():
            report["rmse_original_scale"] = rmse(scores[ok], expected_value(probs[ok], scale_values))
            report["scale_values"] = [round(v, 4) for v in scale_values]
    if languages is not None:
        report["by_language"] = metrics_by_group(languages, labels_arr, pred)
    return report


def predict(model: CrossEncoder, tokenizer: Any, meta: dict, queries: Sequence[str], texts: Sequence[str],
            batch_size: int, device: str) -> np.ndarray:
    return predict_proba(model, tokenizer, meta, list(queries), list(texts), batch_size=batch_size, device=device)
