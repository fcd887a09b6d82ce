"""Teacher labelling: UDF correctness under length sorting, incremental/no-op/--force, crash-resume, quarantine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from searchrel.core.files import read_records

# Python workers must run this interpreter (torch, numpy), not whatever python3 is on PATH.

D1, D2, D3 = "2026-11-21", "2026-11-22", "2026-11-23"
IMPRESSIONS_SCHEMA = "query string, pin_id string, ds string, position int, lang string"
PIN_TEXT_SCHEMA = "pin_id string, as_of string, text string, template_version string, lang string"

SHORT = "rug"
LONG = " ".join(["handmade wool area rug with geometric pattern in navy and cream tones"] * 6)


@pytest.fixture(scope="module")
def models_dir(tiny_teacher) -> Path:
    """The shared tiny random BERT teacher (conftest.tiny_teacher): version t1, `current`."""
    return tiny_teacher


@pytest.fixture(scope="module")
def teacher(models_dir):
    from modeling.cross_encoder import load_teacher

    return load_teacher(models_dir / "teacher" / "t1")


def _rows():
    """Queries and texts of very different lengths, deliberately not in length order."""
    queries = ["navy rug", "q", "wool rug geometric pattern for living room", "cream", "rug", "x y z", "living room"]
    texts = [LONG, SHORT, "rug", LONG + " extra words", "", "area " * 30, "sofa"]
    return queries, texts


# -- the scoring core (no Spark) -------------------------------------------------


def test_sorted_micro_batches_match_predict_proba_and_keep_row_order(models_dir, teacher):
    from modeling.cross_encoder import predict_proba
    from modeling.labelling import ScoringOptions, load_cached, score_texts, summarise
    from modeling.teacher_inference import micro_batches

    model, tokenizer, meta = teacher
    queries, texts = _rows()
    loaded = load_cached(ScoringOptions(str(models_dir / "teacher" / "t1"), device="cpu"))
    got = score_texts(loaded, queries, texts, micro_batch_size=2)
    reference = predict_proba(model, tokenizer, meta, queries, texts, batch_size=1)  # one row per pass: no padding
    np.testing.assert_allclose(got, reference, atol=1e-5)
    # The check has teeth: rows differ by far more than the tolerance, so a shuffled row would fail it.
    assert np.abs(reference - reference[::-1]).max() > 1e-2
    # Length sorting really reorders: the 2-row batches are not the input order.
    lengths = [3, 50, 5, 60, 2, 30, 4]
    assert [b.tolist() for b in micro_batches(lengths, 2)] == [[4, 0], [6, 2], [5, 1], [3]]
    summary = summarise(got)
    assert summary["label"].tolist() == (got.argmax(axis=1) + 1).tolist()
    np.testing.assert_allclose(summary["expected_relevance"], got @ np.arange(1, 6), rtol=1e-5)


def test_label_is_the_teachers_cutpoint_decoding_when_it_has_one():
    from modeling.labelling import summarise

    probs = np.array([[0.4, 0.0, 0.2, 0.0, 0.4], [0.05, 0.6, 0.3, 0.05, 0.0], [0.0, 0.0, 0.1, 0.2, 0.7]])
    assert summarise(probs)["label"].tolist() == [1, 2, 5]  # no cut-points: argmax
    # Expected relevance 3.0, 2.35, 4.6; cut-points (1.5, 2.3, 3.1, 4.7) read them as 3, 3, 4.
    assert summarise(probs, [1.5, 2.3, 3.1, 4.7])["label"].tolist() == [3, 3, 4]


def test_scoring_options_take_the_labelling_config_section():
    from modeling.labelling import ScoringOptions
    from searchrel.core.config import LabellingConfig

    cfg = LabellingConfig(micro_batch_size=7, device="cpu", gpu_dtype="fp16", torch_threads=3, max_length=40)
    assert ScoringOptions.from_config(Path("/m/teacher/t1"), cfg) == ScoringOptions(
        "/m/teacher/t1", micro_batch_size=7, max_length=40, device="cpu", gpu_dtype="fp16", torch_threads=3)


def test_worker_cache_loads_the_teacher_once(models_dir):
    from modeling.labelling import ScoringOptions, load_cached

    opts = ScoringOptions(str(models_dir / "teacher" / "t1"), device="cpu")
    assert load_cached(opts) is load_cached(opts)


# -- the pure input transform ------------------------------------------------------


@pytest.mark.spark
def test_inputs_join_pin_text_as_of_ds_and_reject_what_cannot_be_scored(spark):
    from features.labelling_inputs import (REASON_DUPLICATE, REASON_EMPTY_QUERY, REASON_NO_PIN_TEXT,
                                           labelling_inputs)

    impressions = spark.createDataFrame(
        [
            ("chair", "p1", D2, 1, "en"),  # p1 text as of D1 (the D3 version is later)
            ("chair", "p1", D3, 1, "en"),  # p1 text as of D3
            ("  ", "p1", D3, 2, "en"),  # empty query
            ("lamp", "p2", D2, 1, "en"),  # p2 has text only from D3 on
            ("lamp", "p1", D3, 3, "en"),
            ("lamp", "p1", D3, 9, "en"),  # duplicate key, later position
            ("sofa", "p9", D1, 1, "en"),  # outside the window
        ],
        IMPRESSIONS_SCHEMA,
    )
    pin_text = spark.createDataFrame(
        [("p1", D1, "old chair text", "v1", "en"), ("p1", D3, "new chair text", "v1", "en"),
         ("p2", D3, "lamp text", "v1", "en")],
        PIN_TEXT_SCHEMA,
    )
    good, bad = labelling_inputs(impressions, pin_text, D2, D3)
    assert sorted((r.query, r.pin_id, r.ds, r.text, r.pin_text_as_of) for r in good.collect()) == [
        ("chair", "p1", D2, "old chair text", D1),
        ("chair", "p1", D3, "new chair text", D3),
        ("lamp", "p1", D3, "new chair text", D3),
    ]
    assert sorted((r.query, r.pin_id, r.ds, r.position, r.reason) for r in bad.collect()) == [
        ("  ", "p1", D3, 2, REASON_EMPTY_QUERY),
        ("lamp", "p1", D3, 9, REASON_DUPLICATE),
        ("lamp", "p2", D2, 1, REASON_NO_PIN_TEXT),
    ]


# -- the UDF inside Spark ------------------------------------------------------------


@pytest.mark.spark
def test_pandas_udf_scores_equal_direct_model_output_under_length_sorting(spark, models_dir, teacher):
    from modeling.cross_encoder import predict_proba
    from modeling.labelling import ScoringOptions, score_pairs

    model, tokenizer, meta = teacher
    queries, texts = _rows()
    rows = [(q, f"p{i}", D3, t) for i, (q, t) in enumerate(zip(queries, texts))]
    pairs = spark.createDataFrame(rows, "query string, pin_id string, ds string, text string").repartition(2)
    opts = ScoringOptions(str(models_dir / "teacher" / "t1"), micro_batch_size=2, device="cpu")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "3")  # several Arrow batches per task
    try:
        scored = score_pairs(pairs, opts, "t1")
        plan = scored._jdf.queryExecution().executedPlan().toString()
        got = {r.pin_id: r for r in scored.collect()}
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert plan.count("ArrowEvalPython") == 1  # the teacher runs once per row, not once per output column
    reference = predict_proba(model, tokenizer, meta, queries, texts, batch_size=1)
    for i in range(len(rows)):
        row = got[f"p{i}"]
        np.testing.assert_allclose(row.probs, reference[i], atol=1e-5)
        assert row.label == int(reference[i].argmax()) + 1
        assert row.expected_relevance == pytest.approx(float(reference[i] @ np.arange(1, 6)), abs=1e-4)
        assert row.teacher_version == "t1" and row.scored_at is not None


# -- the job ---------------------------------------------------------------------------


def _write_inputs(tables, spark, impressions: list[tuple]) -> None:
    tables.replace_range("raw/impressions", spark.createDataFrame(impressions, IMPRESSIONS_SCHEMA), D1, D3)
    pin_text = spark.createDataFrame(
        [("p1", D1, "blue velvet chair", "v1", "en"), ("p2", D1, LONG, "v1", "en"), ("p3", D1, "brass lamp", "v1", "en")],
        PIN_TEXT_SCHEMA,
    )
    tables.overwrite("features/pin_text", pin_text, partition_by=["as_of"])


def _label(tables, models_dir, *extra: str, chunk_rows: int = 100) -> int:
    """Run the job as the CLI does, on the code's defaults (a config file of our own, not the shared one)."""
    from spark_jobs.label_impressions import main

    config = Path(tables.root).parent / "label_test.yaml"
    config.write_text(
        f"models_dir: {models_dir}\nspark:\n  master: local[2]\n  shuffle_partitions: 2\n"
        f"labelling:\n  chunk_rows: {chunk_rows}\n  device: cpu\n"
    )
    return main(["--warehouse", tables.root, "--config", str(config), *extra])


