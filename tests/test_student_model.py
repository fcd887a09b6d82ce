"""Student model, distillation loss, streaming training and ONNX export (no Spark: parquet written here)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from modeling.distillation import (
    TrainSettings,
    distillation_loss,
    keep_training,
    lr_factor,
    planned_epochs,
    train_student,
)
from modeling.student import encode, load_student, predict_proba, save_student
from modeling.student_reader import ShuffleBuffer


def _examples(n: int, seed: int, dim: int = 8) -> pa.Table:
    """Rows shaped like features/student_examples whose relevance follows the query-pin cosine."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, dim)).astype(np.float32)
    p = rng.normal(size=(n, dim)).astype(np.float32)
    cos = (q * p).sum(1) / np.linalg.norm(q, axis=1) / np.linalg.norm(p, axis=1)
    label = np.clip(np.round(3 + 3 * cos), 1, 5).astype(int)
    probs = (np.eye(5)[label - 1] * 0.8 + 0.04).astype(np.float32)
    source = np.where(rng.random(n) < 0.1, "human_label", "impression")
    split = np.where(rng.random(n) < 0.8, "train", "validation")
    floats = pa.list_(pa.float32())
    return pa.table({
        "query": [f"q{seed}-{i}" for i in range(n)], "pin_id": [f"p{i}" for i in range(n)],
        "source": source, "split": split, "sample_key": rng.random(n),
        "interest_type": rng.choice(["kitchen", "bath"], n), "query_lang": rng.choice(["en", "de"], n),
        "shopping_intent": rng.random(n), "n_terms": rng.integers(1, 5, n).astype(np.int32),
        "bm25": rng.random(n) * 5, "title_match_frac": rng.random(n), "text_match_frac": rng.random(n),
        "query_pin_cosine": cos.astype(np.float64), "pair_impressions_before_ds": rng.integers(0, 100, n),
        "pair_engagement_rate_smoothed": rng.random(n), "pin_impressions_before_ds": rng.integers(0, 100, n),
        "pin_engagement_rate_smoothed": rng.random(n),
        "query_embedding": pa.array(list(q), type=floats), "pin_text_embedding": pa.array(list(p), type=floats),
        "pin_graph_embedding": pa.array(list(rng.normal(size=(n, 4)).astype(np.float32)), type=floats),
        "teacher_probs": pa.array([list(x) if s == "impression" else None for x, s in zip(probs, source)], type=floats),
        "human_label": pa.array([int(v) if s == "human_label" else None for v, s in zip(label, source)], type=pa.int32()),
    })


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    files = []
    for i in range(3):
        path = root / f"part-{i}.parquet"
        pq.write_table(_examples(1500, seed=i), path, row_group_size=500)
        files.append(f"file:{path}")
    return files


# Two plain passes at a constant rate: what these tests were written against (min_steps and
# patience would add passes).
SETTINGS = TrainSettings(epochs=2, min_steps=0, patience=0, lr_schedule="constant", batch_size=128, shuffle_buffer=1000,
                         arrow_batch_rows=500, hidden=[32], learning_rate=3e-3, progress=False, torch_threads=1)


def test_train_settings_take_every_same_named_field_of_the_student_config():
    from searchrel.core.config import StudentConfig

    cfg = StudentConfig(temperature=3.0, alpha=0.25, hidden=[8], epochs=5, max_rows=100, arrow_batch_rows=64,
                        torch_threads=2, weight_decay=0.5, min_steps=7, max_epochs=9, lr_schedule="cosine",
                        patience=4)
    settings = TrainSettings.from_config(cfg, progress=False)
    assert (settings.temperature, settings.alpha, settings.hidden, settings.epochs, settings.arrow_batch_rows,
            settings.torch_threads, settings.weight_decay) == (3.0, 0.25, [8], 5, 64, 2, 0.5)
    assert (settings.min_steps, settings.max_epochs, settings.lr_schedule, settings.patience) == (7, 9, "cosine", 4)
    with pytest.raises(ValueError):
        StudentConfig(lr_schedule="linear")
    with pytest.raises(ValueError):
        StudentConfig(patience=-1)
    assert settings.max_teacher_rows == 100 and settings.progress is False and settings.mode == "distill"
    assert TrainSettings.from_config(cfg, max_teacher_rows=7).max_teacher_rows == 7


