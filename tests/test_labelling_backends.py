"""labelling.backend: bf16 and the ONNX graphs score like the PyTorch teacher, are cached, and are recorded per row."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from searchrel.core.errors import UsageError
from searchrel.core.files import read_records

D2, D3 = "2026-11-22", "2026-11-23"
QUERIES = ["navy rug", "q", "wool rug geometric pattern for living room", "cream", "rug", "x y z", "living room"]
LONG = " ".join(["handmade wool area rug with geometric pattern in navy and cream tones"] * 6)
TEXTS = [LONG, "rug", "rug", LONG + " extra words", "", "area " * 30, "sofa"]
# fp32 ONNX is the same arithmetic in another order. int8 weights move a probability by
# about 0.01 on average on a real teacher (bench/label_throughput.py); the tiny teacher's
# head is scaled by 40 (conftest), which scales the error of its pooled vector with it.
FP32_ATOL, INT8_ATOL = 1e-4, 0.15
# bf16 keeps 8 bits of mantissa in the matrix products (LayerNorm, softmax and the head's output
# stay fp32): on the real demo teacher max |dp| 0.015, argmax agreement 0.997.
BF16_ATOL = 0.1


def _probs(teacher_dir: Path, backend: str, cache: Path) -> np.ndarray:
    from modeling.labelling import ScoringOptions, load_cached, score_texts

    loaded = load_cached(ScoringOptions(str(teacher_dir), device="cpu", backend=backend, onnx_cache_dir=str(cache)))
    assert loaded.backend == backend
    return score_texts(loaded, QUERIES, TEXTS, micro_batch_size=3)


def test_onnx_backends_score_like_the_pytorch_teacher(tiny_teacher, tmp_path):
    teacher_dir = tiny_teacher / "teacher" / "t1"
    reference = _probs(teacher_dir, "torch", tmp_path)
    assert np.abs(reference - reference[::-1]).max() > 1e-2  # rows differ: a shuffled row fails FP32_ATOL

    fp32 = _probs(teacher_dir, "onnx", tmp_path)
    np.testing.assert_allclose(fp32, reference, atol=FP32_ATOL)
    int8 = _probs(teacher_dir, "onnx-int8", tmp_path)
    np.testing.assert_allclose(int8.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(int8 - reference).max() < INT8_ATOL
    assert (int8.argmax(axis=1) == reference.argmax(axis=1)).all()  # this teacher's top levels are far apart
    assert np.abs(int8 - reference).max() > 1e-6  # int8 really ran: its arithmetic is not fp32's


def test_the_bf16_backend_scores_like_fp32_where_the_cpu_has_bf16_and_is_refused_where_not(tiny_teacher, tmp_path,
                                                                                           monkeypatch):
    import torch

    from modeling import teacher_onnx
    from spark_jobs.label_impressions import _check_backend

    teacher_dir = tiny_teacher / "teacher" / "t1"
    encoder = {"is_decoder": False, "backbone": "minilm-l6"}
    with pytest.raises(UsageError, match="on a GPU use labelling.backend=torch"):
        _check_backend("torch-bf16", "cuda", encoder, "e1")
    if teacher_onnx.cpu_has_bf16():
        reference = _probs(teacher_dir, "torch", tmp_path)
        bf16 = _probs(teacher_dir, "torch-bf16", tmp_path)
        np.testing.assert_allclose(bf16.sum(axis=1), 1.0, atol=1e-5)
        assert np.abs(bf16 - reference).max() < BF16_ATOL
        assert (bf16.argmax(axis=1) == reference.argmax(axis=1)).all()
        assert np.abs(bf16 - reference).max() > 1e-6  # bf16 really ran
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with pytest.raises(UsageError, match="needs a CPU with bf16 instructions"):
        _check_backend("torch-bf16", "auto", encoder, "e1")


def test_the_graph_is_exported_once_and_again_for_a_retrained_teacher(tiny_teacher, tmp_path):
    import shutil

    from modeling.teacher_onnx import ensure_graph

    teacher_dir = tmp_path / "t1"
    shutil.copytree(tiny_teacher / "teacher" / "t1", teacher_dir)
    cache = tmp_path / "cache"
    graph = ensure_graph(teacher_dir, "onnx", cache)
    made = graph.stat().st_mtime_ns
    assert ensure_graph(teacher_dir, "onnx", cache) == graph and graph.stat().st_mtime_ns == made  # cached
    assert [p.name for p in cache.iterdir()] == [graph.parent.name]  # no temporary folder left behind

    meta = json.loads((teacher_dir / "teacher.json").read_text())
    (teacher_dir / "teacher.json").write_text(json.dumps({**meta, "saved_at": "a later save"}))
    assert ensure_graph(teacher_dir, "onnx", cache) != graph  # a new save is a new graph
    assert ensure_graph(teacher_dir, "onnx-int8", cache).parent not in (graph.parent,)


def test_a_decoder_teacher_or_a_gpu_is_refused_by_the_onnx_backends_with_one_line(tmp_path):
    from modeling.teacher_onnx import UnsupportedTeacher, load_session
    from spark_jobs.label_impressions import _check_backend

    meta = {"is_decoder": True, "backbone": "smollm2-135m"}
    (tmp_path / "teacher.json").write_text(json.dumps(meta))
    with pytest.raises(UnsupportedTeacher, match="labelling.backend=torch"):
        load_session(tmp_path, "onnx", cache_root=tmp_path / "cache")
    with pytest.raises(UsageError, match="teacher d1 is a decoder"):
        _check_backend("onnx-int8", "auto", meta, "d1")
    _check_backend("torch", "auto", meta, "d1")  # the PyTorch loop scores decoders
    encoder = {"is_decoder": False, "backbone": "minilm-l6"}
    with pytest.raises(UsageError, match="runs on CPU"):
        _check_backend("onnx", "cuda", encoder, "e1")
    _check_backend("onnx", "auto", encoder, "e1")  # auto means CPU for the ONNX backends


@pytest.mark.spark
@pytest.mark.slow
def test_each_row_records_its_backend_and_an_older_table_gains_the_column(spark, tables, tiny_teacher, tmp_path):
    from spark_jobs.label_impressions import main

    # labels/teacher_scores as a run before the backend column wrote it: one row of the day before.
    old = spark.createDataFrame(
        [("chair", "p1", D2, "t1", [0.2] * 5, 1, 3.0)],
        "query string, pin_id string, ds string, teacher_version string, probs array<float>, label int, "
        "expected_relevance float",
    ).withColumn("scored_at", F.current_timestamp())
    tables.replace_range("labels/teacher_scores", old, D2, partition_by=["ds"])
    tables.replace_range("raw/impressions", spark.createDataFrame(
        [("chair", "p1", D3, 1, "en"), ("lamp", "p2", D3, 2, "en")],
        "query string, pin_id string, ds string, position int, lang string"), D3)
    tables.overwrite("features/pin_text", spark.createDataFrame(
        [("p1", D3, "blue velvet chair", "v1", "en"), ("p2", D3, "brass lamp", "v1", "en")],
        "pin_id string, as_of string, text string, template_version string, lang string"), partition_by=["as_of"])
    config = tmp_path / "label_test.yaml"
    config.write_text(
        f"models_dir: {tiny_teacher}\nspark:\n  master: local[2]\n  shuffle_partitions: 2\n"
        f"labelling:\n  device: cpu\n  backend: onnx\n  onnx_cache_dir: {tmp_path / 'onnx'}\n"
    )
    assert main(["--warehouse", tables.root, "--config", str(config), "--ds", D3]) == 0

    rows = {(r.ds, r.pin_id): r.backend for r in tables.read("labels/teacher_scores").collect()}
    assert rows == {(D2, "p1"): None, (D3, "p1"): "onnx", (D3, "p2"): "onnx"}
    assert os.listdir(tmp_path / "onnx")  # the workers used the configured cache
    runs = read_records(Path(tables.root) / "reports" / "label_runs")
    assert runs[-1]["backend"] == "onnx"
