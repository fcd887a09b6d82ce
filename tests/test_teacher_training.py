"""Teacher training: the labelled rows as of the label date, the query split, the loop, the jobs end to end."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from features.splits import split_for_query
from modeling.tiny_models import make_tiny_bert, make_tiny_llama
from searchrel.core.config import TeacherConfig


PARTS_SCHEMA = "struct<title:string,description:string,caption:string,query_tokens:string,board_tokens:string,link_text:string>"
PIN_TEXT_SCHEMA = f"pin_id string, as_of string, text string, template_version string, parts {PARTS_SCHEMA}"
WORDS = ["sofa", "lamp", "drill", "dress", "chair", "table", "rug", "mirror", "vase", "clock", "desk", "shelf"]


def _parts(title, description=None, query_tokens=None):
    return (title, description, None, query_tokens, None, None)


@pytest.mark.spark
def test_labelled_pin_text_takes_the_snapshot_as_of_the_label_date(spark):
    from modeling.teacher_data import labelled_pin_text

    pin_text = spark.createDataFrame(
        [("p1", "2026-01-01", "", "v1", _parts("old")), ("p1", "2026-01-05", "", "v1", _parts("mid")),
         ("p1", "2026-01-10", "", "v1", _parts("new")), ("p2", "2026-02-01", "", "v1", _parts("later"))],
        PIN_TEXT_SCHEMA,
    )
    labels = spark.createDataFrame(
        [("q1", "p1", 4, "2026-01-07"), ("q2", "p1", 2, "2026-01-10"), ("q3", "p2", 5, "2026-01-01"),
         ("q4", "p9", 1, "2026-01-01")],
        "query string, pin_id string, label int, labeled_ds string",
    )
    got = {(r.query, r.part_title, r.text_as_of, r.text_as_of_after_label)
           for r in labelled_pin_text(labels, pin_text).collect()}
    # q1: latest snapshot on or before 01-07; q2: the same day counts; q3: nothing before -> earliest after;
    # q4: its pin has no text at all -> left out.
    assert got == {("q1", "mid", "2026-01-05", False), ("q2", "new", "2026-01-10", False),
                   ("q3", "later", "2026-02-01", True)}


def test_length_grouped_batches_cover_every_row_once():
    from modeling.teacher_training import length_grouped_batches

    lengths = [5, 50, 7, 48, 6, 49, 8, 47, 9, 46, 10, 45]
    batches = length_grouped_batches(lengths, batch_size=3, rng=np.random.default_rng(0), group=10)
    assert sorted(np.concatenate(batches).tolist()) == list(range(12))
    # Six short and six long rows in batches of three: short rows only ever batch with short rows.
    assert sorted(sorted(lengths[i] for i in b) for b in batches) == [[5, 6, 7], [8, 9, 10], [45, 46, 47], [48, 49, 50]]



def test_layer_depth_reads_bert_mpnet_and_llama_names():
    from modeling.teacher_optim import layer_depth

    assert layer_depth("backbone.embeddings.word_embeddings.weight", 6) == 0
    assert layer_depth("backbone.encoder.layer.0.attention.self.query.weight", 6) == 1
    assert layer_depth("backbone.encoder.layer.5.output.dense.weight", 6) == 6
    assert layer_depth("backbone.base_model.model.model.layers.11.self_attn.q_proj.lora_A.default.weight", 30) == 12
    assert layer_depth("backbone.model.embed_tokens.weight", 30) == 0
    assert layer_depth("backbone.pooler.dense.weight", 6) == 7


def test_layer_rate_decay_lowers_the_rate_layer_by_layer(tmp_path):
    from modeling import cross_encoder as ce
    from modeling.teacher_optim import build_optimizer

    backbone = make_tiny_bert(tmp_path / "bert", seed=1)  # 2 layers
    model, _ = ce.build_teacher(TeacherConfig(backbone=backbone, head_hidden=[8]))
    cfg = TeacherConfig(learning_rate=1e-4, head_learning_rate=1e-3, layer_lr_decay=0.5)
    rates = {id(p): g["lr"] for g in build_optimizer(model, cfg).param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    rate = lambda name: rates[id(named[name])]  # noqa: E731
    assert rate("backbone.encoder.layer.1.output.dense.weight") == pytest.approx(0.5e-4)
    assert rate("backbone.encoder.layer.0.output.dense.weight") == pytest.approx(0.25e-4)
    assert rate("backbone.embeddings.word_embeddings.weight") == pytest.approx(0.125e-4)
    assert rates[id(next(model.head.parameters()))] == pytest.approx(1e-3)
    flat = {id(p): g["lr"] for g in build_optimizer(model, TeacherConfig(learning_rate=1e-4)).param_groups
            for p in g["params"]}
    assert flat[id(named["backbone.embeddings.word_embeddings.weight"])] == pytest.approx(1e-4)


def test_weight_average_follows_the_weights_and_swaps_back():
    from modeling.teacher_optim import WeightAverage

    weight = torch.nn.Parameter(torch.zeros(3))
    average = WeightAverage([weight], decay=0.5)
    with torch.no_grad():
        weight.fill_(1.0)
    for _ in range(30):
        average.update()
    # The decay warms up from (1+t)/(10+t), then holds at 0.5: the average converges on the weights.
    assert torch.allclose(average.average[0], torch.ones(3), atol=1e-6)
    with torch.no_grad():
        weight.fill_(3.0)
    average.update()  # 1 + 0.5 * (3 - 1)
    average.swap()
    assert torch.allclose(weight.detach(), torch.full((3,), 2.0))
    average.swap()
    assert torch.allclose(weight.detach(), torch.full((3,), 3.0))


@pytest.mark.slow
def test_training_lowers_the_loss(tmp_path):
    from modeling import cross_encoder as ce
    from modeling import teacher_training as tt

    path = make_tiny_bert(tmp_path / "bert")
    rng = np.random.default_rng(0)
    queries, texts, labels = [], [], []
    for i in range(48):  # relevant (5) when the title names the query's word, irrelevant (1) otherwise
        q = WORDS[i % len(WORDS)]
        other = WORDS[(i + 1 + rng.integers(len(WORDS) - 1)) % len(WORDS)]
        relevant = i % 2 == 0
        queries.append(q)
        texts.append(f"a {q if relevant else other} for the home")
        labels.append(5 if relevant else 1)
    cfg = TeacherConfig(backbone=path, head_hidden=[16], max_length=32, epochs=6, batch_size=8,
                        learning_rate=2e-3, warmup_ratio=0.0, patience=6, head_dropout=0.0)
    tt.seed_everything(0)
    model, tok = ce.build_teacher(cfg)
    data = tt.make_examples(tok, queries, texts, labels, 32, False)
    before = tt.evaluate_loss(model, data, tok.pad_token_id, 16, "cpu")["loss"]
    history = tt.train(model, tok, cfg, data, data, progress=False)
    after = tt.evaluate_loss(model, data, tok.pad_token_id, 16, "cpu")["loss"]
    assert after < 0.8 * before
    assert history[-1]["val_loss"] <= history[0]["val_loss"]
    assert all(h["examples_per_s"] > 0 for h in history)


def _write_world(spark, tables, n_queries=40):
    """Labels and pin text where relevance is readable from the text (so the split and metrics mean something)."""
    labels, pin_text = [], []
    for qi in range(n_queries):
        query = f"{WORDS[qi % len(WORDS)]} {qi}"
        for k in range(3):
            pin = f"p{qi}_{k}"
            label = [5, 3, 1][k]
            title = f"{WORDS[qi % len(WORDS)]} item" if label > 1 else "unrelated thing"
            labels.append((query, pin, label, "2026-01-05", "sim"))
            pin_text.append((pin, "2026-01-01", "", "v1", _parts(title, "nice", f"q{qi}" if label == 5 else None)))
    tables.overwrite("raw/human_labels", spark.createDataFrame(
        labels, "query string, pin_id string, label int, labeled_ds string, rater_id string"))
    tables.overwrite("features/pin_text", spark.createDataFrame(pin_text, PIN_TEXT_SCHEMA), partition_by=["as_of"])


@pytest.mark.spark
def test_query_split_never_leaks(spark, tables):
    from spark_jobs.teacher_inputs import load_labelled

    _write_world(spark, tables)
    frame, info = load_labelled(tables, "query", 0.2, 0.3, seed=1)
    assert info["text_source"] == "features/pin_text" and info["rows_with_text"] == 120
    by_split = {s: set(frame.loc[frame["split"] == s, "query"]) for s in ("train", "validation", "test")}
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["validation"])
    assert not (by_split["validation"] & by_split["test"])
    # Every query's split is the one the shared split function gives it, in Python.
    assert all(split_for_query(q, 0.2, 0.3) == s for q, s in zip(frame["query"], frame["split"]))
    rows, _ = load_labelled(tables, "rows", 0.2, 0.3, seed=1)
    assert len(rows) == 120 and rows["split"].nunique() == 3


@pytest.mark.spark
@pytest.mark.slow
def test_llama_lora_teacher_trains_saves_and_evaluates_end_to_end(spark, tables, tmp_path, capsys, test_config_file):
    """The decoder + LoRA path through the real jobs: teacher-train, then evaluate with baselines."""
    from modeling.cross_encoder import load_teacher, resolve_teacher_dir
    from searchrel.cli import main

    _write_world(spark, tables)
    llama = make_tiny_llama(tmp_path / "llama")
    common = ["--warehouse", tables.root, "--config", str(test_config_file), "--set", "teacher.epochs=2", "--set", "teacher.batch_size=8",
              "--set", "teacher.max_length=48", "--set", "teacher.head_hidden=[16]",
              "--set", "teacher.lora.enabled=true", "--set", "teacher.learning_rate=0.001"]
    code = main(["teacher-train", "--backbone", llama, "--version", "tiny", "--parts", "title,query_tokens",
                 "--json", *common])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    out = json.loads(captured.out)
    assert out["version"] == "tiny" and out["promoted"] is True
    models = os.path.join(tables.root, "models")
    directory = resolve_teacher_dir(models)
    meta = json.loads((directory / "teacher.json").read_text())
    assert meta["weights"] == "lora" and meta["is_decoder"] and meta["pooling"] == "last_token"
    assert meta["parts"] == ["title", "query_tokens"] and meta["template_version"] == "v1"
    assert meta["training_data"]["versions"]["raw/human_labels"] == 0
    rows = meta["training_data"]["rows"]
    expected_test = sum(3 for qi in range(40) if split_for_query(f"{WORDS[qi % 12]} {qi}", 0.1, 0.2) == "test")
    assert rows["test"] == expected_test and sum(rows.values()) == 120
    assert set(meta["metrics"]["test"]) >= {"accuracy", "macro_f1", "auroc_ge3", "quadratic_weighted_kappa",
                                            "ndcg_at_10", "expected_calibration_error", "confusion_matrix"}
    model, _, _ = load_teacher(directory)
    assert hasattr(model.backbone, "peft_config")  # the adapter came back on top of the base backbone
    code = main(["evaluate", "--teacher", "tiny", "--json", "--warehouse", tables.root, "--config",
                 str(test_config_file)])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    report = json.loads(captured.out)
    assert report["teacher"]["test"]["n"] == expected_test
    # Same held-out rows as training saw: evaluation reproduces the test metrics in teacher.json.
    assert report["teacher"]["test"]["accuracy"] == pytest.approx(meta["metrics"]["test"]["accuracy"])
    assert report["baselines"]["majority_class"]["test"]["n"] == expected_test
    # Every query has one pin each at 5, 3 and 1, so any one label is right on exactly a third of the rows.
    assert report["baselines"]["majority_class"]["test"]["accuracy"] == pytest.approx(1 / 3)
    # The unrelated pins share no word with their query: BM25 scores them 0, a bin of their own that
    # predicts 1 (the 5s and 3s both name the query's word, so they are not separable by BM25).
    assert report["baselines"]["bm25_threshold"]["test"]["per_class"]["1"]["recall"] == 1.0
    assert os.path.exists(os.path.join(tables.root, "reports", "teacher_eval.json"))