def test_distillation_loss_by_hand():
    logits = torch.zeros((2, 5))  # a uniform student
    teacher = torch.tensor([[0.5, 0.5, 0.0, 0.0, 0.0], [0.2] * 5])
    has_teacher = torch.tensor([True, False])
    labels = torch.tensor([-1, 2])
    loss, parts = distillation_loss(logits, teacher, has_teacher, labels, temperature=1.0, alpha=0.5)
    # KL(p || uniform) = ln 5 - H(p) = ln 2.5 for row 0 only; CE of a uniform student = ln 5 for row 1 only
    assert parts["kl"] == pytest.approx(math.log(2.5), rel=1e-4)
    assert parts["ce"] == pytest.approx(math.log(5), rel=1e-6)
    assert float(loss) == pytest.approx(math.log(2.5) + 0.5 * math.log(5), rel=1e-4)
    # T=2 softens the teacher to p^(1/2) renormalised (zeros clamped to 1e-8); the KL term is scaled by T^2
    soft = np.sqrt(np.array([0.5, 0.5, 1e-8, 1e-8, 1e-8]))
    soft /= soft.sum()
    loss_t2, parts_t2 = distillation_loss(logits, teacher, has_teacher, labels, temperature=2.0, alpha=0.0)
    assert parts_t2["kl"] == pytest.approx(4 * float((soft * np.log(soft / 0.2)).sum()), rel=1e-5)
    assert float(loss_t2) == pytest.approx(parts_t2["kl"])


def test_shuffle_buffer_emits_every_row_once_in_a_new_order_with_bounded_memory():
    buffer = ShuffleBuffer(capacity=250, batch_size=64, rng=np.random.default_rng(0))
    out, peak = [], 0
    for lo in range(0, 1000, 100):
        ids = np.arange(lo, lo + 100)
        out += [mb["label"] for mb in buffer.push({"label": ids, "x": ids * 2})]
        peak = max(peak, buffer.rows)
    out += [mb["label"] for mb in buffer.flush()]
    emitted = np.concatenate(out)
    assert sorted(emitted.tolist()) == list(range(1000))
    assert emitted.tolist() != list(range(1000))
    assert peak < 250 and all(len(b) == 64 for b in out[:-1])


@pytest.mark.slow
def test_streaming_distillation_learns_and_respects_the_row_cap(snapshot, tmp_path):
    model, info = train_student(snapshot, SETTINGS, tmp_path / "ckpt")
    assert info["train_rows"] == info["train_teacher_rows"] + info["train_human_rows"]
    assert info["history"][-1]["rows"] == info["train_rows"]  # every training row once per epoch
    assert info["history"][-1]["val_accuracy"] > 0.6  # chance is below 0.4 on these labels
    assert info["epochs"] == 2 and info["in_memory"]["train"] is False  # more rows than the buffer: streamed
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch-1.safetensors", "epoch-2.safetensors"]
    assert info["peak_rss_mb"] > 0
    import dataclasses

    _, capped = train_student(snapshot, dataclasses.replace(SETTINGS, epochs=1, max_teacher_rows=500), None)
    assert capped["train_impression_rows"] == 500  # exactly the cap: a scaling point's size is what it says
    assert capped["train_human_rows"] == info["train_human_rows"]
    _, human = train_student(snapshot, dataclasses.replace(SETTINGS, epochs=1, mode="human"), None)
    assert human["train_rows"] == info["train_human_rows"] and human["train_teacher_rows"] == 0


def test_the_schedule_raises_a_small_sets_passes_to_min_steps_and_decays_the_rate_to_zero():
    # A medium world's points: 1x (8 steps a pass) hits the cap, 30x (115) needs 9 passes, 100x (374) keeps 3.
    assert [planned_epochs(s, 3, 1000, 30) for s in (8, 115, 374)] == [30, 9, 3]
    assert planned_epochs(10, 5, 0, 2) == 5  # never fewer passes than `epochs`
    assert lr_factor("cosine", 0, 100) == 1.0 and lr_factor("cosine", 50, 100) == pytest.approx(0.5)
    assert lr_factor("cosine", 100, 100) == pytest.approx(0.0) and lr_factor("cosine", 130, 100) == pytest.approx(0.0)
    assert lr_factor("constant", 100, 100) == 1.0
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor("linear", 1, 10)


def test_past_the_planned_passes_training_goes_on_while_validation_improved_within_patience():
    assert keep_training(2, planned=3, best_epoch=1, patience=0, max_epochs=30)  # the plan is always run
    assert not keep_training(3, planned=3, best_epoch=3, patience=0, max_epochs=30)  # patience 0: the plan only
    assert keep_training(3, planned=3, best_epoch=3, patience=2, max_epochs=30)  # still improving: go on
    assert keep_training(5, planned=3, best_epoch=4, patience=2, max_epochs=30)  # best one pass ago
    assert not keep_training(6, planned=3, best_epoch=4, patience=2, max_epochs=30)  # two passes without a gain
    assert not keep_training(30, planned=3, best_epoch=30, patience=2, max_epochs=30)  # the cap holds
    assert not keep_training(3, planned=3, best_epoch=3, patience=2, max_epochs=30, schedule="cosine")  # rate spent