def _scores(tables):
    return sorted(
        (r.query, r.pin_id, r.ds, r.teacher_version, r.scored_at)
        for r in tables.read("labels/teacher_scores").collect()
    )


@pytest.mark.spark
@pytest.mark.slow
def test_job_is_incremental_a_noop_when_done_and_force_replaces_atomically(spark, tables, models_dir):
    day = [("chair", "p1", D3, 1, "en"), ("chair", "p2", D3, 2, "en"), ("lamp", "p3", D3, 1, "en"),
           ("", "p1", D3, 3, "en"), ("lamp", "p404", D3, 2, "en")]
    _write_inputs(tables, spark, day)
    assert _label(tables, models_dir, "--ds", D3) == 0
    first = _scores(tables)
    assert [r[:4] for r in first] == [("chair", "p1", D3, "t1"), ("chair", "p2", D3, "t1"), ("lamp", "p3", D3, "t1")]
    quarantine = tables.read("quarantine/labels_teacher_scores").collect()
    assert sorted((json.loads(r.row)["pin_id"], r.reason, r.ds) for r in quarantine) == [
        ("p1", "empty query", D3), ("p404", "no pin text as of ds", D3)]
    out = tables.read("labels/teacher_scores")
    assert out.where(F.abs(F.aggregate("probs", F.lit(0.0), lambda a, x: a + x) - 1) > 1e-4).count() == 0
    assert out.where(F.col("label") != F.array_position("probs", F.array_max("probs"))).count() == 0

    version = tables.version("labels/teacher_scores")
    assert _label(tables, models_dir, "--ds", D3) == 0  # finished day: nothing scored, nothing committed
    assert tables.version("labels/teacher_scores") == version and _scores(tables) == first

    _write_inputs(tables, spark, day + [("rug", "p2", D3, 4, "en"), ("rug", "p1", D3, 5, "en")])
    assert _label(tables, models_dir, "--ds", D3) == 0  # only the two new impressions are scored
    second = _scores(tables)
    assert len(second) == 5 and set(first) <= set(second)

    # A second teacher version's rows must survive a --force of t1.
    tables.append("labels/teacher_scores", tables.read("labels/teacher_scores").limit(1)
                  .withColumn("teacher_version", F.lit("t0")))
    before = tables.version("labels/teacher_scores")
    assert _label(tables, models_dir, "--ds", D3, "--force", "--teacher", "t1") == 0
    assert tables.version("labels/teacher_scores") == before + 1  # one atomic commit
    forced = _scores(tables)
    t1 = [r for r in forced if r[3] == "t1"]
    assert [r[:4] for r in t1] == [r[:4] for r in second]
    assert all(r[4] > max(s[4] for s in second) for r in t1)  # every t1 row rescored
    assert sum(r[3] == "t0" for r in forced) == 1

    runs = read_records(Path(tables.root) / "reports" / "label_runs")
    assert [r["rows"] for r in runs] == [3, 0, 2, 5]
    assert all(r["rows_quarantined"] == 2 for r in runs)


