"""`searchrel label --ds D | --start S --end E [--teacher VERSION] [--force]`: teacher scores for impressions.

Reads raw/impressions for the dates and features/pin_text as of each day, scores every
(query, pin) pair the chosen teacher version has not scored yet with the teacher inside
a pandas UDF, and writes labels/teacher_scores (partitioned by ds).

Resumable: the pending pairs are cut into hash chunks of about `labelling.chunk_rows`
rows and each chunk is committed on its own with an insert-only MERGE on the key, so a
run killed half way keeps every chunk it committed and a rerun scores only the rest,
each row exactly once. A finished range is a no-op; `--force` rescores the range and
replaces this teacher version's rows in one atomic commit (other versions untouched).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import math
import os
import sys
import time
from typing import Any, Iterator

from searchrel.core import catalog
from searchrel.core.errors import UsageError
from searchrel.core.faults import checkpoint
from spark_jobs import runner

log = logging.getLogger("searchrel.label")

SCORES = catalog.TEACHER_SCORES.name
IMPRESSIONS = catalog.IMPRESSIONS.name
PIN_TEXT = catalog.PIN_TEXT.name
RUNS_DIR = "label_runs"
# Test hook: raise after committing this many chunks, to prove a killed run resumes exactly once.
CRASH_ENV = "SEARCHREL_LABEL_CRASH_AFTER_CHUNKS"
ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", metavar="VERSION",
                        help="teacher version under models/teacher/ (default labelling.teacher_version)")
    parser.add_argument("--force", action="store_true",
                        help="rescore the range and replace this teacher version's rows atomically")


def _resolve_teacher(ctx: runner.JobContext) -> tuple[str, str, dict[str, Any]]:
    """(teacher directory, teacher version, meta); a missing teacher is a usage error (exit 2)."""
    from modeling.cross_encoder import resolve_teacher_dir

    from modeling.safe_weights import refuse_pickles
    from searchrel.core.names import check_plain_name

    requested = ctx.args.teacher or ctx.config.labelling.teacher_version
    check_plain_name(requested, "teacher version")  # a folder name, and it goes into the MERGE's SQL
    try:
        directory = resolve_teacher_dir(ctx.config.models_path, requested)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise UsageError(f"teacher {requested!r}: {exc}") from None
    # On the driver, before Spark: the workers' load_teacher refuses it too, but as a task failure.
    refuse_pickles(directory, "teacher")
    if not os.path.exists(os.path.join(str(directory), "teacher.json")):
        raise UsageError(f"teacher {requested!r}: no teacher.json in {directory}")
    with open(os.path.join(str(directory), "teacher.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    version = os.path.basename(str(directory).rstrip("/"))  # models/teacher/<version>/
    return str(directory), version, meta


def _ensure_scores_table(ctx: runner.JobContext) -> None:
    """Create the empty, ds-partitioned table once, so every later write is a MERGE or replaceWhere.

    A table written before a column joined the contract (`backend`) gets it added, null
    for its old rows, in one metadata-only commit: the MERGE needs the columns to match.
    """
    path = ctx.tables.path(SCORES)
    if not ctx.tables.exists(SCORES):
        empty = ctx.spark.createDataFrame([], catalog.TEACHER_SCORES.schema)

        def create() -> None:
            if not ctx.tables.exists(SCORES):  # a concurrent run may have created it meanwhile
                empty.write.format("delta").mode("append").partitionBy(catalog.TEACHER_SCORES.partition).save(path)

        ctx.tables.commit(SCORES, create)
        return
    wanted = ctx.spark.createDataFrame([], catalog.TEACHER_SCORES.schema).schema

    def add_missing_columns() -> None:
        # Looked up on each try: a concurrent run that won the race may have added them already.
        have = set(ctx.tables.read(SCORES).columns)
        missing = [f for f in wanted if f.name not in have]
        if missing:
            columns = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in missing)
            log.info("label: adding column(s) %s to %s", columns, SCORES)
            ctx.spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")

    if any(f.name not in set(ctx.tables.read(SCORES).columns) for f in wanted):
        ctx.tables.commit(SCORES, add_missing_columns)


def _check_backend(backend: str, device: str, meta: dict[str, Any], version: str) -> None:
    """Refuse on the driver, before any Spark work, what the workers could not score."""
    from modeling.teacher_onnx import refusal

    why = refusal(backend, device, meta, version)
    if why:
        raise UsageError(why)


def _insert_new(ctx: runner.JobContext, rows, version: str) -> None:
    """Insert-only MERGE on the key: a row already there (say, from a concurrent run) is never doubled.

    The range and version in the condition let Delta prune the target to the partitions at stake.
    """
    from delta.tables import DeltaTable

    start, end = ctx.dates
    condition = (
        f"t.ds >= '{start}' AND t.ds <= '{end}' AND t.teacher_version = '{version}' "
        "AND t.query = s.query AND t.pin_id = s.pin_id AND t.ds = s.ds AND t.teacher_version = s.teacher_version"
    )
    # Through Tables.commit: a run that loses the race to a concurrent one retries, and its
    # insert-only MERGE then skips the rows the winner inserted.
    ctx.tables.commit(SCORES, lambda: (
        DeltaTable.forPath(ctx.spark, ctx.tables.path(SCORES)).alias("t")
        .merge(rows.alias("s"), condition).whenNotMatchedInsertAll().execute()))


@contextlib.contextmanager
def _spark_conf(spark, key: str, value: str) -> Iterator[None]:
    """Set a session conf for the scoring only, and put back what was there (the session may be shared)."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


