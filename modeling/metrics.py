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


def classification_metrics(y_true: Sequence[int], probs: np.ndarray, pred: Sequence[int] | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall, confusion matrix, AUROC@>=3/4/5, QWK, ECE, log loss.

    `pred` are the predicted levels (argmax of `probs` when not given: a
    teacher with ordinal cut-points passes its decoded levels). Macro-F1
    averages over the labels that occur in the truth or the predictions
    (sklearn's default), so an absent level does not count as 0; the
    per-level `predicted_share` and `levels_never_predicted` make such a
    level stand out. AUROCs are None when the binarised truth has one class only.
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
    pred = probs.argmax(axis=1) + 1 if pred is None else np.asarray(pred, dtype=np.int64)
    if len(pred) != len(y):
        raise ValueError(f"{len(pred)} predictions for {len(y)} labels")
    precision, recall, _, support = precision_recall_fscore_support(
        y, pred, labels=LEVELS, zero_division=0
    )
    predicted = np.bincount(pred - 1, minlength=len(LEVELS))
    out: dict[str, Any] = {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "per_class": {
            str(level): {"precision": float(p), "recall": float(r), "support": int(s),
                         "predicted_share": float(c / len(y))}
            for level, p, r, s, c in zip(LEVELS, precision, recall, support, predicted)
        },
        "levels_never_predicted": [int(level) for level, c in zip(LEVELS, predicted) if c == 0],
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


def metrics_by_group(groups: Sequence[Any], y_true: Sequence[int], pred: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Accuracy, QWK and macro-F1 of predicted levels within each group (e.g. each query language).

    Groups are reported in descending size; a missing group value is "unknown".
    """
    from sklearn.metrics import cohen_kappa_score, f1_score

    keys = np.asarray(["unknown" if g is None or g != g else str(g) for g in groups], dtype=object)
    y, p = np.asarray(y_true, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    out: dict[str, dict[str, Any]] = {}
    names, counts = np.unique(keys, return_counts=True)
    for name in names[np.argsort(-counts, kind="stable")]:
        rows = keys == name
        kappa = cohen_kappa_score(y[rows], p[rows], labels=LEVELS, weights="quadratic") if rows.sum() > 1 else np.nan
        out[str(name)] = {
            "n": int(rows.sum()),
            "accuracy": float((y[rows] == p[rows]).mean()),
            "quadratic_weighted_kappa": None if np.isnan(kappa) else float(kappa),
            "macro_f1": float(f1_score(y[rows], p[rows], average="macro", zero_division=0)),
        }
    return out