@pytest.mark.spark
@pytest.mark.slow
def test_a_crash_between_chunks_then_a_rerun_scores_every_row_exactly_once(spark, tables, models_dir, monkeypatch):
    from spark_jobs.label_impressions import CRASH_ENV

    day = [(f"query {i}", f"p{1 + i % 3}", D2, i, "en") for i in range(12)]
    _write_inputs(tables, spark, day)
    monkeypatch.setenv(CRASH_ENV, "1")
    assert _label(tables, models_dir, "--ds", D2, chunk_rows=6) == 1  # 2 chunks; dies after the first commit
    committed = _scores(tables)
    assert 0 < len(committed) < 12
    monkeypatch.delenv(CRASH_ENV)
    assert _label(tables, models_dir, "--ds", D2, chunk_rows=6) == 0
    final = _scores(tables)
    keys = [r[:3] for r in final]
    assert sorted(keys) == sorted((q, p, ds) for q, p, ds, _, _ in day)  # every row, exactly once
    assert set(committed) <= set(final)  # committed rows were kept, not rescored


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="needs CUDA")
def test_gpu_scoring_in_half_precision_stays_close_to_fp32_on_cpu(models_dir):
    from modeling.labelling import ScoringOptions, load_cached, score_texts

    queries, texts = _rows()
    teacher_dir = str(models_dir / "teacher" / "t1")
    cpu = score_texts(load_cached(ScoringOptions(teacher_dir, device="cpu")), queries, texts, 4)
    gpu_teacher = load_cached(ScoringOptions(teacher_dir, device="cuda", gpu_dtype="bf16"))
    import torch

    assert gpu_teacher.device.type == "cuda" and gpu_teacher.dtype in (torch.bfloat16, torch.float16)
    gpu = score_texts(gpu_teacher, queries, texts, 4)
    np.testing.assert_allclose(gpu.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(gpu, cpu, atol=3e-2)
