"""The simulated search world: every raw/ table plus the eval/ ground truth.

Tables written (all full overwrites, so a rerun with the same seed leaves the
same rows):

- raw/pins, raw/pin_images, raw/board_pins                      (entities)
- raw/search_events, raw/link_visits          partitioned by ds (the history)
- raw/human_labels (+ raw/human_label_ratings, every rater's label)
- raw/impressions                             partitioned by ds (last days, for the teacher)
- eval/true_relevance, eval/pin_concepts, eval/query_concepts   (read by no job but `evaluate`, for the ceiling)

`World` builds each table as a lazy DataFrame (so tests can rebuild one and
compare it with what was written); `write_world` writes them all.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from functools import cached_property

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from searchrel.core import catalog
from searchrel.core.config import SimulationConfig
from simulation import catalog as C
from simulation import entities, traffic
from simulation.images import IMAGE_SCHEMA, render_images
from simulation.scales import SCALES

log = logging.getLogger(__name__)

PIN_SCHEMA = (
    "pin_idx long, pin_id string, title string, description string, link_url string, lang string, "
    "created_ds string, category int, object int, family int, a0 int, a1 int, a2 int, title_quality string, "
    "description_quality string, image_status string, link_on_topic boolean, link_title string, "
    "link_description string, code long"
)

# Names and contracts of these tables are in searchrel/core/catalog.py.
RAW_TABLES = tuple(t.name for t in (
    catalog.PINS, catalog.PIN_IMAGES, catalog.SEARCH_EVENTS, catalog.BOARD_PINS, catalog.LINK_VISITS,
    catalog.HUMAN_LABELS, catalog.HUMAN_LABEL_RATINGS, catalog.IMPRESSIONS,
))
EVAL_TABLES = tuple(t.name for t in (catalog.TRUE_RELEVANCE, catalog.PIN_CONCEPTS, catalog.QUERY_CONCEPTS))

# draw streams: one per use, so that no two draws share randomness
_HISTORY, _HISTORY_RETRIEVAL, _ENGAGEMENT, _LINK = 100, 110, 200, 250
_BOARDS, _LABELS, _LABEL_RETRIEVAL, _RATERS = 300, 400, 410, 420
_IMPRESSIONS, _IMPRESSION_RETRIEVAL = 500, 510


def _to_spark(spark: SparkSession, frame: pd.DataFrame, schema: str) -> DataFrame:
    """createDataFrame through Arrow; pandas 3 string columns go in as objects, which Arrow converts."""
    strings = {c: object for c in frame.columns if pd.api.types.is_string_dtype(frame[c])}
    return spark.createDataFrame(frame.astype(strings) if strings else frame, schema)


def _concept_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Readable category/object/family/attribute names for the eval/ concept tables."""
    objs = C.objects()
    fam_keys = {o.family: o.family_key for o in objs}
    out = frame.copy()
    out["category_name"] = [C.CATEGORIES[c].key for c in frame["category"]]
    out["object_name"] = [objs[o].key if o >= 0 else None for o in frame["object"]]
    out["family_name"] = [fam_keys[f] if f >= 0 else None for f in frame["family"]]
    names, values = [], []
    for c, a0, a1, a2 in zip(frame["category"], frame["a0"], frame["a1"], frame["a2"]):
        slots = C.attribute_slots(int(c))
        pairs = [(slots[s][0], slots[s][1][v][0]) for s, v in enumerate((a0, a1, a2)) if v >= 0]
        names.append([p[0] for p in pairs])
        values.append([p[1] for p in pairs])
    out["attr_names"], out["attr_values"] = names, values
    return out


