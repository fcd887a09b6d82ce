"""Evaluation metrics shared by the teacher and the student: numpy in, plain dicts out.

Labels are 1..5 and probabilities [N, 5] with class index = label - 1, as
everywhere in searchrel. The AUROCs follow Pinterest's paper: labels
binarised at >= 3, >= 4 and >= 5, scored by P(label >= k). Results are plain
Python types so that they go straight into JSON reports and teacher.json.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import numpy as np

LEVELS = np.arange(1, 6)


def expected_relevance(probs: np.ndarray) -> np.ndarray:
    """sum_k p_k * k: the ranking score (1..5) used for nDCG and sorting."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs @ LEVELS.astype(np.float64)


def expected_value(probs: np.ndarray, class_values: Sequence[float]) -> np.ndarray:
    """sum_k p_k * v_k: expected relevance on another scale (e.g. the class means of Home Depot's 1..3 scores)."""
    return np.asarray(probs, dtype=np.float64) @ np.asarray(class_values, dtype=np.float64)


def rmse(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def reliability_bins(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> list[dict[str, float]]:
    """Equal-width bins of top-label confidence with each bin's accuracy: the reliability diagram's points."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) + 1) == np.asarray(y_true)
    # Bins are (lo, hi]; a confidence of exactly 0 cannot happen with 5 classes (>= 0.2).
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        in_bin = which == b
        bins.append({
            "lo": float(edges[b]), "hi": float(edges[b + 1]), "count": int(in_bin.sum()),
            "confidence": float(conf[in_bin].mean()) if in_bin.any() else None,
            "accuracy": float(correct[in_bin].mean()) if in_bin.any() else None,
        })
    return bins


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| * share of rows."""
    bins = reliability_bins(y_true, probs, n_bins)
    total = sum(b["count"] for b in bins)
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))


def classification_metrics(y_true: Sequence[int], probs: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall, confusion matrix, AUROC@>=3/4/5, QWK, ECE, log loss.

    Macro-F1 averages over the labels that occur in the truth or the
    predictions (sklearn's default), so an absent level does not count as 0.
    AUROCs are None when the binarised truth has one class only.
    """
    from sklearn.metrics import (
        accuracy_score,
        cohen_kappa_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != 5 or len(y) != len(probs):
        raise ValueError(f"expected labels [N] and probs [N, 5], got {y.shape} and {probs.shape}")
    if len(y) == 0:
        return {"n": 0}
    if y.min() < 1 or y.max() > 5:
        raise ValueError("labels must be 1..5")
    pred = probs.argmax(axis=1) + 1
    precision, recall, _, support = precision_recall_fscore_support(
        y, pred, labels=LEVELS, zero_division=0
    )
    out: dict[str, Any] = {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "per_class": {
            str(level): {"precision": float(p), "recall": float(r), "support": int(s)}
            for level, p, r, s in zip(LEVELS, precision, recall, support)
        },
        "confusion_matrix": confusion_matrix(y, pred, labels=LEVELS).tolist(),
    }
    for k in (3, 4, 5):
        target = y >= k
        score = probs[:, k - 1 :].sum(axis=1)
        out[f"auroc_ge{k}"] = float(roc_auc_score(target, score)) if 0 < target.sum() < len(y) else None
    kappa = cohen_kappa_score(y, pred, labels=LEVELS, weights="quadratic")
    out["quadratic_weighted_kappa"] = None if np.isnan(kappa) else float(kappa)
    out["expected_calibration_error"] = expected_calibration_error(y, probs)
    out["reliability"] = reliability_bins(y, probs, n_bins=10)
    clipped = np.clip(probs, 1e-12, 1.0)
    out["log_loss"] = float(log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=LEVELS))
    out["mean_expected_relevance"] = float(expected_relevance(probs).mean())
    return out


def _dcg(gains: np.ndarray) -> float:
    return float(np.sum(gains / np.log2(np.arange(2, len(gains) + 2))))


def ndcg_at_k(
    queries: Sequence[str], true_labels: Sequence[int], scores: Sequence[float], k: int = 10
) -> float:
    """Mean over queries of nDCG@k, ranking each query's items by `scores` (expected relevance).

    Gain is label - 1 (an L1 item is worth nothing) with the usual log2 discount.
    Queries with a single item or with no relevant item say nothing about
    ranking and are left out; NaN when no query is left. Ties in `scores` keep
    input order (stable sort), so callers should not rely on tie order.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        groups[q].append(i)
    labels = np.asarray(true_labels, dtype=np.float64)
    scores_arr = np.asarray(scores, dtype=np.float64)
    values = []
    for rows in groups.values():
        if len(rows) < 2:
            continue
        idx = np.asarray(rows)
        gains = labels[idx] - 1.0
        ideal = _dcg(np.sort(gains)[::-1][:k])
        if ideal <= 0:
            continue
        ranked = gains[np.argsort(-scores_arr[idx], kind="stable")][:k]
        values.append(_dcg(ranked) / ideal)
    return float(np.mean(values)) if values else float("nan")
