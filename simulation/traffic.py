"""Everything that grows with traffic, generated in Spark from the entity tables.

Searches are `spark.range` rows; every random draw is a hash of
(seed, stream, row ids) mapped to [0, 1), so the same seed gives the same rows
however Spark partitions the work, and nothing is collected to the driver.

Retrieval is deliberately imperfect: each result slot draws from the query's
object pool, its family, its category or a random category, with better pools
and more candidates (best attribute match wins) at the top positions; most
slots draw from pins in the query's language (`SAME_LANGUAGE`). True
relevance is a function of query concept vs pin concept only (`RELEVANCE_SQL`);
engagement depends on it, on position and on a per-pin "bait" factor that
makes some irrelevant pins clicky, so clicks are evidence, not truth.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from simulation import catalog as C
from simulation.entities import CODE_BAIT, CODE_LINK, CODE_OBJ, CODE_PIN

_MASK53 = (1 << 53) - 1
_TWO53 = float(1 << 53)
_SCORE = 10**17  # above every pin code: score * _SCORE + code sorts by score first

# per relevance level 1..5
CLOSEUP_RATE = (0.03, 0.06, 0.12, 0.22, 0.32)
CLICK_RATE = (0.02, 0.04, 0.08, 0.15, 0.22)
SAVE_RATE = (0.003, 0.01, 0.03, 0.07, 0.12)
CLICK_DWELL_MEDIAN_S = (3.0, 5.0, 9.0, 18.0, 30.0)
CLOSEUP_DWELL_MEDIAN_S = (2.0, 3.0, 5.0, 8.0, 12.0)
OFF_TOPIC_DWELL_MEDIAN_S = 2.5
ACCIDENTAL_CLICK = 0.005
N_RATERS_POOL = 40
# Share of result slots drawn from pins in the query's own language (the rest from any language),
# as a localised search engine ranks pins in the searcher's language first. With language-blind
# retrieval 54% of the small world's pairs crossed languages, which made titles look far weaker
# than the paper's ablation found (README, "The simulated search world").
SAME_LANGUAGE = 0.85


def _arr(values) -> str:
    return "array(" + ", ".join(repr(v) for v in values) + ")"


class Draws:
    """Deterministic uniform draws as SQL expressions: U(stream, ids...) in [0, 1)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def u(self, stream: int, *cols: str) -> str:
        args = ", ".join([str(self.seed), str(stream), *cols])
        return f"(cast(xxhash64({args}) & {_MASK53} as double) / {_TWO53}D)"

    def normal(self, stream: int, *cols: str) -> str:
        """Box-Muller from two draws."""
        u1, u2 = self.u(stream, *cols), self.u(stream + 1, *cols)
        return f"(sqrt(-2.0D * ln({u1} + 1e-12D)) * cos(2.0D * pi() * {u2}))"

    def index(self, stream: int, n: str | int, *cols: str, power: float = 1.0) -> str:
        """An index in [0, n); power > 1 skews towards small indices (popular items)."""
        u = self.u(stream, *cols)
        if power != 1.0:
            u = f"pow({u}, {power}D)"
        return f"cast(floor({u} * {n}) as bigint)"


def _lookups() -> tuple[str, str, str]:
    objs = C.objects()
    obj_cat = _arr([o.category for o in objs])
    obj_fam = _arr([o.family for o in objs])
    related = sorted(
        a * 100 + b for a in range(len(C.CATEGORIES)) for b in range(len(C.CATEGORIES)) if C.related(a, b)
    )
    return obj_cat, obj_fam, _arr(related or [-1])


def unpack(code: str = "code") -> dict[str, str]:
    """SQL for the pin fields packed into a code by `simulation.entities.make_pins`."""
    obj_cat, obj_fam, _ = _lookups()
    p_obj = f"cast(({code} div {CODE_OBJ}) % 1000 as int)"
    return {
        "pin_idx": f"{code} div {CODE_PIN}",
        "bait": f"cast(({code} div {CODE_BAIT}) % 10 as int)",
        "link_on_topic": f"(({code} div {CODE_LINK}) % 10) = 1",
        "p_obj": p_obj,
        "p_cat": f"element_at({obj_cat}, {p_obj} + 1)",
        "p_fam": f"element_at({obj_fam}, {p_obj} + 1)",
        "p_a0": f"cast(({code} div 100) % 10 as int)",
        "p_a1": f"cast(({code} div 10) % 10 as int)",
        "p_a2": f"cast({code} % 10 as int)",
    }


