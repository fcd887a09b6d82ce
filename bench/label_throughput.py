"""Teacher labelling throughput: the job against a ceiling and against the stock approach.

    python bench/label_throughput.py --rows 2000 [--warehouse /tmp/label_bench_wh] [--repeat 2]

The same N impressions are scored three ways, with the same teacher weights and the
same CPU threads in total (the cores of the machine):

  (a) ceiling: a plain PyTorch loop over pre-tokenised, length-sorted micro-batches in
      one process (tokenisation not timed) — the most this hardware gives for this model;
  (b) `searchrel label` end to end (read impressions and pin text, join, quarantine, score
      in the pandas UDF, MERGE into Delta, reconcile);
  (c) Spark's stock `pyspark.ml.functions.predict_batch_udf` as its documentation writes it:
      tokenising to a fixed max_length, torch left at the threads the worker starts with, over the same
      joined pairs, to a no-op sink;
  (c') the same stock UDF given the job's thread setting (one torch thread per task
      core), so that b/c' isolates what length-sorted dynamic padding buys and c'/c what
      matching threads to the task's cores buys.

Each `--backends` value of `labelling.backend` (default onnx, onnx-int8; torch-bf16 on a CPU with
bf16 instructions) is measured twice more, as (a:<backend>) the same loop and (b:<backend>) the same
job, and compared with the fp32 PyTorch loop of the same run: speed-up, argmax agreement and max /
mean |Δprob| (goal: x2 at >= 99 %).

It prints rows/s and the ratios b/a (how close the job gets to the ceiling), b/c (the job against
the stock approach) and b/c'. Goals on 2 CPU cores: b/a >= 0.9, b/c >= 1.3. Figures are ratios
within one run on one machine; absolute rows/s depend on the machine and on what else runs on it.

The teacher is the trained `current` one under the warehouse when there is one, else the
real all-MiniLM-L6-v2 architecture with a freshly built head (fine for throughput).
Impressions are Home Depot search terms (shared/data/homedepot) with pin texts rendered by
the v1 template from the product title plus a description and searches of varying length;
`--from-warehouse W` takes instead the impressions of a pipeline warehouse (e.g. the demo's
`warehouse/`), its pin texts as the job reads them, and its trained `current` teacher, or the
bench teacher when W has none. A `bench/simulate_scale.py` world after `searchrel assemble-text`
gives the pipeline's own texts at the default max_length (128):

    python bench/simulate_scale.py --scales medium --root /tmp/simbench --keep
    searchrel assemble-text --ds 2026-11-23 --warehouse /tmp/simbench/medium
    python bench/label_throughput.py --rows 10000 --from-warehouse /tmp/simbench/medium

How much (b) gains over (c) depends on how far the texts fall short of max_length, since padding
is all that length sorting saves: the Home Depot stand-in's texts (a title, up to eight other titles
as description, eight searches) nearly fill it; the medium world's median is 70 tokens against 128.
"""

from __future__ import annotations

import argparse
import gzip
import csv
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("bench.label")
DS = "2026-11-23"
HOMEDEPOT = REPO.parent / "shared" / "data" / "homedepot" / "train.csv.gz"


