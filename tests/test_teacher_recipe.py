"""The teacher recipe's parts: ordinal cut-points, per-level and per-language metrics, the loss and optimizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling.metrics import classification_metrics, metrics_by_group
from modeling.ordinal import DEFAULT_CUTPOINTS, decode, decode_probs, fit_cutpoints, quadratic_kappa


def test_decode_counts_cutpoints_below_the_score():
    scores = np.array([0.2, 1.5, 1.51, 2.9, 3.5, 4.49, 4.5, 4.51, 9.0])
    assert decode(scores, DEFAULT_CUTPOINTS).tolist() == [1, 1, 2, 3, 3, 4, 4, 5, 5]
    with pytest.raises(ValueError, match="non-decreasing"):
        decode(scores, [1.5, 3.5, 2.5, 4.5])


def test_fit_cutpoints_is_monotone_and_beats_rounding_on_validation():
    # A teacher whose expected relevance is squeezed towards the middle (the under-confident teacher
    # of the issue): rounding almost never says 1 or 5, fitted cut-points spread the levels back out.
    rng = np.random.default_rng(3)
    labels = rng.integers(1, 6, size=600)
    scores = 3.0 + 0.35 * (labels - 3.0) + rng.normal(0, 0.25, size=600)
    rounded = quadratic_kappa(labels, decode(scores, DEFAULT_CUTPOINTS))
    cuts = fit_cutpoints(scores, labels)
    fitted = quadratic_kappa(labels, decode(scores, cuts))
    assert np.all(np.diff(cuts) >= 0)
    assert fitted > rounded + 0.05
    assert set(decode(scores, cuts).tolist()) == {1, 2, 3, 4, 5}
    # The same cut-points keep their gain on fresh rows drawn the same way (not fitted noise).
    fresh_labels = rng.integers(1, 6, size=600)
    fresh = 3.0 + 0.35 * (fresh_labels - 3.0) + rng.normal(0, 0.25, size=600)
    assert quadratic_kappa(fresh_labels, decode(fresh, cuts)) > quadratic_kappa(fresh_labels, decode(fresh, None)) + 0.05


def test_quadratic_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    y, p = rng.integers(1, 6, 300), rng.integers(1, 6, 300)
    p[:150] = y[:150]
    assert quadratic_kappa(y, p) == pytest.approx(cohen_kappa_score(y, p, weights="quadratic"))


def test_decode_probs_uses_expected_relevance_with_cutpoints_and_argmax_without():
    probs = np.array([[0.4, 0.0, 0.2, 0.0, 0.4], [0.0, 0.6, 0.4, 0.0, 0.0]])
    assert decode_probs(probs, None).tolist() == [1, 2]  # argmax, first of a tie
    assert decode_probs(probs, DEFAULT_CUTPOINTS).tolist() == [3, 2]  # expected 3.0 and 2.4


def test_per_level_recall_and_share_match_a_hand_count():
    y = np.array([1, 1, 2, 3, 3, 3, 5, 5])
    pred = np.array([1, 3, 3, 3, 3, 4, 5, 4])
    report = classification_metrics(y, np.full((8, 5), 0.2), pred)
    per = report["per_class"]
    assert per["1"]["recall"] == pytest.approx(1 / 2)
    assert per["2"]["recall"] == 0.0
    assert per["3"]["recall"] == pytest.approx(2 / 3)
    assert per["5"]["recall"] == pytest.approx(1 / 2)
    assert [per[str(k)]["predicted_share"] for k in range(1, 6)] == pytest.approx([1 / 8, 0, 4 / 8, 2 / 8, 1 / 8])
    assert report["levels_never_predicted"] == [2]
    assert report["accuracy"] == pytest.approx(4 / 8)


def test_metrics_by_language_match_a_hand_computation():
    langs = ["en", "en", "en", "de", "de", None]
    y = np.array([5, 1, 3, 2, 4, 5])
    pred = np.array([5, 2, 3, 2, 2, 5])
    got = metrics_by_group(langs, y, pred)
    assert list(got) == ["en", "de", "unknown"]  # by size
    assert got["en"]["n"] == 3 and got["en"]["accuracy"] == pytest.approx(2 / 3)
    assert got["de"]["accuracy"] == pytest.approx(1 / 2)
    # de: truth (2, 4), predicted (2, 2). Weighted disagreement observed: (4-2)^2/16 = 0.25; expected from the
    # marginals (one 2 and one 4 against two 2s): 1 x 0 + 1 x 0.25 = 0.25; kappa = 1 - 0.25 / 0.25 = 0.
    assert got["de"]["quadratic_weighted_kappa"] == pytest.approx(0.0)
    assert got["unknown"] == {"n": 1, "accuracy": 1.0, "quadratic_weighted_kappa": None, "macro_f1": 1.0}


def test_ordinal_loss_prefers_near_misses():
    from modeling.teacher_training import teacher_loss

    target = torch.tensor([4])  # level 5
    near = torch.log(torch.tensor([[0.01, 0.01, 0.01, 0.67, 0.30]]))
    far = torch.log(torch.tensor([[0.67, 0.01, 0.01, 0.01, 0.30]]))
    # Cross-entropy alone cannot tell them apart: both give level 5 the same probability.
    assert teacher_loss(near, target, None, 0.0).item() == pytest.approx(teacher_loss(far, target, None, 0.0).item())
    assert teacher_loss(near, target, None, 0.5).item() < teacher_loss(far, target, None, 0.5).item()


def test_class_weights_upweight_rare_levels():
    from modeling.teacher_training import class_weights

    labels = np.array([1] * 10 + [2] * 10 + [3] * 10 + [4] * 60 + [5] * 10)
    w = class_weights(labels, "sqrt_inverse")
    assert w[3] < w[0] == pytest.approx(w[1])
    assert w.mean().item() == pytest.approx(1.0)
    assert class_weights(labels, "none") is None


def test_head_gets_its_own_learning_rate():
    from modeling.cross_encoder import CrossEncoder
    from modeling.teacher_optim import build_optimizer
    from searchrel.core.config import TeacherConfig
    from transformers import BertConfig, BertModel

    backbone = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=32))
    model = CrossEncoder(backbone, head_hidden=[8])
    opt = build_optimizer(model, TeacherConfig(learning_rate=2e-5, head_learning_rate=1e-3))
    head_ids = {id(p) for p in model.head.parameters()}
    for group in opt.param_groups:
        is_head = {id(p) in head_ids for p in group["params"]}
        assert len(is_head) == 1
        assert group["lr"] == (1e-3 if is_head.pop() else 2e-5)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_evaluation_reports_both_decodings_and_labels_with_the_chosen_one():
    from modeling.teacher_evaluation import evaluation_report

    # Expected relevance 2.2, 2.9, 4.4: argmax says 1, 3, 5; cut-points at (1.5, 2.5, 3.5, 4.5) say 2, 3, 4.
    probs = np.array([[0.40, 0.20, 0.20, 0.20, 0.00],
                      [0.20, 0.10, 0.50, 0.00, 0.20],
                      [0.00, 0.00, 0.10, 0.40, 0.50]])
    labels = [2, 3, 5]
    cuts = [1.5, 2.5, 3.5, 4.5]
    plain = evaluation_report(["q"] * 3, labels, probs, alternative_cutpoints=cuts)
    assert plain["decoding"] == {"method": "argmax"}
    assert plain["accuracy"] == pytest.approx(2 / 3)  # argmax 1, 3, 5 against 2, 3, 5
    assert plain["decodings"]["argmax"]["accuracy"] == pytest.approx(2 / 3)
    assert plain["decodings"]["cutpoints"]["accuracy"] == pytest.approx(2 / 3)  # 2, 3, 4 against 2, 3, 5
    assert plain["decodings"]["cutpoints"]["cutpoints"] == cuts
    ordinal = evaluation_report(["q"] * 3, labels, probs, cutpoints=cuts)
    assert ordinal["decoding"]["method"] == "cutpoints"
    assert ordinal["per_class"]["2"]["predicted_share"] == pytest.approx(1 / 3)  # argmax never says 2 here
    assert plain["per_class"]["2"]["predicted_share"] == 0.0
    assert "decodings" not in evaluation_report(["q"] * 3, labels, probs)


def test_qwk_selection_reads_the_qwk_of_the_teachers_own_decoding():
    from modeling.teacher_training import _selection_value

    scores = {"loss": 1.2, "qwk": 0.8, "qwk_argmax": 0.7}
    assert _selection_value(scores, "qwk", "cutpoints") == 0.8
    assert _selection_value(scores, "qwk", "argmax") == 0.7
    assert _selection_value(scores, "loss", "argmax") == -1.2