def _attr_score(code: str) -> str:
    return " + ".join(
        f"(CASE WHEN q_a{s} >= 0 AND cast(({code} div {d}) % 10 as int) = q_a{s} THEN 1 ELSE 0 END)"
        for s, d in ((0, 100), (1, 10), (2, 1))
    )


def relevance_sql() -> str:
    """True relevance 1..5 of pin concept (p_*) for query concept (q_*).

    Object queries: L5 object and every asked attribute match, L4 object with an
    attribute mismatch, L3 same family, L2 same category, L1 otherwise. Broad
    (category) queries: L5/L4 same category with/without the asked style, L2 a
    related category, L1 otherwise.
    """
    _, _, related = _lookups()
    attrs_ok = " AND ".join(f"(q_a{s} < 0 OR p_a{s} = q_a{s})" for s in range(3))
    return f"""CASE
      WHEN q_obj < 0 THEN CASE
          WHEN p_cat = q_cat THEN (CASE WHEN q_a2 < 0 OR p_a2 = q_a2 THEN 5 ELSE 4 END)
          WHEN array_contains({related}, q_cat * 100 + p_cat) THEN 2
          ELSE 1 END
      WHEN p_obj = q_obj THEN (CASE WHEN {attrs_ok} THEN 5 ELSE 4 END)
      WHEN p_fam = q_fam THEN 3
      WHEN p_cat = q_cat THEN 2
      ELSE 1 END"""


def query_frame(spark: SparkSession, queries) -> DataFrame:
    """The queries' concept columns renamed q_* for the retrieval expressions."""
    sdf = spark.createDataFrame(
        queries[["q_idx", "query", "lang", "category", "object", "family", "a0", "a1", "a2"]],
        "q_idx long, query string, q_lang string, q_cat int, q_obj int, q_fam int, q_a0 int, q_a1 int, q_a2 int",
    )
    return F.broadcast(sdf)


def pools_frame(spark: SparkSession, pools) -> DataFrame:
    return F.broadcast(spark.createDataFrame(pools, "pool_key string, codes array<bigint>"))


def retrieve(results: DataFrame, pools: DataFrame, draws: Draws, stream: int, n_results: int) -> DataFrame:
    """Fill result slots (sid, pos, q_*) with pins from an imperfect retrieval; adds pin fields and `relevance`."""
    n_cat = len(C.CATEGORIES)
    frac = f"(pos / {max(n_results - 1, 1)}.0D)"
    # draws as columns first: each is then computed once, not once per reference
    t = "_t"
    random_cat = "concat('c', _rc)"
    pool_key = f"""CASE WHEN q_obj >= 0 THEN CASE
            WHEN {t} < 0.62D - 0.32D * {frac} THEN concat('o', q_obj)
            WHEN {t} < 0.76D - 0.32D * {frac} THEN concat('f', q_fam)
            WHEN {t} < 0.90D - 0.32D * {frac} THEN concat('c', q_cat)
            ELSE {random_cat} END
        ELSE CASE WHEN {t} < 0.82D - 0.32D * {frac} THEN concat('c', q_cat) ELSE {random_cat} END
        END || CASE WHEN _l < {SAME_LANGUAGE}D THEN concat('@', q_lang) ELSE '' END"""
    pick = draws.u(stream + 2, "sid", "pos", "i")
    candidates = (
        f"transform(sequence(1, CASE WHEN pos < 3 THEN 4 ELSE 2 END), "
        f"i -> element_at(codes, cast(floor({pick} * size(codes)) as int) + 1))"
    )
    best = f"array_max(transform({candidates}, c -> ({_attr_score('c')}) * {_SCORE}L + c)) % {_SCORE}L"
    out = (
        results.withColumns({"_t": F.expr(draws.u(stream, "sid", "pos")),
                             "_rc": F.expr(draws.index(stream + 1, n_cat, "sid", "pos")),
                             "_l": F.expr(draws.u(stream + 3, "sid", "pos"))})
        .withColumn("pool_key", F.expr(pool_key))
        .join(pools, "pool_key")
        .withColumn("code", F.expr(best))
        .drop("codes", "pool_key", "_t", "_rc", "_l")
    )
    for name, sql in unpack().items():
        out = out.withColumn(name, F.expr(sql))
    return out.withColumn("relevance", F.expr(relevance_sql()).cast("int")).withColumn(
        "pin_id", F.format_string("p%07d", F.col("pin_idx"))
    )