def bench_rows(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """N (query, pin text) pairs with a realistic spread of lengths."""
    from features.text_template import render_pin_text

    rng = np.random.default_rng(seed)
    if HOMEDEPOT.exists():
        with gzip.open(HOMEDEPOT, "rt", encoding="latin-1") as fh:
            rows = [(r["search_term"], r["product_title"], r["product_uid"]) for r in csv.DictReader(fh)]
    else:  # outside the repo's shared data: a synthetic stand-in with the same shape
        words = "angle bracket steel wood drill cordless paint white wall garden hose lamp brass sofa rug".split()
        rows = [(" ".join(rng.choice(words, 2)), " ".join(rng.choice(words, 8)), str(i % 500)) for i in range(5000)]
    titles = [r[1] for r in rows]
    by_product: dict[str, list[str]] = {}
    for query, _, uid in rows:
        by_product.setdefault(uid, []).append(query)
    picks = rng.choice(len(rows), size=n, replace=n > len(rows))
    queries, texts = [], []
    for i in picks:
        query, title, uid = rows[i]
        description = " ".join(titles[j] for j in rng.choice(len(titles), size=int(rng.integers(0, 9))))
        parts = {"title": title, "description": description, "query_tokens": " ".join(by_product[uid][:8])}
        queries.append(query)
        texts.append(render_pin_text(parts))
    return queries, texts


def warehouse_rows(spark, source: Path, n: int) -> tuple[list[str], list[str], str]:
    """N (query, pin text) pairs of a real warehouse's impressions, and its models path.

    The pin text is each pin's newest features/pin_text as of the last impression day, as the job
    reads it, so the length spread is the pipeline's own rather than the Home Depot stand-in's.
    Its `current` teacher is used when it has one; one without (e.g. `bench/simulate_scale.py`'s,
    after `searchrel assemble-text`) gets the bench teacher.
    """
    from pyspark.sql import functions as F

    from features.pin_embeddings import latest_text
    from searchrel.core.config import load_config
    from searchrel.core.tables import Tables

    config = load_config(overrides={"warehouse": str(source)})
    tables = Tables(spark, str(source))
    impressions = tables.read("raw/impressions")
    day = impressions.agg(F.max(F.col("ds").cast("string"))).first()[0]
    texts = latest_text(tables.read("features/pin_text").withColumn("as_of", F.col("as_of").cast("string")), day)
    rows = (impressions.join(texts, "pin_id")
            .select("query", "text").orderBy(F.xxhash64("query", "text")).limit(n).collect())
    return [r["query"] for r in rows], [r["text"] for r in rows], str(config.models_path)


def teacher_for_bench(config, *own_models: str, version: str = "current") -> str:
    """The `version` teacher (`current` by default) of the first models path that has one
    (own_models, then the bench warehouse's), else a fresh-headed MiniLM saved once under the
    bench warehouse; a version asked for by name and found nowhere is an error."""
    from modeling.cross_encoder import build_teacher, resolve_teacher_dir, save_teacher
    from searchrel.core.config import TeacherConfig

    for models in [*own_models, str(config.models_path)]:
        try:
            return str(resolve_teacher_dir(models, version))
        except FileNotFoundError:
            pass
    if version != "current":
        raise SystemExit(f"no teacher {version!r} under {[*own_models, str(config.models_path)]}")
    directory = Path(config.models_path) / "teacher" / "bench-minilm"
    if not (directory / "teacher.json").exists():
        model, tokenizer = build_teacher(TeacherConfig())
        save_teacher(model, tokenizer, {"note": "fresh head, for throughput only"}, directory)
    return str(directory)


def run_loop(teacher_dir: str, queries: list[str], texts: list[str], micro_batch: int, threads: int,
             backend: str = "torch", cache: str | None = None) -> tuple[float, np.ndarray]:
    """(a) seconds and probabilities for a plain loop over pre-tokenised, length-sorted batches.

    `backend` is labelling.backend: torch is the ceiling of the fp32 PyTorch loop; the ONNX
    ones run the same loop through ONNX Runtime (their export, on the warm-up call, is not timed).
    """
    import torch

    from modeling.cross_encoder import encode_pairs
    from modeling.labelling import ScoringOptions, load_cached, score_encoded

    torch.set_num_threads(threads)
    loaded = load_cached(ScoringOptions(teacher_dir, micro_batch, device="cpu", torch_threads=threads,
                                        backend=backend, onnx_cache_dir=cache))
    encoded = encode_pairs(loaded.tokenizer, queries, texts, loaded.max_length, loaded.is_decoder)
    score_encoded(loaded, {k: v[:micro_batch] for k, v in encoded.items()}, micro_batch)  # warm-up
    started = time.perf_counter()
    probs = score_encoded(loaded, encoded, micro_batch, sort_by_length=True)
    return time.perf_counter() - started, probs


def agreement(probs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How far a backend's probabilities are from the fp32 loop's: argmax agreement, max and mean |dp|."""
    diff = np.abs(probs - reference)
    return {"argmax_agreement": round(float((probs.argmax(1) == reference.argmax(1)).mean()), 5),
            "max_abs_prob_diff": round(float(diff.max()), 6), "mean_abs_prob_diff": round(float(diff.mean()), 6)}


def run_job(warehouse: Path, teacher_dir: str, micro_batch: int, backend: str = "torch") -> float:
    """(b) seconds for `searchrel label --ds` end to end on a fresh scores table, with `labelling.backend`."""
    from spark_jobs.label_impressions import main

    shutil.rmtree(warehouse / "labels" / "teacher_scores", ignore_errors=True)
    version = Path(teacher_dir).name
    started = time.perf_counter()
    code = main(["--ds", DS, "--warehouse", str(warehouse), "--teacher", version,
                 "--set", f"models_dir={Path(teacher_dir).parents[1]}",
                 "--set", f"labelling.micro_batch_size={micro_batch}", "--set", "labelling.device=cpu",
                 "--set", f"labelling.backend={backend}",
                 "--set", f"labelling.onnx_cache_dir={warehouse / 'onnx_cache'}"])
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"label job failed with exit code {code}")
    return seconds


def run_stock(spark, tables, teacher_dir: str, micro_batch: int, match_threads: bool) -> float:
    """(c)/(c') seconds for predict_batch_udf with fixed max_length padding over the same joined pairs.

    Stock (match_threads=False) leaves torch's thread pool as it starts in a Python worker,
    which is what a user of the documented pattern gets. PySpark starts its workers with
    OMP_NUM_THREADS set to the task's cores, so locally that is already one thread per task
    (c'/c near 1); on executors configured otherwise the two can differ.
    """
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import ArrayType, FloatType

    from features.labelling_inputs import labelling_inputs

    def make_predict_fn():
        import torch

        from modeling.cross_encoder import load_teacher
        from modeling.labelling import task_threads

        model, tokenizer, meta = load_teacher(teacher_dir)
        if match_threads:  # (c'): as (b) does, one thread per core given to the task
            torch.set_num_threads(task_threads(None))
        max_length = int(meta["max_length"])

        def predict(queries: np.ndarray, texts: np.ndarray) -> np.ndarray:
            enc = tokenizer(list(queries), list(texts), truncation="longest_first", max_length=max_length,
                            padding="max_length", return_tensors="pt")
            with torch.inference_mode():
                logits = model(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))
            return torch.softmax(logits.float(), dim=-1).numpy()

        return predict

    score = predict_batch_udf(make_predict_fn, return_type=ArrayType(FloatType()), batch_size=micro_batch)
    started = time.perf_counter()
    impressions = tables.read_range("raw/impressions", DS)
    good, _ = labelling_inputs(impressions, tables.read("features/pin_text"), DS, DS)
    pairs = good.repartition(spark.sparkContext.defaultParallelism)
    pairs.select("query", "pin_id", "ds", score("query", "text").alias("probs")) \
        .write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000, help="impressions to score (N)")
    parser.add_argument("--warehouse", default="/tmp/label_bench_wh")
    parser.add_argument("--micro-batch", type=int, default=None, help="default labelling.micro_batch_size")
    parser.add_argument("--repeat", type=int, default=1, help="repeat each measurement, keep the best")
    parser.add_argument("--skip", default="", help="comma list of a,b,c,c' to skip")
    parser.add_argument("--backends", default="onnx,onnx-int8",
                        help="labelling.backend values to compare with the fp32 PyTorch loop (a) and job (b)")
    parser.add_argument("--from-warehouse", help="take the pairs and the current teacher from this warehouse "
                        "(e.g. the demo's small world) instead of the Home Depot stand-in")
    parser.add_argument("--teacher", default="current", help="teacher version under that warehouse's models "
                        "(e.g. bench/student_scaling.py's scaling-teacher, which is never promoted)")
    args = parser.parse_args(argv)

    from spark_jobs.runner import configure_logging

    configure_logging()
    from pyspark.sql import functions as F

    from searchrel.core.config import load_config
    from searchrel.core.session import get_spark
    from searchrel.core.tables import tables_for

    warehouse = Path(args.warehouse).resolve()
    cores = os.cpu_count() or 2
    config = load_config(overrides={"warehouse": str(warehouse), "spark.master": f"local[{cores}]"})
    micro_batch = args.micro_batch or config.labelling.micro_batch_size
    spark = get_spark(config)
    tables = tables_for(spark, str(warehouse))
    if args.from_warehouse:
        queries, texts, own_models = warehouse_rows(spark, Path(args.from_warehouse).resolve(), args.rows)
        teacher_dir = teacher_for_bench(config, own_models, version=args.teacher)
    else:
        teacher_dir = teacher_for_bench(config, version=args.teacher)
        queries, texts = bench_rows(args.rows)
    n = len(queries)
    impressions = spark.createDataFrame(
        [(q, f"p{i}", DS, 1, "en") for i, q in enumerate(queries)],
        "query string, pin_id string, ds string, position int, lang string")
    pin_text = spark.createDataFrame(
        [(f"p{i}", DS, t, "v1", "en") for i, t in enumerate(texts)],
        "pin_id string, as_of string, text string, template_version string, lang string")
    tables.overwrite("raw/impressions", impressions, partition_by=["ds"])
    tables.overwrite("features/pin_text", pin_text.withColumn("as_of", F.lit(DS)), partition_by=["as_of"])
    log.info("bench: %d rows, teacher %s, micro-batch %d, %d cores", n, teacher_dir, micro_batch, cores)

    skip = set(filter(None, args.skip.split(",")))
    backends = [b for b in args.backends.split(",") if b and b != "torch"]
    best: dict[str, float] = {}
    probs: dict[str, np.ndarray] = {}
    cache = str(warehouse / "onnx_cache")

    def loop(backend: str) -> float:
        seconds, probs[backend] = run_loop(teacher_dir, queries, texts, micro_batch, cores, backend, cache)
        return seconds

    for _ in range(args.repeat):
        for name, fn in (
            ("a", lambda: loop("torch")),
            *[(f"a:{b}", lambda b=b: loop(b)) for b in backends if "a" not in skip],
            ("b", lambda: run_job(warehouse, teacher_dir, micro_batch)),
            *[(f"b:{b}", lambda b=b: run_job(warehouse, teacher_dir, micro_batch, b)) for b in backends
              if "b" not in skip],
            ("c", lambda: run_stock(spark, tables, teacher_dir, micro_batch, match_threads=False)),
            ("c'", lambda: run_stock(spark, tables, teacher_dir, micro_batch, match_threads=True)),
        ):
            if name in skip:
                continue
            seconds = fn()
            log.info("bench %s: %.1f s, %.2f rows/s", name, seconds, n / seconds)
            best[name] = min(best.get(name, float("inf")), seconds)

    names = {"a": "plain PyTorch loop, sorted batches (ceiling)", "b": "searchrel label (end to end)",
             "c": "predict_batch_udf, fixed padding (stock threads)",
             "c'": "predict_batch_udf, fixed padding, job's threads"}
    for b in backends:
        names[f"a:{b}"] = f"the same loop, labelling.backend={b}"
        names[f"b:{b}"] = f"searchrel label, labelling.backend={b}"
    result = {"rows": n, "cores": cores, "micro_batch": micro_batch, "teacher": teacher_dir,
              "rows_per_s": {k: round(n / v, 2) for k, v in best.items()}, "seconds": {k: round(v, 2) for k, v in best.items()}}
    print(f"\nlabel throughput, {n} rows, {cores} cores, micro-batch {micro_batch}")
    for key, seconds in best.items():
        print(f"  ({key:<2}) {names[key]:<48} {n / seconds:8.2f} rows/s  ({seconds:.1f} s)")
    if "a" in best:
        result["backends"] = {}
        for b in backends:
            row: dict[str, float] = {}
            if f"a:{b}" in best:
                row["loop_speedup"] = round(best["a"] / best[f"a:{b}"], 3)
                row.update(agreement(probs[b], probs["torch"]))
            if "b" in best and f"b:{b}" in best:
                row["job_speedup"] = round(best["b"] / best[f"b:{b}"], 3)
            result["backends"][b] = row
            print(f"  {b:<10} loop x{row.get('loop_speedup', float('nan')):.2f}, job x{row.get('job_speedup', float('nan')):.2f} "
                  f"against torch fp32; argmax agreement {row.get('argmax_agreement', float('nan')):.4f}, "
                  f"max |dp| {row.get('max_abs_prob_diff', float('nan')):.4f}, "
                  f"mean |dp| {row.get('mean_abs_prob_diff', float('nan')):.5f}  (goal: x2 at >= 0.99)")
    if "a" in best and "b" in best:
        result["b_over_a"] = round(best["a"] / best["b"], 3)
        print(f"  b/a = {result['b_over_a']:.3f}   (goal >= 0.9)")
    if "b" in best and "c" in best:
        result["b_over_c"] = round(best["c"] / best["b"], 3)
        print(f"  b/c = {result['b_over_c']:.3f}   (goal >= 1.3; c is the stock UDF as documented)")
    if "b" in best and "c'" in best:
        result["b_over_c_matched_threads"] = round(best["c'"] / best["b"], 3)
        print(f"  b/c' = {result['b_over_c_matched_threads']:.3f}  (length-sorted padding alone)")
    if "c" in best and "c'" in best:
        matched = best["c'"]
        print(f"  c'/c = {best['c'] / matched:.3f}  (one torch thread per task core alone)")
    out = warehouse / "reports" / "label_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
