"""`searchrel student-features --ds D | --start S --end E`: the student's feature tables.

Three stages, each idempotent and each costing what the new data costs:

1. features/query_features: MERGE of the queries not seen before (impressions of
   the days plus human-labelled queries); existing queries are not re-embedded.
2. features/pin_embeddings: one as_of partition per pin_text snapshot in the
   range (plus the newest one before it when missing); text embeddings are
   reused for pins whose text hash did not change; the ALS graph embedding is
   refitted every student.graph_refresh_days and reused in between.
3. features/student_examples: the impressions of every day of the range in
   one pass and one commit (source `impression`, replaceWhere ds in range AND
   source = impression; each day's rows see that day's pin text, BM25 corpus
   and history), then every human-labelled pair up to the last day (source
   `human_label`), with rejected rows quarantined and counts reconciled.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import sys
from collections.abc import Iterator
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from searchrel.core import catalog
from searchrel.core.dates import date_list
from searchrel.core.files import delete_tree
from spark_jobs import runner

log = logging.getLogger(__name__)

EXAMPLES = catalog.STUDENT_EXAMPLES.name
QUERY_FEATURES = catalog.QUERY_FEATURES.name
PIN_EMBEDDINGS = catalog.PIN_EMBEDDINGS.name
JOB = "student-features"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-human-labels", action="store_true", help="skip (re)building the human-labelled rows"
    )


def _days_before(ds: str, days: int) -> str:
    return (dt.date.fromisoformat(ds) - dt.timedelta(days=days)).isoformat()


def _tokenizer(ctx: runner.JobContext):
    from features.tokenizer import tokenize_column

    min_len = ctx.config.features.min_token_len
    return lambda col, lang: tokenize_column(col, lang, min_len)


def _embed(ctx: runner.JobContext):
    from modeling.embedder import embedding_udf

    s = ctx.config.student
    return embedding_udf(s.embedding_model, s.embed_batch_size, s.embed_max_length)


def build_query_features(ctx: runner.JobContext, impressions: DataFrame, human: DataFrame | None) -> int:
    """Embed and classify queries not yet in features/query_features; returns how many were added."""
    from features.query_features import compute_query_features, interest_centroids, new_queries, query_languages
    from features.query_features import shopping_centroid
    from modeling.embedder import embed_texts

    s = ctx.config.student
    candidates = query_languages(impressions)
    if human is not None:
        candidates = candidates.unionByName(
            human.select("query", F.lit(None).cast("string").alias("lang")).distinct()
        )
    existing = ctx.tables.read(QUERY_FEATURES) if ctx.tables.exists(QUERY_FEATURES) else None
    todo = new_queries(candidates, existing).persist()
    n = todo.count()
    if n:
        def embed_py(texts: list[str]):
            return embed_texts(texts, s.embedding_model, s.embed_batch_size, s.embed_max_length)

        names, centroids = interest_centroids(embed_py)
        features = compute_query_features(
            todo, _embed(ctx), _tokenizer(ctx), names, centroids, shopping_centroid(embed_py)
        )
        ctx.tables.merge(QUERY_FEATURES, features, catalog.QUERY_FEATURES.keys, update=False)
    todo.unpersist()
    log.info("query_features: %d new queries", n)
    return n


def _snapshots_to_build(ctx: runner.JobContext, pin_text: DataFrame) -> list[str]:
    as_ofs = sorted(r[0] for r in pin_text.select(F.col("as_of").cast("string")).distinct().collect())
    wanted = [a for a in as_ofs if ctx.start <= a <= ctx.end]
    before = [a for a in as_ofs if a < ctx.start]
    built: set[str] = set()
    if ctx.tables.exists(PIN_EMBEDDINGS):
        built = {r[0] for r in ctx.tables.read(PIN_EMBEDDINGS).select("as_of").distinct().collect()}
    if before and before[-1] not in built:
        wanted.insert(0, before[-1])
    if not wanted and not built and as_ofs:
        wanted = [as_ofs[0]]  # only later snapshots exist: build the oldest so rows can fall back to it
    return wanted


def _graph_fits(table: DataFrame | None) -> set[str]:
    """as_of dates whose ALS graph was fitted (not reused), from the table written so far."""
    if table is None:
        return set()
    if "graph_as_of" not in table.columns:  # written before graphs were reused: every snapshot is a fit
        return {r[0] for r in table.select("as_of").distinct().collect()}
    # Partitions written before the column existed read it as null: those were fits too.
    fitted = F.coalesce(F.col("graph_as_of"), F.col("as_of"))
    return {r[0] for r in table.select(fitted).distinct().collect()}


@contextlib.contextmanager
def _als_checkpoints(ctx: runner.JobContext) -> Iterator[None]:
    """A checkpoint folder for this run's ALS fits (features.pin_embeddings.graph_embeddings), removed after.

    ALS cuts its lineage only by checkpointing, which needs the SparkContext's checkpoint
    folder; on a cluster it must be storage every executor reaches, as the warehouse is.
    One folder per run, so two runs at once do not delete each other's files. Removing it
    is best effort: a failure there is logged, so it never hides the error that ended the run.
    """
    spark = ctx.spark
    folder = f"{ctx.tables.root.rstrip('/')}/_checkpoints/{JOB}-{ctx.run_id}"
    spark.sparkContext.setCheckpointDir(folder)
    try:
        yield
    finally:
        try:
            delete_tree(spark, folder)
        except Exception as exc:  # noqa: BLE001 - leftover checkpoint files are read by nothing
            first_line = str(exc).split("\n", 1)[0]
            log.warning("could not remove the ALS checkpoint folder %s: %s", folder, first_line)


def build_pin_embeddings(ctx: runner.JobContext, pin_text: DataFrame) -> list[str]:
    """Write features/pin_embeddings partitions for the pin_text snapshots of the range.

    The ALS graph is fitted at most once per `student.graph_refresh_days`; the
    snapshots in between copy the last fit's vectors (pins new since then get the
    zero vector until the next fit), which is most of this stage's cost saved on
    a daily run.
    """
    done = []
    with _als_checkpoints(ctx):
        for as_of in _snapshots_to_build(ctx, pin_text):
            _build_snapshot(ctx, pin_text, as_of)
            done.append(as_of)
    return done


def _build_snapshot(ctx: runner.JobContext, pin_text: DataFrame, as_of: str) -> None:
    """One features/pin_embeddings partition (as_of): text embeddings reused by hash, the graph fitted or reused."""
    from features.pin_embeddings import assemble_pin_embeddings, graph_embeddings, latest_text
    from features.pin_embeddings import reusable_graph_as_of, text_embeddings

    s = ctx.config.student
    previous, table = None, None
    if ctx.tables.exists(PIN_EMBEDDINGS):
        table = ctx.tables.read(PIN_EMBEDDINGS)
        last = table.where(F.col("as_of") < as_of).agg(F.max("as_of")).collect()[0][0]
        keep = [a for a in (last, as_of) if a]
        previous = table.where(F.col("as_of").isin(keep)).persist()
    texts = latest_text(pin_text, as_of)
    text_emb = text_embeddings(texts, previous, _embed(ctx))
    fits = _graph_fits(table) - {as_of}  # rebuilding a fit snapshot refits it
    reuse = reusable_graph_as_of(fits, as_of, s.graph_refresh_days)
    if reuse is None:
        graph = graph_embeddings(
            ctx.tables.read(catalog.BOARD_PINS.name), as_of, s.graph_embedding_dim, s.als_iterations, s.als_reg,
            s.als_alpha, s.seed, s.als_checkpoint_interval,
        )
    else:
        graph = table.where(F.col("as_of") == reuse).select("pin_id", "graph_embedding")
        log.info("pin_embeddings as_of %s: graph reused from the %s fit", as_of, reuse)
    out = assemble_pin_embeddings(text_emb, graph, as_of, s.graph_embedding_dim, reuse or as_of).persist()
    n = out.count()
    ctx.tables.replace_range(PIN_EMBEDDINGS, out, as_of, as_of, col="as_of", merge_schema=True)
    out.unpersist()
    if previous is not None:
        previous.unpersist()
    log.info("pin_embeddings as_of %s: %d pins", as_of, n)


def _teacher(ctx: runner.JobContext, by_day: bool, start: str | None = None, end: str | None = None) -> DataFrame:
    from features.student_examples import latest_teacher_scores

    name = catalog.TEACHER_SCORES.name
    if not ctx.tables.exists(name):
        keys = "query string, pin_id string, ds string," if by_day else "query string, pin_id string,"
        return ctx.spark.createDataFrame([], keys + " teacher_probs array<float>, teacher_version string")
    scores = ctx.tables.read_range(name, start, end) if by_day and start else ctx.tables.read(name)
    return latest_teacher_scores(scores, by_day, ctx.config.student.teacher_version)


def _write_examples(
    ctx: runner.JobContext, base: DataFrame, teacher: DataFrame, human: DataFrame, corpus_days: list[str],
    first: str, last: str, source: str, pin_text: DataFrame, query_features: DataFrame, pin_embeddings: DataFrame,
) -> dict[str, int]:
    """One pass for every row of one source in [first, last], in one commit.

    `base` carries `corpus_day`, the day whose pin text its BM25 is scored
    against (its own ds for impressions); `corpus_days` lists them, so the
    corpus statistics of several days come from one pass too.
    """
    from features.bm25 import corpus_stats
    from features.interactions import daily_engagement
    from features.pin_embeddings import latest_text
    from features.as_of import AFTER_DAY
    from features.student_examples import SOURCE_HUMAN, ExampleSettings, example_features, split_examples
    from features.student_examples import tagged_examples
    from searchrel.core.quarantine import reconcile

    settings = ExampleSettings.from_config(ctx.config)
    tokenize = _tokenizer(ctx)
    texts = None
    for day in corpus_days:
        one = latest_text(pin_text, day).withColumn("corpus_day", F.lit(day))
        texts = one if texts is None else texts.unionByName(one)
    pin_tokens = texts.select(
        "corpus_day", "pin_id", tokenize(F.col("text"), F.col("lang")).alias("tokens")
    ).persist()
    corpus = corpus_stats(pin_tokens, by=["corpus_day"])
    events_from = _days_before(first, settings.engagement_window_days)
    events = ctx.tables.read_range(catalog.SEARCH_EVENTS.name, events_from, last)
    daily = daily_engagement(events, events_from, last).persist()
    # The join is cached once: the rejected rows, the usable ones and the BM25 and engagement
    # features of those all read it (uncached, each re-ran the as-of joins and the tokenizer:
    # on a small day, planning and running those joins three times was most of the job).
    base = base.persist()
    rows_in = base.count()  # counted at the source, so a join that multiplied rows would fail to reconcile
    # Human labels older than their pin's first snapshot take that snapshot (features.as_of), counted below.
    before_history = "earliest" if source == SOURCE_HUMAN else "reject"
    tagged = tagged_examples(base, query_features, pin_text, pin_embeddings, teacher, human, tokenize,
                             before_history).persist()
    usable, bad = split_examples(tagged)
    good = example_features(usable, daily, corpus, tokenize, settings)
    good = good.repartition("ds").persist()  # one file per day partition, not one per task and day
    written = good.count()
    ctx.tables.replace_range(EXAMPLES, good, first, last, extra_predicate=f"source = '{source}'")
    bad = bad.persist()
    quarantined = bad.count()  # Tables.quarantine's own count is per run, and this run writes two sources
    ctx.tables.quarantine(EXAMPLES, bad, f"{JOB}/{source}", ctx.run_id, first, last, known_count=quarantined)
    reconcile(JOB, f"{EXAMPLES} ({source}, {first}..{last})", rows_in, written, quarantined)
    with_teacher = good.where(F.col("teacher_probs").isNotNull()).count()
    after_day = usable.where(F.col(AFTER_DAY)).count()
    if after_day:
        log.info("%s: %d %s rows predate their pin's first pin_text snapshot and use it", EXAMPLES, after_day, source)
    for frame in (good, bad, tagged, base, daily, pin_tokens):
        frame.unpersist()
    return {"rows_in": rows_in, "written": written, "quarantined": quarantined, "with_teacher": with_teacher,
            "text_after_day": after_day}


def run(ctx: runner.JobContext) -> dict[str, Any]:
    from features.student_examples import SOURCE_HUMAN, SOURCE_IMPRESSION, human_label_pairs


    impressions = ctx.tables.read_range(catalog.IMPRESSIONS.name, ctx.start, ctx.end).withColumn(
        "ds", F.col("ds").cast("string")
    )
    use_human = not ctx.args.no_human_labels and ctx.tables.exists(catalog.HUMAN_LABELS.name)
    human = human_label_pairs(ctx.tables.read(catalog.HUMAN_LABELS.name)).persist() if use_human else None
    result: dict[str, Any] = {"query_features_added": build_query_features(ctx, impressions, human)}
    pin_text = ctx.tables.read(catalog.PIN_TEXT.name).withColumn("as_of", F.col("as_of").cast("string"))
    result["pin_embeddings_as_of"] = build_pin_embeddings(ctx, pin_text)
    query_features = ctx.tables.read(QUERY_FEATURES)
    pin_embeddings = ctx.tables.read(PIN_EMBEDDINGS)
    empty_human = ctx.spark.createDataFrame([], "query string, pin_id string, human_label int")
    human_labels = human if human is not None else empty_human

    # Every day of the range in one pass: each day's rows still see that day's pin text, corpus and history.
    base = impressions.select(
        "query", "pin_id", "ds", F.lit(SOURCE_IMPRESSION).alias("source"), F.col("ds").alias("corpus_day")
    )
    result[f"impressions {ctx.start}..{ctx.end}"] = _write_examples(
        ctx, base, _teacher(ctx, True, ctx.start, ctx.end), human_labels, date_list(ctx.start, ctx.end),
        ctx.start, ctx.end, SOURCE_IMPRESSION, pin_text, query_features, pin_embeddings,
    )
    if human is not None:
        base = human.where(F.col("ds") <= ctx.end).select(
            "query", "pin_id", "ds", F.lit(SOURCE_HUMAN).alias("source"), F.lit(ctx.end).alias("corpus_day")
        )
        first = base.agg(F.min("ds")).collect()[0][0]
        if first:
            result["human_labels"] = _write_examples(
                ctx, base, _teacher(ctx, False), human_labels, [ctx.end], first, ctx.end, SOURCE_HUMAN, pin_text,
                query_features, pin_embeddings,
            )
        human.unpersist()
    return result


main = runner.entry_point(JOB, run, dates="required", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