def _ds_expr(start_ds: str, offset: str) -> str:
    return f"date_format(date_add(DATE'{start_ds}', cast({offset} AS int)), 'yyyy-MM-dd')"


def searches(
    spark: SparkSession, queries: DataFrame, n_queries: int, n_users: int, n: int, n_results: int,
    draws: Draws, stream: int, start_ds: str, day_offset_sql: str, query_skew: float,
    partitions: int | None = None,
) -> DataFrame:
    """`n` searches (sid, ds, user_id, q_*) exploded to one row per result slot `pos`."""
    base = spark.range(0, n, 1, partitions).withColumnRenamed("id", "sid").select(
        "sid",
        F.expr(_ds_expr(start_ds, day_offset_sql.format(u=draws.u(stream, "sid")))).alias("ds"),
        F.format_string("u%06d", F.expr(draws.index(stream + 1, n_users, "sid"))).alias("user_id"),
        F.expr(draws.index(stream + 2, n_queries, "sid", power=query_skew)).alias("q_idx"),
    )
    return base.join(queries, "q_idx").withColumn("pos", F.explode(F.sequence(F.lit(0), F.lit(n_results - 1))))


def engagement(shown: DataFrame, draws: Draws, stream: int) -> DataFrame:
    """One impression per shown result plus closeups, clicks and saves with dwell times."""
    rel = "relevance"
    bias = "pow(pos + 1.0D, -0.6D)"
    bait = "exp((bait - 4.5D) * 0.2D)"
    ids = ("sid", "pos")
    p_closeup = f"least(0.95D, {bias} * {bait} * element_at({_arr(CLOSEUP_RATE)}, {rel}))"
    p_click = f"least(0.95D, {bias} * {bait} * element_at({_arr(CLICK_RATE)}, {rel}) + {ACCIDENTAL_CLICK}D)"
    p_save = f"least(0.9D, {bias} * element_at({_arr(SAVE_RATE)}, {rel}))"
    click_median = (
        f"CASE WHEN link_on_topic THEN element_at({_arr(CLICK_DWELL_MEDIAN_S)}, {rel}) "
        f"ELSE {OFF_TOPIC_DWELL_MEDIAN_S}D END"
    )
    d_click = f"round(exp(ln({click_median}) + 0.8D * {draws.normal(stream, *ids)}), 1)"
    d_view = (
        f"round(exp(ln(element_at({_arr(CLOSEUP_DWELL_MEDIAN_S)}, {rel})) + 0.7D * "
        f"{draws.normal(stream + 2, *ids)}), 1)"
    )
    events = """filter(array(
        named_struct('event', 'impression', 'dwell_s', CAST(NULL AS double), 'fire', true),
        named_struct('event', 'closeup', 'dwell_s', _d_view, 'fire', _closeup),
        named_struct('event', 'click', 'dwell_s', _d_click, 'fire', _click),
        named_struct('event', 'save', 'dwell_s', _d_view, 'fire', _save)
      ), e -> e.fire)"""
    drawn = shown.withColumns({
        "_d_view": F.expr(d_view),
        "_d_click": F.expr(d_click),
        "_closeup": F.expr(f"{draws.u(stream + 4, *ids)} < {p_closeup}"),
        "_click": F.expr(f"{draws.u(stream + 5, *ids)} < {p_click}"),
        "_save": F.expr(f"{draws.u(stream + 6, *ids)} < {p_save}"),
    })
    return drawn.withColumn("e", F.explode(F.expr(events))).select(
        "ds",
        F.format_string("s%010d", F.col("sid")).alias("search_id"),
        "user_id", "query", "pin_id",
        F.col("e.event").alias("event"),
        F.col("e.dwell_s").alias("dwell_s"),
        F.col("pos").cast("int").alias("position"),
    )


def link_visits(clicks: DataFrame, pins: DataFrame, draws: Draws, stream: int, rate: float) -> DataFrame:
    """Logged visits of the linked page after a click; dwell is the click's, off-topic pages bounce."""
    sampled = clicks.where(F.expr(f"{draws.u(stream, 'xxhash64(search_id)', 'position')} < {rate}D"))
    return sampled.join(pins.select("pin_id", "link_title", "link_description"), "pin_id").select(
        "ds", "pin_id", "link_title", "link_description", "dwell_s", "search_id"
    )


