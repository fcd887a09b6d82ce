"""Baselines the teacher must beat, reported beside it: the majority class and a BM25-threshold classifier.

The BM25 baseline asks how far lexical overlap alone gets: each (query, text)
pair gets its Okapi BM25 score (rank-bm25, IDF over the distinct texts seen),
the score axis is cut at quantiles of the training scores, and each bin
predicts the label distribution of its training rows. Thresholds and bin
distributions are fitted on train only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

_TOKEN = re.compile(r"\w+", re.UNICODE)


def bm25_tokens(text: str | None) -> list[str]:
    return _TOKEN.findall((text or "").casefold())


def _label_distribution(labels: np.ndarray, smoothing: float) -> np.ndarray:
    counts = np.bincount(labels - 1, minlength=5).astype(np.float64) + smoothing
    return counts / counts.sum()


@dataclass
class MajorityClassifier:
    """Predicts the training label distribution for every row (argmax = the majority label)."""

    prior: np.ndarray = field(default_factory=lambda: np.full(5, 0.2))

    def fit(self, labels: Sequence[int]) -> "MajorityClassifier":
        self.prior = _label_distribution(np.asarray(labels, dtype=np.int64), smoothing=0.0)
        return self

    def predict_proba(self, n: int) -> np.ndarray:
        return np.tile(self.prior, (n, 1))


def bm25_pair_scores(queries: Sequence[str], texts: Sequence[str], corpus: Sequence[str] | None = None) -> np.ndarray:
    """BM25 score of each query against its own paired text; IDF from `corpus` (default: the distinct texts)."""
    from rank_bm25 import BM25Okapi

    docs = list(dict.fromkeys(corpus if corpus is not None else texts))
    index = {text: i for i, text in enumerate(docs)}
    tokenized = [bm25_tokens(d) for d in docs]
    if not any(tokenized):
        return np.zeros(len(queries))
    bm25 = BM25Okapi([t if t else [""] for t in tokenized])
    out = np.zeros(len(queries), dtype=np.float64)
    for i, (q, t) in enumerate(zip(queries, texts)):
        if t in index:
            out[i] = bm25.get_batch_scores(bm25_tokens(q), [index[t]])[0]
        else:  # a text outside the IDF corpus: score it as a one-off document
            out[i] = _score_unseen(bm25, bm25_tokens(q), bm25_tokens(t))
    return out


def _score_unseen(bm25, query: list[str], doc: list[str]) -> float:
    if not doc:
        return 0.0
    tf: dict[str, int] = {}
    for tok in doc:
        tf[tok] = tf.get(tok, 0) + 1
    score = 0.0
    norm = bm25.k1 * (1 - bm25.b + bm25.b * len(doc) / bm25.avgdl)
    for q in query:
        f = tf.get(q, 0)
        score += bm25.idf.get(q, 0.0) * f * (bm25.k1 + 1) / (f + norm)
    return score


@dataclass
class BM25ThresholdClassifier:
    """Score bins with quantile thresholds fitted on train; each bin predicts its train label distribution."""

    n_bins: int = 10
    smoothing: float = 1.0
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bin_probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))

    def fit(self, scores: Sequence[float], labels: Sequence[int]) -> "BM25ThresholdClassifier":
        scores_arr = np.asarray(scores, dtype=np.float64)
        labels_arr = np.asarray(labels, dtype=np.int64)
        qs = np.quantile(scores_arr, np.linspace(0, 1, self.n_bins + 1)[1:-1]) if len(scores_arr) else []
        self.thresholds = np.unique(np.asarray(qs, dtype=np.float64))
        which = np.searchsorted(self.thresholds, scores_arr, side="right")
        self.bin_probs = np.stack(
            [_label_distribution(labels_arr[which == b], self.smoothing) for b in range(len(self.thresholds) + 1)]
        )
        return self

    def predict_proba(self, scores: Sequence[float]) -> np.ndarray:
        which = np.searchsorted(self.thresholds, np.asarray(scores, dtype=np.float64), side="right")
        return self.bin_probs[which]

    def to_dict(self) -> dict:
        return {"thresholds": self.thresholds.tolist(), "bin_probs": self.bin_probs.round(4).tolist()}
