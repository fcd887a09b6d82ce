"""Ordinal decoding: from the teacher's 5-way probabilities to one relevance level.

The head is trained with cross-entropy over five unordered classes, yet the
levels are ordered and graded agreement (quadratic weighted kappa) is what the
labels are judged by. Argmax throws the order away: an uncertain teacher that
spreads its mass over L2..L4 almost never makes L2 or L3 its top class, so the
middle levels vanish from its labels. Decoding the *expected relevance*
sum_k p_k * k with four cut-points fitted on the validation split keeps the
order and lets every level be predicted in the proportion the data supports
(the "optimised rounder" of the Kaggle relevance competitions). The 5-way
probabilities are still what `label` writes; only the single `label` column
uses the cut-points.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from modeling.metrics import LEVELS, expected_relevance

# Rounding to the nearest level: the starting point, and the decoding of a teacher without fitted cut-points.
DEFAULT_CUTPOINTS: tuple[float, ...] = (1.5, 2.5, 3.5, 4.5)


def decode(scores: np.ndarray, cutpoints: Sequence[float] | None = DEFAULT_CUTPOINTS) -> np.ndarray:
    """Levels 1..5: 1 + the number of cut-points strictly below each score."""
    cuts = np.asarray(DEFAULT_CUTPOINTS if cutpoints is None else cutpoints, dtype=np.float64)
    if len(cuts) != len(LEVELS) - 1 or np.any(np.diff(cuts) < 0):
        raise ValueError(f"cut-points must be 4 non-decreasing numbers, got {list(cuts)}")
    return 1 + np.searchsorted(cuts, np.asarray(scores, dtype=np.float64), side="left").astype(np.int64)


def decode_probs(probs: np.ndarray, cutpoints: Sequence[float] | None) -> np.ndarray:
    """Levels from probabilities: cut-points on the expected relevance, or argmax when there are none."""
    probs = np.asarray(probs, dtype=np.float64)
    if cutpoints is None:
        return probs.argmax(axis=1) + 1
    return decode(expected_relevance(probs), cutpoints)


def quadratic_kappa(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Quadratic weighted kappa over levels 1..5 (0 where it is undefined, e.g. one level in the truth)."""
    y = np.asarray(y_true, dtype=np.int64) - 1
    p = np.asarray(y_pred, dtype=np.int64) - 1
    n = len(LEVELS)
    observed = np.zeros((n, n))
    np.add.at(observed, (y, p), 1.0)
    weights = (np.subtract.outer(np.arange(n), np.arange(n)) ** 2) / (n - 1) ** 2
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / max(len(y), 1)
    denominator = (weights * expected).sum()
    return float(1.0 - (weights * observed).sum() / denominator) if denominator > 0 else 0.0


def fit_cutpoints(scores: np.ndarray, labels: np.ndarray, rounds: int = 4, grid: int = 200) -> list[float]:
    """Four non-decreasing cut-points on `scores` that maximise QWK against `labels` (coordinate ascent).

    Each round moves one cut-point at a time to the best of `grid` quantiles of
    the scores between its neighbours, so the order is kept by construction and
    validation QWK never drops below that of plain rounding, the starting point.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    cuts = np.asarray(DEFAULT_CUTPOINTS, dtype=np.float64)
    if len(scores) == 0 or len(np.unique(labels)) < 2:
        return cuts.tolist()
    best = quadratic_kappa(labels, decode(scores, cuts))
    candidates = np.unique(np.quantile(scores, np.linspace(0, 1, grid + 1)))
    # Midpoints between neighbouring candidate scores decide the same rows as any value between them.
    candidates = np.unique(np.concatenate([candidates, (candidates[1:] + candidates[:-1]) / 2]))
    for _ in range(rounds):
        improved = False
        for i in range(len(cuts)):
            lo = cuts[i - 1] if i > 0 else -np.inf
            hi = cuts[i + 1] if i < len(cuts) - 1 else np.inf
            for value in candidates[(candidates >= lo) & (candidates <= hi)]:
                trial = cuts.copy()
                trial[i] = value
                kappa = quadratic_kappa(labels, decode(scores, trial))
                if kappa > best + 1e-12:
                    best, cuts, improved = kappa, trial, True
        if not improved:
            break
    return [float(c) for c in cuts]
