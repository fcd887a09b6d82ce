"""The simulated search world: contracts, determinism, and that its signals are there but noisy."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from pyspark.sql import functions as F

from simulation import catalog as C
from simulation.entities import misspell
from simulation.traffic import relevance_sql

# DESIGN.md's contracts (plus the extra columns the simulator adds), as Spark simple types.
CONTRACT = {
    "raw/pins": {"pin_id": "string", "title": "string", "description": "string", "link_url": "string",
                 "lang": "string", "created_ds": "string"},
    "raw/pin_images": {"pin_id": "string", "image": "binary"},
    "raw/search_events": {"ds": "string", "search_id": "string", "user_id": "string", "query": "string",
                          "pin_id": "string", "event": "string", "dwell_s": "double", "position": "int"},
    "raw/board_pins": {"board_id": "string", "pin_id": "string", "board_title": "string", "user_id": "string",
                       "saved_ds": "string"},
    "raw/link_visits": {"ds": "string", "pin_id": "string", "link_title": "string", "link_description": "string",
                        "dwell_s": "double", "search_id": "string"},
    "raw/human_labels": {"query": "string", "pin_id": "string", "label": "int", "rater_id": "string",
                         "labeled_ds": "string", "n_raters": "int"},
    "raw/human_label_ratings": {"query": "string", "pin_id": "string", "rater_id": "string", "label": "int",
                                "labeled_ds": "string"},
    "raw/impressions": {"query": "string", "pin_id": "string", "ds": "string", "position": "int",
                        "lang": "string"},
    "eval/true_relevance": {"query": "string", "pin_id": "string", "relevance": "int"},
}
KEYS = {
    "raw/pins": ["pin_id"], "raw/pin_images": ["pin_id"], "raw/board_pins": ["board_id", "pin_id"],
    "raw/human_labels": ["query", "pin_id"], "raw/impressions": ["query", "pin_id", "ds"],
    "eval/true_relevance": ["query", "pin_id"],
}
OBJ = {o.key: o for o in C.objects()}
CAT = {c.key: i for i, c in enumerate(C.CATEGORIES)}


# -- pure parts ----------------------------------------------------------------


def _concept(prefix: str, obj: str | None, attrs=(-1, -1, -1), category: str | None = None) -> dict:
    o = OBJ[obj] if obj else None
    return {
        f"{prefix}_obj": o.idx if o else -1,
        f"{prefix}_fam": o.family if o else -1,
        f"{prefix}_cat": o.category if o else CAT[category],
        **{f"{prefix}_a{s}": attrs[s] for s in range(3)},
    }


@pytest.mark.spark
def test_true_relevance_levels_follow_the_concepts(spark):
    cases = [  # (query concept, pin concept, level worked out by hand from the level definitions)
        (_concept("q", "sofa", (1, -1, -1)), _concept("p", "sofa", (1, 4, 2)), 5),  # object + asked colour
        (_concept("q", "sofa", (1, 7, -1)), _concept("p", "sofa", (1, 4, 2)), 4),  # material differs
        (_concept("q", "sofa"), _concept("p", "sofa", (3, 3, 3)), 5),  # no attribute asked
        (_concept("q", "sofa"), _concept("p", "armchair", (0, 0, 0)), 3),  # same family (seating)
        (_concept("q", "sofa"), _concept("p", "lamp", (0, 0, 0)), 2),  # same category
        (_concept("q", "sofa"), _concept("p", "dress", (0, 0, 0)), 1),
        (_concept("q", None, category="home_decor"), _concept("p", "lamp", (0, 0, 2)), 5),
        (_concept("q", None, (-1, -1, 3), category="home_decor"), _concept("p", "lamp", (0, 0, 2)), 4),
        (_concept("q", None, category="home_decor"), _concept("p", "birdhouse", (0, 0, 0)), 2),  # related diy
        (_concept("q", None, category="home_decor"), _concept("p", "dress", (0, 0, 0)), 1),
    ]
    rows = [{**q, **p, "case": i} for i, (q, p, _) in enumerate(cases)]
    got = spark.createDataFrame(rows).select("case", F.expr(relevance_sql()).alias("level")).collect()
    assert [r.level for r in sorted(got)] == [level for _, _, level in cases]


def test_misspell_changes_one_long_word_by_one_edit():
    rng = np.random.default_rng(0)
    out = misspell("blue velvet sofa", rng)
    changed = [(a, b) for a, b in zip("blue velvet sofa".split(), out.split()) if a != b]
    assert len(changed) == 1
    a, b = changed[0]
    assert abs(len(a) - len(b)) == 1 or (sorted(a) == sorted(b) and len(a) == len(b))  # drop/double or swap
    assert misspell("a b", rng) == "a b"  # nothing long enough to misspell


# -- the written tiny world ------------------------------------------------------


@pytest.mark.spark
def test_every_table_matches_the_contract_and_keys_are_unique(tiny_world):
    for name, columns in CONTRACT.items():
        df = tiny_world.read(name)
        assert {f.name: f.dataType.simpleString() for f in df.schema.fields} == columns, name
        if name in KEYS:
            rows, keys = df.agg(F.count("*"), F.count_distinct(*KEYS[name])).first()
            assert rows == keys > 0, f"{name}: {rows} rows, {keys} distinct keys"


@pytest.mark.spark
def test_history_spans_more_than_two_years_with_known_events(tiny_world):
    events = tiny_world.read("raw/search_events")
    stats = events.agg(F.min("ds").alias("lo"), F.max("ds").alias("hi")).first()
    span = (dt.date.fromisoformat(stats.hi) - dt.date.fromisoformat(stats.lo)).days
    assert span > 730
    kinds = {r.event for r in events.select("event").distinct().collect()}
    assert kinds == {"impression", "click", "save", "closeup"}
    # dwell is null exactly for impressions
    assert events.where((F.col("event") == "impression") != F.col("dwell_s").isNull()).count() == 0


@pytest.mark.spark
def test_engagement_follows_true_relevance(tiny_world):
    events = tiny_world.read("raw/search_events")
    shown = events.groupBy("search_id", "position", "query", "pin_id").agg(
        F.max((F.col("event") == "click").cast("int")).alias("click"),
        F.max((F.col("event") == "save").cast("int")).alias("save"),
    ).join(tiny_world.read("eval/true_relevance"), ["query", "pin_id"])
    assert shown.count() == events.where("event = 'impression'").count()  # every shown pair has a truth
    by = {r.high: r for r in shown.groupBy((F.col("relevance") >= 4).alias("high")).agg(
        F.avg("click").alias("ctr"), F.avg("save").alias("sr")).collect()}
    assert by[True].ctr > 2 * by[False].ctr
    assert by[True].sr > 2 * by[False].sr


@pytest.mark.spark
def test_retrieval_serves_mostly_pins_in_the_query_language(tiny_world):
    # Language-blind retrieval would show each language's queries its share of the pins (en 0.7,
    # the others 0.1). The world draws SAME_LANGUAGE of its slots from pins in the query's language,
    # where a pool has some (the tiny world's de/fr/es pools are often empty, and fall back to all).
    pins = tiny_world.read("raw/pins")
    n_pins = pins.count()
    pin_share = {r.lang: r["count"] / n_pins for r in pins.groupBy("lang").count().collect()}
    shown = tiny_world.read("raw/impressions").join(
        pins.select("pin_id", F.col("lang").alias("pin_lang")), "pin_id")
    by_lang = {r.lang: r.same for r in shown.groupBy("lang").agg(
        F.avg((F.col("lang") == F.col("pin_lang")).cast("double")).alias("same")).collect()}
    assert set(by_lang) == set(C.LANGS)
    for lang, same in by_lang.items():
        assert same > pin_share[lang] + 0.15, (lang, same, pin_share[lang])
    assert max(by_lang.values()) < 0.99  # some slots still cross languages


@pytest.mark.spark
def test_link_visits_straddle_ten_seconds_and_off_topic_pages_bounce(tiny_world):
    visits = tiny_world.read("raw/link_visits")
    off_topic = F.col("link_title").isin([t for t, _ in C.OFF_TOPIC_PAGES])
    rows = {r.off: r for r in visits.groupBy(off_topic.alias("off")).agg(
        F.avg((F.col("dwell_s") >= 10).cast("double")).alias("long"), F.count("*").alias("n")).collect()}
    assert rows[True].n > 0 and rows[False].n > 0
    assert rows[True].long < 0.2 < 0.5 < rows[False].long


@pytest.mark.spark
def test_human_labels_are_noisy_but_informative(tiny_world):
    labels = tiny_world.read("raw/human_labels")
    levels = {r.label: r["count"] for r in labels.groupBy("label").count().collect()}
    assert set(levels) == {1, 2, 3, 4, 5}
    joined = labels.join(tiny_world.read("eval/true_relevance"), ["query", "pin_id"])
    assert joined.count() == labels.count()
    n = joined.count()
    truth = {r.relevance: r["count"] / n for r in joined.groupBy("relevance").count().collect()}
    chance = sum(levels.get(k, 0) / n * truth.get(k, 0) for k in range(1, 6))
    agree = joined.where(F.col("label") == F.col("relevance")).count() / n
    assert chance + 0.3 < agree < 0.97
    ratings = tiny_world.read("raw/human_label_ratings")
    pairs = ratings.alias("a").join(ratings.alias("b"), ["query", "pin_id"]).where("a.rater_id < b.rater_id")
    rater_agree = pairs.agg(F.avg((F.col("a.label") == F.col("b.label")).cast("double"))).first()[0]
    assert 0.5 < rater_agree < 0.85
    langs = {r.lang for r in labels.join(tiny_world.read("eval/query_concepts"), "query")
             .select("lang").distinct().collect()}
    assert "en" in langs and len(langs - {"en"}) >= 2


@pytest.mark.spark
def test_impressions_cover_only_the_last_days(tiny_world, test_config):
    sim = test_config.simulation
    end = dt.date.fromisoformat(sim.end_ds)
    days = {r.ds for r in tiny_world.read("raw/impressions").select("ds").distinct().collect()}
    assert days == {(end - dt.timedelta(days=i)).isoformat() for i in range(sim.impression_days)}


@pytest.mark.spark
def test_images_decode_except_the_deliberately_broken_ones(tiny_world):
    from PIL import Image

    images = tiny_world.read("raw/pin_images").collect()
    ok, broken = 0, 0
    for row in images:
        try:
            with Image.open(io.BytesIO(row.image)) as img:
                img.load()
                assert img.size == (32, 32)
            ok += 1
        except (OSError, SyntaxError):
            broken += 1
    assert broken >= 1 and ok >= 0.95 * len(images)
    assert len(images) < tiny_world.read("raw/pins").count()  # some pins have no image at all


@pytest.mark.spark
def test_many_pins_have_weak_or_missing_text(tiny_world):
    pins = tiny_world.read("raw/pins")
    n = pins.count()
    empty_title = pins.where(F.coalesce(F.col("title"), F.lit("")) == "").count()
    generic = pins.where(F.col("title").isin([t for ts in C.GENERIC_TITLES.values() for t in ts])).count()
    assert 0.1 < (empty_title + generic) / n < 0.6
    assert {r.lang for r in pins.select("lang").distinct().collect()} == set(C.LANGS)


# -- determinism -------------------------------------------------------------------


def _rows(df) -> list[tuple]:
    return sorted((tuple(r) for r in df.collect()), key=repr)


@pytest.mark.spark
def test_same_seed_rebuilds_the_written_rows_whatever_the_partitioning(spark, tiny_world, test_config):
    from simulation.world import World

    again = World(spark, test_config.simulation, "tiny", test_config.simulation.seed, partitions=3)
    for name, df in [("raw/search_events", again.search_events()), ("raw/human_labels", again.human_labels()[0]),
                     ("raw/pins", again.pins())]:
        assert _rows(df) == _rows(tiny_world.read(name).select(*df.columns)), name

    other = World(spark, test_config.simulation, "tiny", test_config.simulation.seed + 1)
    assert _rows(other.human_labels()[0]) != _rows(tiny_world.read("raw/human_labels"))
    assert _rows(other.pins()) != _rows(tiny_world.read("raw/pins"))


@pytest.mark.spark
@pytest.mark.slow
def test_cli_simulate_tiny_exits_0_and_writes_every_table(spark, tmp_path, test_config_file):
    from searchrel.cli import main
    from simulation.world import EVAL_TABLES, RAW_TABLES
    from searchrel.core.tables import Tables

    warehouse = tmp_path / "w"
    assert main(["simulate", "--scale", "tiny", "--seed", "3", "--warehouse", str(warehouse),
                 "--config", str(test_config_file)]) == 0
    written = Tables(spark, str(warehouse))
    assert all(written.exists(name) for name in RAW_TABLES + EVAL_TABLES)
