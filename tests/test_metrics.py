"""Metrics shared by teacher and student, against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modeling.metrics import (
    classification_metrics,
    expected_calibration_error,
    expected_relevance,
    expected_value,
    ndcg_at_k,
    rmse,
)


def _onehot(labels, p=0.8):
    """Rows putting p on the given label and the rest evenly on the other four."""
    out = np.full((len(labels), 5), (1 - p) / 4)
    out[np.arange(len(labels)), np.asarray(labels) - 1] = p
    return out


def test_expected_relevance_is_the_probability_weighted_level():
    probs = np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0.2, 0.2, 0.2, 0.2, 0.2], [0, 0.5, 0, 0.5, 0]])
    assert expected_relevance(probs).tolist() == pytest.approx([1.0, 5.0, 3.0, 3.0])
    assert expected_value(probs[3:], [1, 1.5, 2, 2.5, 3]).tolist() == pytest.approx([2.0])
    assert rmse([1, 2, 3], [1, 2, 1]) == pytest.approx(math.sqrt(4 / 3))


def test_classification_metrics_by_hand():
    y = [1, 2, 3, 4, 5, 5]
    probs = _onehot([1, 2, 3, 4, 4, 5])  # one L5 predicted as L4
    m = classification_metrics(y, probs)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(5 / 6)
    # F1 per class: 1,1,1, L4: p=1/2 r=1 -> 2/3, L5: p=1 r=1/2 -> 2/3
    assert m["macro_f1"] == pytest.approx((3 + 2 / 3 + 2 / 3) / 5)
    assert m["per_class"]["4"] == {"precision": 0.5, "recall": 1.0, "support": 1,
                                   "predicted_share": pytest.approx(2 / 6)}
    assert m["per_class"]["5"] == {"precision": 1.0, "recall": 0.5, "support": 2,
                                   "predicted_share": pytest.approx(1 / 6)}
    assert m["confusion_matrix"][4] == [0, 0, 0, 1, 1]
    # Quadratic kappa: 1 - sum(w*O)/sum(w*E), w=(i-j)^2, O counts, E = outer(true, pred marginals)/N.
    # O: one miss at distance 1 -> sum(w*O) = 1.
    # true marginals t=[1,1,1,1,2], pred p=[1,1,1,2,1]; per true level i, sum_j (i-j)^2 p_j is
    # 39, 19, 11, 15, 31 -> weighted by t: 39+19+11+15+2*31 = 146, so sum(w*E) = 146/6.
    assert m["quadratic_weighted_kappa"] == pytest.approx(1 - 1 / (146 / 6))
    # Every row's top probability is 0.8 and 5/6 are right: ECE = |5/6 - 0.8|.
    assert m["expected_calibration_error"] == pytest.approx(5 / 6 - 0.8)
    # P(label >= 5) is 0.8 on the row predicted 5, 0.05 elsewhere: the other L5 row ties with negatives.
    # Positives {0.8, 0.05}, negatives four at 0.05: AUROC = (4 + 4*0.5)/8.
    assert m["auroc_ge5"] == pytest.approx(6 / 8)
    # >= 3: positive rows (3,4,5,5) get P(>=3) = 0.9, negatives (1,2) get 0.1: perfect.
    assert m["auroc_ge3"] == pytest.approx(1.0)


def test_auroc_is_none_when_one_class_only():
    m = classification_metrics([4, 4], _onehot([4, 3]))
    assert m["auroc_ge3"] is None and m["auroc_ge5"] is None
    assert m["auroc_ge4"] is None


def test_calibration_error_two_bins():
    probs = np.array([[0.9, 0.025, 0.025, 0.025, 0.025], [0.1, 0.6, 0.1, 0.1, 0.1]])
    # Row 1 right at 0.9, row 2 wrong at 0.6: 0.5*|1-0.9| + 0.5*|0-0.6| = 0.35.
    assert expected_calibration_error(np.array([1, 3]), probs) == pytest.approx(0.35)


def test_ndcg_at_k_by_hand():
    queries = ["a", "a", "a", "b", "c", "c", "d", "d"]
    labels = [3, 1, 2, 5, 5, 4, 1, 1]
    scores = [0.1, 0.9, 0.5, 1.0, 0.9, 0.1, 0.3, 0.2]
    # a: ranked gains (0, 1, 2): DCG = 1/log2(3) + 2/log2(4); ideal 2 + 1/log2(3).
    a = (1 / math.log2(3) + 1) / (2 + 1 / math.log2(3))
    # b: one item (left out); c: already ideal = 1; d: nothing relevant (left out).
    assert ndcg_at_k(queries, labels, scores) == pytest.approx((a + 1.0) / 2)
    # k = 1: a's top item has gain 0 -> 0; c -> 1.
    assert ndcg_at_k(queries, labels, scores, k=1) == pytest.approx(0.5)
    assert math.isnan(ndcg_at_k(["x"], [3], [0.5]))