def _record_run(ctx: runner.JobContext, record: dict[str, Any]) -> None:
    """Add this run to <warehouse>/reports/label_runs/, one file a run (the demo report reads them).

    A file of its own, not an entry in a shared list: two label runs at once each keep
    their record (`searchrel.core.files.add_record`).
    """
    from searchrel.core.files import add_record

    add_record(os.path.join(ctx.config.reports_path, RUNS_DIR), record, spark=ctx.spark)


def run(ctx: runner.JobContext) -> dict[str, Any]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from features.labelling_inputs import KEY, pending, split_inputs, tagged_inputs, with_chunk
    from modeling.labelling import ScoringOptions, score_pairs
    from searchrel.core.dates import ds_predicate
    from searchrel.core.quarantine import reconcile

    cfg = ctx.config.labelling
    start, end = ctx.dates
    teacher_dir, version, meta = _resolve_teacher(ctx)
    _check_backend(cfg.backend, cfg.device, meta, version)
    opts = ScoringOptions.from_config(teacher_dir, cfg)
    spark, tables = ctx.spark, ctx.tables
    started = time.time()
    log.info("label %s..%s with teacher %s (%s, backend %s)%s", start, end, version, teacher_dir, cfg.backend,
             " --force" if ctx.args.force else "")

    impressions = tables.read_range(IMPRESSIONS, start, end)
    earliest = (dt.date.fromisoformat(start) - dt.timedelta(days=cfg.pin_text_lookback_days)).isoformat()
    # The read bound prunes partitions; the rule itself (per row, within the lookback of its own
    # day) is features.as_of's.
    pin_text = tables.read(PIN_TEXT).where(F.col("as_of").cast("string").between(earliest, end))
    # The as-of join is computed once and cached: the counts, the quarantine, the pending
    # pairs and the reconciliation all read it, and on a daily run recomputing it for each
    # would cost more than scoring a small day.
    tagged = tagged_inputs(impressions, pin_text, start, end, parts=meta.get("parts"),
                           lookback_days=cfg.pin_text_lookback_days).persist(StorageLevel.MEMORY_AND_DISK)
    todo = None
    try:
        rows_in, n_bad = tagged.agg(F.count(F.lit(1)), F.count("reason")).first()
        good, bad = split_inputs(tagged)
        quarantined = tables.quarantine(SCORES, bad, ctx.name, ctx.run_id, start, end, known_count=n_bad)
        _ensure_scores_table(ctx)
        log.info("label: %d impressions in, %d quarantined (%.1f s)", rows_in, quarantined, time.time() - started)

        crash_after = int(os.environ.get(CRASH_ENV, "0") or 0)
        parallelism = max(1, spark.sparkContext.defaultParallelism)
        if ctx.args.force:
            todo = good.repartition(parallelism).persist(StorageLevel.MEMORY_AND_DISK)
        else:
            scored = tables.read_range(SCORES, start, end)
            todo = pending(good, scored, version).repartition(parallelism).persist(StorageLevel.MEMORY_AND_DISK)
        n_todo = todo.count()
        n_chunks = 1 if ctx.args.force else max(1, math.ceil(n_todo / cfg.chunk_rows))
        log.info("label: %d pairs to score in %d chunk(s) (%.1f s)", n_todo, n_chunks, time.time() - started)
        with _spark_conf(spark, ARROW_BATCH_CONF, str(cfg.arrow_batch_rows)):
            score_started = time.time()
            if n_todo == 0:
                log.info("label: nothing to score for %s..%s with teacher %s (already done)", start, end, version)
            elif ctx.args.force:
                tables.replace_range(SCORES, score_pairs(todo, opts, version), start, end,
                                     extra_predicate=f"teacher_version = '{version}'")
            else:
                from tqdm.auto import tqdm

                chunked = with_chunk(todo, n_chunks)
                for k in tqdm(range(n_chunks), desc=f"label {start}..{end}", unit="chunk", disable=n_chunks == 1):
                    _insert_new(ctx, score_pairs(chunked.where(F.col("chunk") == k).drop("chunk"), opts, version), version)
                    log.info("label: committed chunk %d/%d", k + 1, n_chunks)
                    checkpoint("label.chunk.after", f"{k + 1}/{n_chunks}")
                    if crash_after and k + 1 >= crash_after and k + 1 < n_chunks:
                        raise RuntimeError(f"simulated crash after chunk {k + 1} of {n_chunks} ({CRASH_ENV})")
            seconds = time.time() - score_started

        # Every scorable pair must now be in the table exactly once for this version.
        mine = tables.read(SCORES).where(ds_predicate(start, end)).where(F.col("teacher_version") == version)
        written = good.select(*KEY).join(mine.select(*KEY), list(KEY)).count()
        reconcile(ctx.name, SCORES, rows_in, written, quarantined)
    finally:
        if todo is not None:
            todo.unpersist()
        tagged.unpersist()

    record = {
        "run_id": ctx.run_id,
        "ds": start if start == end else None,
        "start": start,
        "end": end,
        "teacher_version": version,
        "force": bool(ctx.args.force),
        "rows_in": rows_in,
        "rows_quarantined": quarantined,
        "rows_already_scored": rows_in - quarantined - n_todo,
        "rows": n_todo,
        "chunks": n_chunks if n_todo else 0,
        "seconds": round(seconds, 3),
        "rows_per_s": round(n_todo / seconds, 2) if n_todo and seconds > 0 else 0.0,
        "wall_seconds": round(time.time() - started, 3),
        "micro_batch_size": cfg.micro_batch_size,
        "arrow_batch_rows": cfg.arrow_batch_rows,
        "device": cfg.device,
        "backend": cfg.backend,
        "parallelism": parallelism,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    _record_run(ctx, record)
    log.info("label: scored %d rows in %.1f s (%.1f rows/s), %d already scored, %d quarantined",
             n_todo, seconds, record["rows_per_s"], record["rows_already_scored"], quarantined)
    return {k: record[k] for k in ("teacher_version", "backend", "rows_in", "rows", "rows_already_scored",
                                   "rows_quarantined", "chunks", "seconds", "rows_per_s")}


main = runner.entry_point("label", run, dates="required", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
