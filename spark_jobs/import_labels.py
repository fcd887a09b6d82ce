"""`searchrel import-labels FILE`: load an external labelled dataset into raw/pins and raw/human_labels.

CSV (optionally .gz), Parquet or JSON lines, in a stated (`--encoding`) or
detected encoding. Example, the Home Depot file as it came:

    searchrel import-labels ../shared/data/homedepot/train.csv.gz --query-col search_term \\
        --text-col product_title --label-col relevance --id-col product_uid --label-map bins

`--ds` is the labelled date written to `labeled_ds` (default: today, UTC).
Both tables are MERGEd on their keys, so importing the same file twice leaves
the same rows; rejected rows go to quarantine/raw_human_labels with a reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

from searchrel.core import catalog
from searchrel.core.errors import UsageError
from spark_jobs import runner

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="CSV (.csv, .csv.gz, .tsv), Parquet or JSON lines file (or folder)")
    parser.add_argument("--query-col", required=True, help="column holding the search query")
    parser.add_argument("--text-col", required=True, help="column holding the item title / text")
    parser.add_argument("--label-col", required=True, help="column holding the grade or score")
    parser.add_argument("--id-col", help="column holding the item id (default: a hash of the text)")
    parser.add_argument("--description-col", help="column holding an item description")
    parser.add_argument("--rater-col", help="column holding the rater id (default: the source name)")
    parser.add_argument(
        "--label-map", default="identity",
        help="identity (values are 1..5), bins (scores binned by import_labels.score_bins) "
        "or raw=level pairs, e.g. 'Exact=5,Substitute=3,Irrelevant=1'",
    )
    parser.add_argument("--encoding", help="text encoding (default: detected)")
    parser.add_argument("--format", choices=FORMATS, help="file format (default: from the extension)")
    parser.add_argument("--sep", default=None, help="CSV field separator (default , or tab for .tsv)")
    parser.add_argument("--source", help="dataset name, prefixes pin ids (default: the file name)")


def _format_of(path: str) -> str:
    name = path.lower().removesuffix(".gz").removesuffix(".bz2")
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if name.endswith((".parquet", ".pq")) or os.path.isdir(path):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "json"
    raise UsageError(f"cannot tell the format of {path!r} from its name: pass --format")


def _source_of(path: str) -> str:
    stem = Path(path.rstrip("/")).name.split(".")[0]
    parent = Path(path.rstrip("/")).parent.name
    # "train.csv.gz" says little; its folder ("homedepot") names the dataset.
    base = parent if stem in ("train", "test", "data", "labels", "part") and parent else stem
    return re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_") or "import"


def _read(ctx: runner.JobContext, path: str, fmt: str, encoding: str | None):
    from modeling.label_import import java_charset

    reader = ctx.spark.read
    if fmt == "parquet":
        return reader.parquet(path)
    if fmt == "csv":
        sep = ctx.args.sep or ("\t" if ".tsv" in ctx.args.file.lower() else ",")
        reader = (
            reader.option("header", True).option("multiLine", True).option("escape", '"')
            .option("sep", sep).option("mode", "PERMISSIVE").option("inferSchema", False)
        )
        if encoding:
            reader = reader.option("encoding", java_charset(encoding))
        return reader.csv(path)
    if encoding and java_charset(encoding) != "UTF-8":
        reader = reader.option("encoding", java_charset(encoding)).option("lineSep", "\n")
    return reader.option("primitivesAsString", True).json(path)


# The charsets Spark 4's CSV and JSON readers accept (spark.sql.legacy.javaCharsets is off).
SPARK_CHARSETS = {"ISO-8859-1", "US-ASCII", "UTF-16", "UTF-16BE", "UTF-16LE", "UTF-32", "UTF-8"}


def _needs_transcoding(fmt: str, encoding: str | None) -> bool:
    """Spark reads only a few charsets, and JSON lines only in ones whose newline is one byte."""
    from modeling.label_import import java_charset

    if fmt == "parquet" or encoding is None:
        return False
    charset = java_charset(encoding)
    return charset not in SPARK_CHARSETS or (fmt == "json" and charset.startswith(("UTF-16", "UTF-32")))


def _transcode_to_utf8(path: str, encoding: str, folder: str, fmt: str) -> str:
    """A UTF-8 copy of a local file, streamed (windows-1252, Shift_JIS, UTF-16 JSON lines, …)."""
    import codecs
    import gzip
    import shutil

    target = os.path.join(folder, "input.jsonl" if fmt == "json" else "input.csv")
    raw = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
    # errors="replace": a byte that is not text in `encoding` becomes U+FFFD, and its row is
    # quarantined ("invalid unicode in …") instead of the whole import stopping with a traceback.
    with raw, codecs.getreader(encoding)(raw, errors="replace") as src, open(target, "w", encoding="utf-8") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


# Characters Hadoop reads as a glob pattern or a URI scheme in a path ("[v2]", "a:b", "*").
_HADOOP_SPECIAL = re.compile(r"[*?\[\]{}\\:]")


def _readable_path(path: str, folder: str) -> str:
    """A path Spark reads as it is: a local path holding glob or URI characters is linked under a plain name.

    Spark hands a path to Hadoop, which expands `[...]`, `{...}`, `*` and `?` as globs and
    takes `x:` for a scheme, so a file named `labels [v2].csv` is "not found". Spaces,
    quotes and non-ASCII letters need nothing.
    """
    if "://" in path or not _HADOOP_SPECIAL.search(path):
        return path
    link = os.path.join(folder, "input" + "".join(Path(path.rstrip("/")).suffixes[-2:]))
    os.symlink(path, link)
    return link


def run(ctx: runner.JobContext) -> dict:
    from modeling.label_import import LabelMap, detect_encoding, python_codec, read_sample

    args = ctx.args
    path = args.file if "://" in args.file else os.path.abspath(args.file)
    if "://" not in path and not os.path.exists(path):
        raise UsageError(f"no such file: {args.file}")
    fmt = args.format or _format_of(path)
    try:
        label_map = LabelMap.parse(args.label_map, ctx.config.import_labels.score_bins)
        encoding = python_codec(args.encoding) if args.encoding else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if fmt != "parquet" and encoding is None:
        if "://" in path or os.path.isdir(path):
            encoding = "utf_8"
            log.info("encoding not given for %s; assuming UTF-8 (pass --encoding otherwise)", path)
        else:
            encoding = detect_encoding(read_sample(path))
            log.info("detected encoding %s for %s", encoding, path)
    if ctx.dates and ctx.start != ctx.end:
        raise UsageError("import-labels takes one --ds (the labelled date), not a range")
    labeled_ds = ctx.start if ctx.dates else dt.datetime.now(dt.timezone.utc).date().isoformat()
    source = args.source or _source_of(path)

    with tempfile.TemporaryDirectory(prefix="import_labels_") as scratch:
        read_path = path
        if _needs_transcoding(fmt, encoding) and "://" not in path and not os.path.isdir(path):
            read_path, encoding_read = _transcode_to_utf8(path, encoding, scratch, fmt), None
            log.info("transcoded %s from %s to UTF-8 for Spark's %s reader", path, encoding, fmt)
        else:
            read_path, encoding_read = _readable_path(path, scratch), encoding
        return _import(ctx, path, read_path, fmt, encoding, encoding_read, label_map, labeled_ds, source)


def _import(ctx, path, read_path, fmt, encoding, encoding_read, label_map, labeled_ds, source) -> dict:
    from pyspark.sql import functions as F

    from modeling.label_import import LABELS_TABLE, PINS_TABLE, TextLimits, split_staged, stage_rows
    from searchrel.core.quarantine import reconcile

    args = ctx.args
    rows = _read(ctx, read_path, fmt, encoding_read).withColumn("row_number", F.monotonically_increasing_id()).cache()
    rows_in = rows.count()
    log.info("read %d rows from %s (%s, %s)", rows_in, path, fmt, encoding or "binary")
    try:
        staged = stage_rows(
            rows, query_col=args.query_col, text_col=args.text_col, label_col=args.label_col,
            label_map=label_map, labeled_ds=labeled_ds, source=source, id_col=args.id_col,
            description_col=args.description_col, rater_col=args.rater_col,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    staged = staged.cache()
    limits = TextLimits(ctx.config.validation.max_query_chars, ctx.config.features.max_text_chars)
    labels, pins, rejected = split_staged(staged, labeled_ds, source, limits)
    n_labels = labels.count()
    ctx.tables.merge(LABELS_TABLE, labels, catalog.HUMAN_LABELS.keys)
    ctx.tables.merge(PINS_TABLE, pins, catalog.PINS.keys)
    n_pins = pins.count()
    n_bad = ctx.tables.quarantine(LABELS_TABLE, rejected, ctx.name, ctx.run_id, labeled_ds, ds_col=None)
    reasons = {r["reason"]: r["count"] for r in rejected.groupBy("reason").count().collect()}
    distribution = {str(r["label"]): r["count"] for r in labels.groupBy("label").count().orderBy("label").collect()}
    reconcile(ctx.name, LABELS_TABLE, rows_in, n_labels, n_bad)
    staged.unpersist()
    rows.unpersist()
    return {
        "file": path,
        "format": fmt,
        "encoding": encoding,
        "source": source,
        "labeled_ds": labeled_ds,
        "rows_in": rows_in,
        "labels_written": n_labels,
        "pins_written": n_pins,
        "quarantined": n_bad,
        "quarantine_reasons": reasons,
        "label_distribution": distribution,
    }


main = runner.entry_point("import-labels", run, dates="optional", add_arguments=add_arguments, description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