class World:
    """One simulated world (scale, seed, configuration) as lazy DataFrames, one per table.

    `partitions` sets how many partitions the generated ranges have; results do
    not depend on it (every draw hashes row ids), which the tests check.
    """

    def __init__(self, spark: SparkSession, sim_cfg: SimulationConfig, scale: str, seed: int,
                 partitions: int | None = None) -> None:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        self.spark, self.cfg, self.scale, self.seed = spark, sim_cfg, SCALES[scale], int(seed)
        self.partitions = partitions
        end = dt.date.fromisoformat(sim_cfg.end_ds)
        self.n_days = sim_cfg.history_days
        self.n_imp_days = min(sim_cfg.impression_days, self.n_days)
        self.start_ds = (end - dt.timedelta(days=self.n_days - 1)).isoformat()
        self.draws = traffic.Draws(self.seed)

    # -- entities (driver-side, small) -------------------------------------------

    @cached_property
    def pins_pd(self) -> pd.DataFrame:
        return entities.make_pins(self.scale, self.seed, self.start_ds)

    @cached_property
    def queries_pd(self) -> pd.DataFrame:
        return entities.make_queries(self.scale, self.seed)

    @cached_property
    def boards_pd(self) -> pd.DataFrame:
        return entities.make_boards(self.scale, self.seed)

    @cached_property
    def _pins(self) -> DataFrame:
        return _to_spark(self.spark, self.pins_pd, PIN_SCHEMA)

    @cached_property
    def _queries(self) -> DataFrame:
        return traffic.query_frame(self.spark, self.queries_pd.astype({"query": object, "lang": object}))

    @cached_property
    def _pools(self) -> DataFrame:
        return traffic.pools_frame(self.spark, entities.make_pools(self.pins_pd).astype({"pool_key": object}))

    def pins(self) -> DataFrame:
        return self._pins.select("pin_id", "title", "description", "link_url", "lang", "created_ds")

    def pin_images(self) -> DataFrame:
        return _to_spark(self.spark, render_images(self.pins_pd, self.cfg.image_size), IMAGE_SCHEMA)

    def pin_concepts(self) -> DataFrame:
        pc = _concept_names(self.pins_pd)[
            ["pin_id", "category_name", "object_name", "family_name", "attr_names", "attr_values",
             "title_quality", "description_quality", "image_status", "link_on_topic"]]
        sdf = _to_spark(
            self.spark, pc,
            "pin_id string, category string, object string, family string, attr_names array<string>, "
            "attr_values array<string>, title_quality string, description_quality string, image_status string, "
            "link_on_topic boolean",
        )
        return sdf.select("pin_id", "category", "object", "family",
                          F.map_from_arrays("attr_names", "attr_values").alias("attributes"),
                          "title_quality", "description_quality", "image_status", "link_on_topic")

    def query_concepts(self) -> DataFrame:
        qc = _concept_names(self.queries_pd)[
            ["query", "lang", "category_name", "object_name", "family_name", "attr_names", "attr_values",
             "specificity", "misspelled"]]
        sdf = _to_spark(
            self.spark, qc,
            "query string, lang string, category string, object string, family string, "
            "attr_names array<string>, attr_values array<string>, specificity string, misspelled boolean",
        )
        return sdf.select("query", "lang", "category", "object", "family",
                          F.map_from_arrays("attr_names", "attr_values").alias("attributes"),
                          "specificity", "misspelled")

    # -- traffic (Spark-side, grows with scale) -----------------------------------

    def _shown(self, n: int, stream: int, retrieval_stream: int, day_offset: str, query_skew: float) -> DataFrame:
        sc = self.scale
        slots = traffic.searches(
            self.spark, self._queries, len(self.queries_pd), sc.users, n, sc.results_per_search, self.draws,
            stream, self.start_ds, day_offset, query_skew, self.partitions,
        )
        return traffic.retrieve(slots, self._pools, self.draws, retrieval_stream, sc.results_per_search)

    def _history_shown(self) -> DataFrame:
        sc = self.scale
        if sc.active_days:  # sparse history: events on a few evenly spread days, first and last included
            step = (self.n_days - 1) / max(sc.active_days - 1, 1)
            offset = f"round(floor({{u}} * {sc.active_days}) * {step}D)"
        else:
            offset = f"floor({{u}} * {self.n_days})"
        return self._shown(sc.history_searches, _HISTORY, _HISTORY_RETRIEVAL, offset, query_skew=1.6)

    def search_events(self) -> DataFrame:
        return traffic.engagement(self._history_shown(), self.draws, _ENGAGEMENT)

    def link_visits(self, search_events: DataFrame | None = None) -> DataFrame:
        """Visits after clicks; pass the written raw/search_events to avoid generating the history again."""
        events = self.search_events() if search_events is None else search_events
        clicks = events.where(F.col("event") == "click")
        return traffic.link_visits(clicks, self._pins, self.draws, _LINK, self.scale.link_visit_rate)

    def board_pins(self) -> DataFrame:
        boards = F.broadcast(_to_spark(
            self.spark, self.boards_pd[["b_idx", "board_id", "user_id", "board_title", "a0", "pool_key"]],
            "b_idx long, board_id string, user_id string, board_title string, a0 int, pool_key string",
        ))
        return traffic.board_pins(self.spark, boards, self._pools, len(self.boards_pd), self.scale.board_pins,
                                  self.draws, _BOARDS, self.start_ds, self.n_days, self.partitions)

    def _label_shown(self) -> DataFrame:
        offset = f"floor({{u}} * {max(self.n_days - self.n_imp_days, 1)})"
        return self._shown(self.scale.label_searches, _LABELS, _LABEL_RETRIEVAL, offset, query_skew=1.2)

    def human_labels(self) -> tuple[DataFrame, DataFrame]:
        """(raw/human_labels, raw/human_label_ratings)."""
        labels, ratings, _ = traffic.rated_pairs(self._label_shown(), self.draws, _RATERS, self.cfg.raters_per_pair)
        return labels, ratings

    def _impression_shown(self) -> DataFrame:
        offset = f"{self.n_days - self.n_imp_days} + floor({{u}} * {self.n_imp_days})"
        return self._shown(self.scale.impression_searches, _IMPRESSIONS, _IMPRESSION_RETRIEVAL, offset,
                           query_skew=1.6)

    def impressions(self) -> DataFrame:
        """Distinct (query, pin, ds) served in the last days, at their best position."""
        return (
            self._impression_shown()
            .groupBy("query", "pin_id", "ds", "q_lang").agg(F.min("pos").alias("position"))
            .select("query", "pin_id", "ds", F.col("position").cast("int"), F.col("q_lang").alias("lang"))
        )

    def true_relevance(self) -> DataFrame:
        """Relevance of every pair shown anywhere: history, label searches and impressions."""
        parts = [self._history_shown(), self._label_shown(), self._impression_shown()]
        shown = parts[0].select("query", "pin_id", "relevance")
        for part in parts[1:]:
            shown = shown.unionByName(part.select("query", "pin_id", "relevance"))
        return shown.distinct().select("query", "pin_id", F.col("relevance").cast("int"))