def board_pins(
    spark: SparkSession, boards: DataFrame, pools: DataFrame, n_boards: int, n: int, draws: Draws, stream: int,
    start_ds: str, history_days: int, partitions: int | None = None,
) -> DataFrame:
    """Saves into boards: mostly pins of the board's concept, some whatever caught the user's eye."""
    n_cat = len(C.CATEGORIES)
    base = spark.range(0, n, 1, partitions).withColumnRenamed("id", "sid").select(
        "sid",
        F.expr(draws.index(stream, n_boards, "sid")).alias("b_idx"),
        F.expr(_ds_expr(start_ds, draws.index(stream + 1, history_days, "sid"))).alias("saved_ds"),
    ).join(boards, "b_idx")
    pool_key = (
        f"CASE WHEN {draws.u(stream + 2, 'sid')} < 0.75D THEN pool_key "
        f"ELSE concat('c', {draws.index(stream + 3, n_cat, 'sid')}) END"
    )
    pick = draws.u(stream + 4, "sid", "i")
    best = (
        f"array_max(transform(transform(sequence(1, 3), i -> element_at(codes, cast(floor({pick} * size(codes)) "
        f"as int) + 1)), c -> (CASE WHEN q_a0 >= 0 AND cast((c div 100) % 10 as int) = q_a0 THEN 1 ELSE 0 END) "
        f"* {_SCORE}L + c)) % {_SCORE}L"
    )
    picked = (
        base.withColumnRenamed("a0", "q_a0")
        .withColumn("pool_key", F.expr(pool_key))
        .join(pools, "pool_key")
        .withColumn("code", F.expr(best))
        .withColumn("pin_id", F.format_string("p%07d", F.expr(f"code div {CODE_PIN}")))
    )
    return picked.groupBy("board_id", "pin_id", "board_title", "user_id").agg(F.min("saved_ds").alias("saved_ds"))


def rated_pairs(
    shown: DataFrame, draws: Draws, stream: int, n_ratings: int
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(human_labels, human_label_ratings, true relevance) for the distinct pairs shown in label searches.

    Each pair has three raters. A pair is ambiguous with some chance (all raters
    see it one level off), and each rater adds their own noise; the label is the
    median, so it equals the true relevance most of the time but not always.
    """
    pairs = shown.groupBy("query", "pin_id", "q_idx", "pin_idx", "relevance").agg(
        F.min("ds").alias("labeled_ds")
    )
    ids = ("q_idx", "pin_idx")
    amb = draws.u(stream, *ids)
    perceived = (
        f"least(5, greatest(1, relevance + CASE WHEN {amb} < 0.08D THEN -1 WHEN {amb} < 0.16D THEN 1 ELSE 0 END))"
    )
    base_rater = draws.index(stream + 1, N_RATERS_POOL, *ids)

    def noise(k: int) -> str:
        u = draws.u(stream + 2 + k, *ids)
        return (f"CASE WHEN {u} < 0.76D THEN 0 WHEN {u} < 0.865D THEN -1 WHEN {u} < 0.97D THEN 1 "
                f"WHEN {u} < 0.985D THEN -2 ELSE 2 END")

    ratings = f"""transform(sequence(0, {n_ratings - 1}), k -> named_struct(
        'rater_id', format_string('r%03d', cast(({base_rater} + 7 * k) % {N_RATERS_POOL} as int)),
        'label', cast(least(5, greatest(1, {perceived} + CASE {' '.join(f'WHEN k = {k} THEN {noise(k)}' for k in range(n_ratings))} END)) as int)))"""
    rated = pairs.withColumn("ratings", F.expr(ratings))
    labels = rated.select(
        "query", "pin_id",
        F.expr("element_at(array_sort(transform(ratings, r -> r.label)), cast((size(ratings) + 1) / 2 as int))")
        .alias("label"),
        "ratings", "labeled_ds",
    ).select(
        "query", "pin_id", "label",
        F.expr("filter(ratings, r -> r.label = label)[0].rater_id").alias("rater_id"),
        "labeled_ds",
        F.size("ratings").alias("n_raters"),
    )
    every = rated.select("query", "pin_id", F.explode("ratings").alias("r"), "labeled_ds").select(
        "query", "pin_id", "r.rater_id", "r.label", "labeled_ds"
    )
    truth = pairs.select("query", "pin_id", "relevance")
    return labels, every, truth