@pytest.mark.slow
def test_training_stops_early_once_validation_loss_has_not_improved_for_patience_passes(snapshot):
    import dataclasses

    settings = dataclasses.replace(SETTINGS, epochs=1, patience=2, max_epochs=12, shuffle_buffer=10_000,
                                   learning_rate=3e-2)
    _, info = train_student(snapshot, settings, None)
    val_ce = [record["val_ce"] for record in info["history"]]
    best = int(np.argmin(val_ce)) + 1
    assert info["best_epoch"] == best and info["planned_epochs"] == 1
    assert info["epochs"] == len(val_ce) == min(settings.max_epochs, best + settings.patience)
    assert len(val_ce) > 1  # it went past the single planned pass


@pytest.mark.slow
def test_a_set_that_fits_the_buffer_trains_in_memory_for_min_steps(snapshot):
    import dataclasses

    settings = dataclasses.replace(SETTINGS, shuffle_buffer=10_000, min_steps=100, max_epochs=6,
                                   lr_schedule="cosine")
    model, info = train_student(snapshot, settings, None)
    steps_per_epoch = math.ceil(info["train_rows"] / settings.batch_size)
    assert info["epochs"] == math.ceil(100 / steps_per_epoch) == len(info["history"]) > settings.epochs
    assert info["in_memory"] == {"train": True, "validation": True}
    assert all(record["rows"] == info["train_rows"] for record in info["history"])  # each pass sees every row once
    assert info["history"][0]["lr"] > 0.5 * settings.learning_rate > 1e3 * info["history"][-1]["lr"]
    assert max(record["val_accuracy"] for record in info["history"]) > 0.6


def test_row_caps_keep_exact_nested_subsets_of_both_sources(snapshot):
    import pyarrow.dataset as pads

    from modeling.student_reader import dataset, key_bound, row_filter

    teacher = row_filter("distill", "train") & (pads.field("source") == "impression")
    available = dataset(snapshot).count_rows(filter=teacher)
    rows = {}
    for n in (0, 1, 37, 500, available - 1):
        bound = key_bound(snapshot, teacher, n)
        kept = dataset(snapshot).to_table(columns=["query"], filter=row_filter("distill", "train", bound)
                                           & (pads.field("source") == "impression"))
        rows[n] = set(kept.column("query").to_pylist())
        assert len(rows[n]) == n, (n, bound)
    assert rows[1] <= rows[37] <= rows[500] <= rows[available - 1]  # a bigger point holds every smaller one
    assert key_bound(snapshot, teacher, available) is None and key_bound(snapshot, teacher, available + 5) is None
    with pytest.raises(ValueError, match=">= 0"):
        key_bound(snapshot, teacher, -1)
    humans = row_filter("human", "train")
    n_human = dataset(snapshot).count_rows(filter=humans)
    bound = key_bound(snapshot, humans, 40)
    assert dataset(snapshot).count_rows(filter=row_filter("human", "train", None, bound)) == 40 < n_human
    # The human cap applies to the distilled student's human rows too, and never to validation rows.
    mixed = row_filter("distill", "train", None, bound) & (pads.field("source") == "human_label")
    assert dataset(snapshot).count_rows(filter=mixed) == 40
    assert row_filter("human", "validation", None, bound).equals(row_filter("human", "validation"))


def test_a_curve_trained_again_after_the_teacher_size_steps_gets_its_own_teachers_features_back(tmp_path):
    from bench.student_scaling import State, features_for

    state = State(tmp_path / "state.json", {"scale": "tiny"})
    for name in ("student-features", "student-train", "teacher-size mpnet-base: student-features",
                 "teacher-size mpnet-base: student-train"):
        state.run(name, lambda: 1)
    features_for(state, "student-features", "student-train")
    assert "student-features" in state.steps  # the curve is trained: nothing to rebuild
    del state.steps["student-train"]  # taken out to train the curve again
    features_for(state, "student-features", "student-train")
    assert "student-features" not in state.steps  # the table holds mpnet's rows: rebuilt first
    state.run("student-features", lambda: 2)
    features_for(state, "student-features", "student-train")
    assert state.steps["student-features"]["result"] == 2  # now the newest: kept