def _files(rows: int, per_file: int = 2_000_000) -> int:
    return max(1, -(-rows // per_file))


def _rows_written(tables, name: str) -> int:
    """Rows of a table just overwritten, from its Delta commit metrics (no scan); counts if they are missing."""
    from delta.tables import DeltaTable

    last = DeltaTable.forPath(tables.spark, tables.path(name)).history(1).select("operationMetrics").first()
    metrics = (last[0] if last else None) or {}
    if "numOutputRows" in metrics:
        return int(metrics["numOutputRows"])
    return tables.read(name).count()


def write_world(tables, sim_cfg: SimulationConfig, scale: str, seed: int) -> dict:
    """Generate and write the world for `scale` and `seed`; returns rows per table and seconds taken."""
    world = World(tables.spark, sim_cfg, scale, seed)
    sc = world.scale
    t0 = time.monotonic()
    log.info("simulate[%s] seed=%d history %s..%s (%d days, impressions on the last %d)",
             scale, seed, world.start_ds, sim_cfg.end_ds, world.n_days, world.n_imp_days)
    log.info("simulate[%s] entities: %d pins, %d queries, %d boards (%.1f s)", scale, len(world.pins_pd),
             len(world.queries_pd), len(world.boards_pd), time.monotonic() - t0)
    big = _files(sc.history_searches * sc.results_per_search)

    def labels() -> None:
        labels_df, ratings_df = world.human_labels()
        tables.overwrite("raw/human_labels", labels_df.coalesce(1))
        tables.overwrite("raw/human_label_ratings", ratings_df.coalesce(1))

    steps = [
        ("raw/pins", lambda: tables.overwrite("raw/pins", world.pins().coalesce(1))),
        ("raw/pin_images", lambda: tables.overwrite("raw/pin_images", world.pin_images().coalesce(1))),
        ("eval/pin_concepts", lambda: tables.overwrite("eval/pin_concepts", world.pin_concepts().coalesce(1))),
        ("eval/query_concepts", lambda: tables.overwrite("eval/query_concepts", world.query_concepts().coalesce(1))),
        ("raw/search_events", lambda: tables.overwrite(
            "raw/search_events", world.search_events().repartition("ds"), partition_by=["ds"])),
        ("raw/link_visits", lambda: tables.overwrite(
            "raw/link_visits", world.link_visits(tables.read("raw/search_events")).repartition("ds"),
            partition_by=["ds"])),
        ("raw/board_pins", lambda: tables.overwrite(
            "raw/board_pins", world.board_pins().coalesce(_files(sc.board_pins)))),
        ("raw/human_labels", labels),
        ("raw/impressions", lambda: tables.overwrite(
            "raw/impressions", world.impressions().repartition("ds"), partition_by=["ds"])),
        ("eval/true_relevance", lambda: tables.overwrite(
            "eval/true_relevance", world.true_relevance().coalesce(big))),
    ]
    try:
        from tqdm import tqdm

        progress = tqdm(steps, desc=f"simulate {scale}", unit="table", disable=None)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        progress = steps
    for name, write in progress:
        t = time.monotonic()
        write()
        log.info("simulate[%s] %s written in %.1f s", scale, name, time.monotonic() - t)

    counts: dict[str, int | float] = {name: _rows_written(tables, name) for name in RAW_TABLES + EVAL_TABLES}
    counts["seconds"] = round(time.monotonic() - t0, 1)
    log.info("simulate[%s] done in %.1f s: %s", scale, counts["seconds"],
             ", ".join(f"{n}={c}" for n, c in counts.items() if n != "seconds"))
    return counts
