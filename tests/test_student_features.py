"""Student features in Spark: BM25, term match, cosine, engagement before ds, the examples job."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from features.bm25 import bm25_scores, corpus_stats
from features.interactions import cosine, daily_engagement, engagement_features, match_fraction

pytestmark = pytest.mark.spark


def test_bm25_matches_the_okapi_formula_by_hand(spark):
    pins = spark.createDataFrame(
        [("p1", ["red", "chair", "red"]), ("p2", ["blue", "chair"]), ("p3", [])], "pin_id string, tokens array<string>"
    )
    pairs = spark.createDataFrame(
        [("red chair", "p1", ["red", "chair", "red"]), ("red chair", "p2", ["red", "chair"]),
         ("red chair", "p3", ["red", "chair"]), ("lamp", "p1", ["lamp"])],
        "query string, pin_id string, query_tokens array<string>",
    )
    corpus = corpus_stats(pins)
    n_docs, avg_doc_len = corpus.size()
    assert n_docs == 3 and avg_doc_len == pytest.approx(5 / 3)
    got = {(r.query, r.pin_id): r.bm25 for r in bm25_scores(pairs, corpus, k1=1.2, b=0.75).collect()}
    avgdl = 5 / 3
    idf_red, idf_chair = math.log(1 + 2.5 / 1.5), math.log(1 + 1.5 / 2.5)
    norm = lambda dl: 1.2 * (0.25 + 0.75 * dl / avgdl)  # noqa: E731
    # query terms count once: "red" twice in the query adds it once
    assert got[("red chair", "p1")] == pytest.approx(idf_red * 2 * 2.2 / (2 + norm(3)) + idf_chair * 2.2 / (1 + norm(3)))
    assert got[("red chair", "p2")] == pytest.approx(idf_chair * 2.2 / (1 + norm(2)))
    assert got[("red chair", "p3")] == 0.0
    assert got[("lamp", "p1")] == 0.0


def test_bm25_scores_each_corpus_day_against_its_own_pin_text(spark):
    pins = spark.createDataFrame(
        [("d1", "p1", ["red", "chair"]), ("d1", "p2", ["blue"]), ("d2", "p1", ["red", "chair"]), ("d2", "p2", ["red"])],
        "corpus_day string, pin_id string, tokens array<string>",
    )
    pairs = spark.createDataFrame([("red", "p1", d, ["red"]) for d in ("d1", "d2")],
                                  "query string, pin_id string, corpus_day string, query_tokens array<string>")
    both = {r.corpus_day: r.bm25 for r in bm25_scores(pairs, corpus_stats(pins, by=["corpus_day"])).collect()}
    alone = {}
    for d in ("d1", "d2"):
        one = corpus_stats(pins.where(F.col("corpus_day") == d).drop("corpus_day"))
        alone[d] = bm25_scores(pairs.where(F.col("corpus_day") == d).drop("corpus_day"), one).collect()[0].bm25
    assert both == pytest.approx(alone)
    assert both["d1"] > both["d2"] > 0  # on d2 every pin says "red": a weaker signal


def test_term_match_and_cosine(spark):
    df = spark.createDataFrame(
        [(["red", "chair", "red"], ["chair", "table"], [1.0, 0.0], [1.0, 1.0]),
         ([], ["chair"], [0.0, 0.0], [1.0, 0.0])],
        "q array<string>, t array<string>, a array<float>, b array<float>",
    )
    rows = df.select(match_fraction(F.col("q"), F.col("t")).alias("m"), cosine(F.col("a"), F.col("b")).alias("c")).collect()
    assert rows[0].m == pytest.approx(0.5) and rows[0].c == pytest.approx(1 / math.sqrt(2), rel=1e-6)
    assert rows[1].m == 0.0 and rows[1].c == 0.0


def test_engagement_uses_only_days_before_ds_and_is_smoothed(spark):
    events = spark.createDataFrame(
        [("q", "p1", "2026-11-20", "impression"), ("q", "p1", "2026-11-20", "impression"),
         ("q", "p1", "2026-11-20", "click"), ("q2", "p1", "2026-11-21", "impression"),
         ("q", "p1", "2026-11-23", "impression"), ("q", "p1", "2026-11-23", "save"),  # the day itself: excluded
         ("q", "p1", "2025-01-01", "impression")],  # outside a 30-day window
        "query string, pin_id string, ds string, event string",
    )
    pairs = spark.createDataFrame([("q", "p1", "2026-11-23"), ("q", "p9", "2026-11-23")], "query string, pin_id string, ds string")
    daily = daily_engagement(events, "2025-01-01", "2026-11-23")
    got = {r.pin_id: r for r in engagement_features(pairs, daily, 30, prior=0.1, strength=10.0).collect()}
    assert got["p1"].pair_impressions_before_ds == 2 and got["p1"].pin_impressions_before_ds == 3
    assert got["p1"].pair_engagement_rate_smoothed == pytest.approx((1 + 1) / (2 + 10))
    assert got["p1"].pin_engagement_rate_smoothed == pytest.approx((1 + 1) / (3 + 10))
    assert got["p9"].pair_impressions_before_ds == 0 and got["p9"].pair_engagement_rate_smoothed == pytest.approx(0.1)


# -- the student-features job on a hand-made world -------------------------------------

DS = "2026-11-23"
AS_OF = "2026-11-22"


def test_sample_keys_of_a_medium_worlds_rows_are_distinct_and_uniform(spark):
    # The exact training caps cut at a sample_key bound: two rows sharing a key make a cap miss
    # by one (the medium world's 1,894-row human cap kept 1,895 with the old modulo-1,000,003 key).
    from features.student_examples import sample_key

    n = 300_000
    rows = spark.range(n).select(F.concat(F.lit("q"), (F.col("id") % 997).cast("string")).alias("query"),
                                 F.col("id").cast("string").alias("pin_id"), F.lit("2026-11-23").alias("ds"),
                                 F.lit("impression").alias("source"))
    stats = rows.select(sample_key("query", "pin_id", "ds", "source").alias("k")).agg(
        F.countDistinct("k").alias("distinct"), F.min("k").alias("lo"), F.max("k").alias("hi"),
        F.avg("k").alias("mean")).first()
    assert stats["distinct"] == n
    assert 0.0 <= stats["lo"] < 1e-4 and 1 - 1e-4 < stats["hi"] < 1.0
    assert stats["mean"] == pytest.approx(0.5, abs=0.005)


def test_teacher_scores_are_the_newest_per_pair_or_one_named_teachers_only(spark):
    from features.student_examples import latest_teacher_scores

    scores = spark.createDataFrame(
        [("q", "p1", "d1", [0.9, 0.1, 0.0, 0.0, 0.0], "small", "2026-01-01"),
         ("q", "p1", "d1", [0.0, 0.0, 0.0, 0.1, 0.9], "big", "2026-01-02"),
         ("q", "p2", "d1", [0.2, 0.2, 0.2, 0.2, 0.2], "big", "2026-01-02"),
         ("q", "p1", "d2", [0.0, 1.0, 0.0, 0.0, 0.0], "small", "2026-01-03")],
        "query string, pin_id string, ds string, probs array<float>, teacher_version string, scored_at string",
    )
    newest = {(r.pin_id, r.ds): r.teacher_version for r in latest_teacher_scores(scores, by_day=True).collect()}
    assert newest == {("p1", "d1"): "big", ("p2", "d1"): "big", ("p1", "d2"): "small"}
    small = {(r.pin_id, r.ds): r.teacher_probs[0] for r in latest_teacher_scores(scores, True, "small").collect()}
    assert small == pytest.approx({("p1", "d1"): 0.9, ("p1", "d2"): 0.0})  # p2 was never scored by "small"
    per_pair = latest_teacher_scores(scores, by_day=False, version="big").collect()
    assert [(r.pin_id, r.teacher_version) for r in sorted(per_pair)] == [("p1", "big"), ("p2", "big")]


def test_graph_fit_is_reused_within_the_refresh_period_and_never_backwards():
    from features.pin_embeddings import reusable_graph_as_of

    fits = ["2026-11-01", "2026-11-10"]
    assert reusable_graph_as_of(fits, "2026-11-10", 7) == "2026-11-10"  # its own fit
    assert reusable_graph_as_of(fits, "2026-11-16", 7) == "2026-11-10"  # 6 days on: reused
    assert reusable_graph_as_of(fits, "2026-11-17", 7) is None  # 7 days on: refit
    assert reusable_graph_as_of(fits, "2026-11-05", 7) == "2026-11-01"  # the newest fit not after as_of
    assert reusable_graph_as_of(fits, "2026-10-31", 7) is None  # a later graph would leak future saves
    assert reusable_graph_as_of(fits, "2026-11-10", 0) is None  # 0: refit every snapshot
    assert reusable_graph_as_of([], "2026-11-10", 7) is None


def test_graph_fit_checkpoints_its_factors_so_that_many_iterations_cannot_overflow_a_stack(spark, tmp_path):
    """ALS cuts the factors' lineage only by checkpointing them (features.pin_embeddings.graph_embeddings).

    Without it, 30 iterations' lineage overflows a task thread's stack, and in local mode the
    StackOverflowError ends the JVM (checked by hand: it cannot be asserted in the shared session),
    as the job did from about 25 iterations. Here 3 iterations with an interval of 1 show the
    checkpoints being written, which is what cuts the lineage.
    """
    from features.pin_embeddings import graph_embeddings

    folder = tmp_path / "checkpoints"
    spark.sparkContext.setCheckpointDir(str(folder))
    board_pins = spark.createDataFrame(
        [(f"b{i % 3}", f"p{i}", "2026-11-01") for i in range(8)], "board_id string, pin_id string, saved_ds string")
    rows = graph_embeddings(board_pins, "2026-11-23", rank=2, iterations=3, checkpoint_interval=1).collect()
    assert sorted(r.pin_id for r in rows) == [f"p{i}" for i in range(8)]
    assert all(len(r.graph_embedding) == 2 for r in rows)
    assert list(folder.rglob("rdd-*")), "no factor RDD was checkpointed"


def test_example_settings_are_read_from_the_config_in_one_place():
    from features.student_examples import ExampleSettings
    from searchrel.core.config import load_config

    cfg = load_config(overrides={"teacher.val_fraction": 0.15, "teacher.test_fraction": 0.25, "student.bm25_k1": 1.7,
                                 "student.engagement_prior_strength": 7.0}, environ={})
    got = ExampleSettings.from_config(cfg)
    # The split fractions are the teacher's: a query lands in the same split for teacher and student.
    assert (got.val_fraction, got.test_fraction, got.bm25_k1, got.engagement_prior_strength) == (0.15, 0.25, 1.7, 7.0)
    assert got.engagement_window_days == cfg.student.engagement_window_days


def _write_world(spark, tables) -> None:
    parts = "struct<title: string, description: string>"
    pin_text = [
        ("p1", "Red chair", "Red wooden chair for the kitchen", "en"),
        ("p2", "Blue lamp", "Blue desk lamp with brass base", "en"),
        ("p3", "Red armchair", "Red velvet armchair chair", "en"),
        ("p4", "Oak floor tile", "Tile floor in oak look", "en"),
    ]
    tables.overwrite(
        "features/pin_text",
        spark.createDataFrame(
            [(p, AS_OF, f"{t}. {d}", "v1", (t, d), lang) for p, t, d, lang in pin_text],
            f"pin_id string, as_of string, text string, template_version string, parts {parts}, lang string",
        ),
    )
    tables.overwrite(
        "raw/board_pins",
        spark.createDataFrame(
            [("b1", "p1", "Chairs", "u1", "2026-01-01"), ("b1", "p3", "Chairs", "u1", "2026-01-02"),
             ("b2", "p2", "Lamps", "u2", "2026-01-01"), ("b2", "p3", "Lamps", "u2", "2026-01-03")],
            "board_id string, pin_id string, board_title string, user_id string, saved_ds string",
        ),
    )
    tables.overwrite(
        "raw/search_events",
        spark.createDataFrame(
            [("u1", "red chair", "p1", "impression", None, "2026-11-01"),
             ("u1", "red chair", "p1", "click", 12.0, "2026-11-01")],
            "user_id string, query string, pin_id string, event string, dwell_s double, ds string",
        ),
        partition_by=["ds"],
    )
    tables.overwrite(
        "raw/impressions",
        spark.createDataFrame(
            [("red chair", "p1", DS, 0, "en"), ("red chair", "p2", DS, 1, "en"), ("red chair", "p2", DS, 2, "en"),
             ("", "p1", DS, 0, "en"), ("red chair", "p9", DS, 3, "en"), ("tile floor", "p4", DS, 0, "en")],
            "query string, pin_id string, ds string, position int, lang string",
        ),
        partition_by=["ds"],
    )
    tables.overwrite(
        "raw/human_labels",
        spark.createDataFrame(
            [("red chair", "p3", 4, "r1", "2026-01-05"), ("tile floor", "p4", 5, "r2", "2026-02-01"),
             ("tile floor", "p2", 1, "r2", "2026-02-01")],
            "query string, pin_id string, label int, rater_id string, labeled_ds string",
        ),
    )
    probs = [0.05, 0.05, 0.1, 0.3, 0.5]
    tables.overwrite(
        "labels/teacher_scores",
        spark.createDataFrame(
            [("red chair", "p1", DS, "t1", probs, 5, 4.15), ("red chair", "p3", DS, "t1", probs, 5, 4.15),
             ("tile floor", "p4", DS, "t1", probs, 5, 4.15)],
            "query string, pin_id string, ds string, teacher_version string, probs array<float>, label int, "
            "expected_relevance double",
        ).withColumn("scored_at", F.current_timestamp()),
        partition_by=["ds"],
    )


@pytest.fixture(scope="module")
def student_world(spark, tmp_path_factory, test_config_file):
    """A warehouse with student-features run once on a hand-made world (shared by the job tests)."""
    from modeling.tiny_models import make_tiny_bert
    from searchrel.cli import main as cli_main
    from searchrel.core.tables import Tables

    root = tmp_path_factory.mktemp("student_world")
    tables = Tables(spark, str(root / "warehouse"))
    _write_world(spark, tables)
    encoder = make_tiny_bert(root / "tiny_bert")
    # The test settings (the code's defaults, independent of edits to conf/searchrel.yaml).
    args = ["--ds", DS, "--warehouse", tables.root, "--config", str(test_config_file), "--set", f"student.embedding_model={encoder}",
            "--set", "student.graph_embedding_dim=4", "--set", "student.als_iterations=3", "--json"]
    assert cli_main(["student-features", *args]) == 0
    return tables, args


@pytest.mark.slow
def test_student_features_job_writes_documented_rows_and_quarantines_the_rest(student_world):
    from features.student_examples import CATEGORICAL, DENSE, EMBEDDINGS

    tables, _ = student_world
    ex = tables.read("features/student_examples")
    expected_cols = {"query", "pin_id", "ds", "source", "split", "sample_key", *CATEGORICAL, *DENSE, *EMBEDDINGS,
                     "teacher_probs", "teacher_version", "human_label"}
    assert expected_cols <= set(ex.columns)
    rows = {(r.query, r.pin_id, r.ds, r.source): r for r in ex.collect()}
    assert set(rows) == {
        ("red chair", "p1", DS, "impression"), ("red chair", "p2", DS, "impression"),
        ("tile floor", "p4", DS, "impression"),
        ("red chair", "p3", "2026-01-05", "human_label"), ("tile floor", "p4", "2026-02-01", "human_label"),
        ("tile floor", "p2", "2026-02-01", "human_label"),
    }
    p1 = rows[("red chair", "p1", DS, "impression")]
    assert p1.teacher_probs == pytest.approx([0.05, 0.05, 0.1, 0.3, 0.5])
    assert p1.title_match_frac == 1.0 and p1.text_match_frac == 1.0 and p1.bm25 > 0
    assert p1.pair_impressions_before_ds == 1 and p1.pair_engagement_rate_smoothed == pytest.approx((1 + 2) / (1 + 20))
    assert len(p1.query_embedding) == 32 and len(p1.pin_graph_embedding) == 4
    assert p1.split == "train" and rows[("tile floor", "p4", DS, "impression")].split == "test"
    assert rows[("red chair", "p2", DS, "impression")].teacher_probs is None
    # human rows: median label, teacher probabilities found by pair, pin features from the oldest snapshot
    human = rows[("red chair", "p3", "2026-01-05", "human_label")]
    assert human.human_label == 4 and human.teacher_probs is not None and human.bm25 > 0
    assert rows[("tile floor", "p2", "2026-02-01", "human_label")].teacher_probs is None
    # p4 is on no board: zero graph vector; p3 is on two
    assert rows[("tile floor", "p4", DS, "impression")].pin_graph_embedding == [0.0] * 4
    assert any(v != 0 for v in human.pin_graph_embedding)
    # The run's ALS checkpoint folder (spark_jobs.build_student_examples._als_checkpoints) is gone.
    assert [p.name for p in Path(tables.root, "_checkpoints").glob("*")] == []
    quarantined = tables.read("quarantine/features_student_examples").collect()
    assert sorted(r.reason for r in quarantined) == [
        "duplicate example (query, pin_id, ds, source)", "empty query", "no pin text",
    ]
    qf = {r.query: r for r in tables.read("features/query_features").collect()}
    assert set(qf) == {"red chair", "tile floor"}
    assert qf["red chair"].n_terms == 2 and qf["red chair"].lang == "en"
    assert 0.0 <= qf["red chair"].shopping_intent <= 1.0
    emb = tables.read("features/pin_embeddings")
    assert emb.select("as_of").distinct().collect()[0].as_of == AS_OF and emb.count() == 4
    assert {r.graph_as_of for r in emb.collect()} == {AS_OF}  # the first snapshot fits its own graph


@pytest.mark.slow
def test_student_features_job_is_idempotent(student_world, capsys):
    import json

    from searchrel.cli import main as cli_main

    tables, args = student_world
    before = sorted(tuple(r) for r in tables.read("features/student_examples").select("query", "pin_id", "ds", "source").collect())
    capsys.readouterr()
    assert cli_main(["student-features", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query_features_added"] == 0
    # The three human labels (January, February) predate the only pin_text snapshot: kept, and counted.
    assert out["human_labels"]["text_after_day"] == 3 and out[f"impressions {DS}..{DS}"]["text_after_day"] == 0
    after = sorted(tuple(r) for r in tables.read("features/student_examples").select("query", "pin_id", "ds", "source").collect())
    assert after == before
    assert tables.read("quarantine/features_student_examples").count() == 3


@pytest.mark.slow
def test_student_train_saves_exports_evaluates_and_runs_the_scaling_experiment(student_world):
    import json
    from pathlib import Path

    from modeling.student import load_student
    from modeling.student_export import OnnxStudent
    from searchrel.cli import main as cli_main

    tables, args = student_world
    common = [a for a in args if a not in ("--ds", DS)]
    train = ["--set", "student.epochs=2", "--set", "student.batch_size=4", "--set", "student.scaling_multiples=[1.0]",
             "--set", "student.torch_threads=1", "--set", "student.scaling_seeds=2", "--no-progress", "--scaling",
             "--version", "v-test"]
    assert cli_main(["student-train", *common, *train]) == 0
    models = Path(tables.root) / "models" / "student"
    assert json.loads((models / "current").read_text())["version"] == "v-test"  # the registry's JSON pointer
    version = models / "v-test"
    for name in ("student.safetensors", "feature_spec.json", "student.json", "student.onnx",
                 "checkpoints/epoch-2.safetensors", "human_only/student.safetensors"):
        assert (version / name).exists(), name
    meta = json.loads((version / "student.json").read_text())
    # train split: the teacher-scored impression (red chair, p1) and the human row (red chair, p3)
    assert meta["training"]["train_teacher_rows"] == 2 and meta["training"]["train_human_rows"] == 1
    spec = json.loads((version / "feature_spec.json").read_text())
    assert spec["categorical"]["query_lang"] == ["en"] and spec["embeddings"]["pin_graph_embedding"] == 4
    report = json.loads((Path(tables.root) / "reports" / "student_eval.json").read_text())
    # the test split holds the two human rows of "tile floor"; the teacher scored one of them
    assert report["n_test_rows"] == 2 and report["student"]["n"] == 2 and report["student_human_only"]["n"] == 2
    assert report["teacher_on_scored"]["n"] == 1 and "ndcg_at_10" in report["bm25"]
    scaling = json.loads((Path(tables.root) / "reports" / "student_scaling.json").read_text())
    # one human training row and one teacher-scored training impression: 1x is already "all"; the point's
    # size counts the teacher-labelled impressions only (the human row (red chair, p3) was scored too, and
    # is in the student's 2 teacher rows above, but a scaling point is measured in impressions)
    assert [p["point"] for p in scaling["points"]] == ["all (1x)"] and scaling["points"][-1]["teacher_rows"] == 1
    point = scaling["points"][-1]  # two seeds: the trained student (seed 17) and one more (18)
    assert point["seeds"] == 2 and [r["seed"] for r in point["runs"]] == [17, 18] and "accuracy_std" in point
    assert point["accuracy"] == pytest.approx(sum(r["accuracy"] for r in point["runs"]) / 2)
    assert (Path(tables.root) / "reports" / "student_scaling.png").stat().st_size > 1000
    rows = tables.read("features/student_examples").toPandas()
    from modeling.student import encode, predict_proba

    model = load_student(version)
    assert abs(OnnxStudent(version).predict(encode(rows, model.spec)) - predict_proba(model, encode(rows, model.spec))).max() < 1e-5


def test_embed_texts_sorts_by_length_but_returns_vectors_in_input_order():
    import numpy as np

    from modeling.embedder import embed_texts

    texts = ["a long description of a green velvet armchair for the living room", "lamp", None, "red shoes"]
    batched = embed_texts(texts, batch_size=2, max_length=32)
    alone = np.stack([embed_texts([t], batch_size=1, max_length=32)[0] for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(batched[0], batched[1])