def test_the_scaling_bench_sizes_1x_so_that_its_largest_point_fits_and_every_point_is_exact():
    from bench.student_scaling import QUARANTINE_MARGIN, human_rows_for
    from modeling.student_evaluation import scaling_points

    multiples = [1, 3, 10, 30, 100]
    human = human_rows_for(370_000, multiples)
    assert human == 3589  # floor(370,000 * 0.97 / 100)
    available = int(370_000 * QUARANTINE_MARGIN) + 50  # a few more rows than the margin left
    points = scaling_points(human, available, multiples)
    assert points == [("1x", 3589), ("3x", 10767), ("10x", 35890), ("30x", 107670), ("100x", 358900),
                      ("all (100x)", available)]
    assert human_rows_for(99, multiples) == 1  # never 0 rows
    with pytest.raises(ValueError):
        human_rows_for(1000, [])


@pytest.mark.slow
def test_a_human_row_cap_is_exact_for_the_student_and_its_baseline(snapshot):
    import dataclasses

    capped = dataclasses.replace(SETTINGS, epochs=1, max_human_rows=60, max_teacher_rows=300)
    _, distilled = train_student(snapshot, capped, None)
    _, human = train_student(snapshot, dataclasses.replace(capped, mode="human", max_teacher_rows=None), None)
    assert (distilled["train_human_rows"], distilled["train_impression_rows"]) == (60, 300)
    assert (human["train_human_rows"], human["train_teacher_rows"]) == (60, 0)


def test_saved_and_onnx_models_score_like_the_trained_one(snapshot, tmp_path):
    from modeling.student import ONNX_FILE
    from modeling.student_export import OnnxStudent, export_onnx, score

    import dataclasses

    model, _ = train_student(snapshot, dataclasses.replace(SETTINGS, epochs=1), None)
    directory = save_student(model, tmp_path / "v1", {"note": "test"})
    loaded = load_student(directory)
    export_onnx(loaded, directory / ONNX_FILE)
    assert not loaded.training  # exporting must not switch dropout back on
    rows = _examples(300, seed=9).to_pandas()
    inputs = encode(rows, model.spec)
    reference = predict_proba(model, inputs)
    assert np.abs(predict_proba(load_student(directory), inputs) - reference).max() == 0.0
    onnx = OnnxStudent(directory)
    assert np.abs(onnx.predict(inputs) - reference).max() < 1e-5
    scored = score(directory, rows)
    assert np.allclose(scored["expected_relevance"], reference @ np.arange(1, 6), atol=1e-4)
    # unknown categorical values map to id 0 instead of failing
    rows.loc[0, "interest_type"] = "never seen"
    assert encode(rows, model.spec)["categorical"][0, 0] == 0


def test_a_scaling_point_is_the_mean_and_sample_std_of_its_seeds():
    from modeling.student_evaluation import across_seeds

    runs = [{"seed": 17, "n": 40, "accuracy": 0.50, "macro_f1": 0.30, "quadratic_weighted_kappa": 0.60, "ndcg_at_10": None},
            {"seed": 18, "n": 40, "accuracy": 0.54, "macro_f1": 0.34, "quadratic_weighted_kappa": 0.64, "ndcg_at_10": None},
            {"seed": 19, "n": 40, "accuracy": 0.58, "macro_f1": 0.32, "quadratic_weighted_kappa": 0.62, "ndcg_at_10": None}]
    point = across_seeds(runs)
    assert point["seeds"] == 3 and point["n"] == 40 and point["runs"] == runs
    assert point["accuracy"] == pytest.approx(0.54) and point["accuracy_std"] == pytest.approx(0.04)  # ddof=1
    assert point["macro_f1"] == pytest.approx(0.32) and point["macro_f1_std"] == pytest.approx(0.02)
    assert point["ndcg_at_10"] is None and "ndcg_at_10_std" not in point  # no run had it
    single = across_seeds(runs[:1])
    assert single["accuracy"] == pytest.approx(0.50) and single["accuracy_std"] == 0.0


def test_the_teacher_size_rows_repeat_the_curves_largest_point_with_a_recipe_for_every_backbone():
    from bench.student_scaling import BACKBONE_RECIPES, largest_point
    from modeling.backbones import names

    curve = {"points": [{"point": "1x", "teacher_rows": 709}, {"point": "all (10.3x)", "teacher_rows": 7301},
                        {"point": "10x", "teacher_rows": 7090}]}
    assert largest_point(curve)["point"] == "all (10.3x)"  # by rows, not by position or label
    with pytest.raises(ValueError, match="no points"):
        largest_point({"points": []})
    assert sorted(BACKBONE_RECIPES) == names()  # a backbone without a recipe could not be compared
