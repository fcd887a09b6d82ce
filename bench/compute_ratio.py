"""How much cheaper the student is than its teacher, per (query, pin) pair: FLOPs and one-core wall time.

    python bench/compute_ratio.py --warehouse warehouse [--pairs 400] [--student-rows 100000]

The paper's argument for distillation is cost: the student scores a pair for a tiny
fraction of what the cross-encoder teacher spends. This bench measures that on one
core (torch.set_num_threads(1), so the figure does not depend on how many cores the
machine has or what else runs on them) and by counting FLOPs with
`torch.utils.flop_counter.FlopCounterMode` (matrix products; attention's T x T
products are left out where the CPU attention kernel is not counted, a few per cent at
these lengths, so the teacher's count is a lower bound):

- teacher: the warehouse's `current` teacher (or `--teacher V`) on `--pairs` of the warehouse's own
  (query, pin text) pairs, pre-tokenised, length-sorted micro-batches of 64;
- student, per pair: the `current` student's (or `--student V`'s) MLP over its encoded features, in batches of
  4096 (`--student-rows` rows of the feature spec's shape: speed and FLOPs do not depend
  on the values);
- student, amortised: the MiniLM embeddings the student's features need are computed once
  per query and once per pin, not per pair. Two views of that cost:
  - serving: pins are embedded when they are indexed, so a request of one query against
    `--pins-per-request` pins (100, as bench/student_serving.py) pays one query embedding;
  - the batch pipeline on this warehouse: the last day's distinct queries and pins
    embedded once each, divided by the day's pairs (a small world shows each pin in
    only a few impressions a day, so this view is the pessimistic one).
  BM25 and term match are string counting, left out.

Writes <warehouse>/reports/compute_ratio.json (the report's throughput section shows it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("bench.compute")


def count_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def teacher_cost(teacher_dir: str, queries: list[str], texts: list[str], flop_rows: int) -> dict:
    """One-thread seconds per pair and FLOPs per pair (each row alone, so no padding is counted)."""
    import torch

    from modeling.labelling import ScoringOptions, load_cached, score_encoded
    from modeling.teacher_tokens import encode_pairs, pad_batch, pad_token_id

    teacher = load_cached(ScoringOptions(teacher_dir, device="cpu", torch_threads=1))
    encoded = encode_pairs(teacher.tokenizer, queries, texts, teacher.max_length, teacher.is_decoder)
    score_encoded(teacher, {k: v[:64] for k, v in encoded.items()}, 64)  # warm-up
    started = time.perf_counter()
    score_encoded(teacher, encoded, 64)
    seconds = time.perf_counter() - started
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
    flops = []
    with torch.inference_mode():
        for i in range(min(flop_rows, len(queries))):
            batch = pad_batch({k: [encoded[k][i]] for k in keys}, pad_token_id(teacher.tokenizer))
            flops.append(count_flops(lambda: teacher.model(**batch)))
    lengths = [len(x) for x in encoded["input_ids"]]
    return {"seconds_per_pair": seconds / len(queries), "flops_per_pair": float(np.mean(flops)),
            "mean_tokens": float(np.mean(lengths)), "pairs": len(queries), "teacher": teacher_dir}


def student_cost(student_dir: str | None, rows: int) -> dict:
    import torch

    from modeling.student import StudentModel, load_student, predict_proba

    if student_dir:
        model = load_student(student_dir)
    else:
        sys.path.insert(0, str(REPO / "bench"))
        from student_serving import _default_spec

        model = StudentModel(_default_spec()).eval()
    spec = model.spec
    rng = np.random.default_rng(0)
    inputs = {
        "categorical": np.zeros((rows, len(spec.categorical)), dtype=np.int64),
        "dense": rng.random((rows, len(spec.dense))).astype(np.float32),
        "embeddings": rng.normal(size=(rows, spec.embedding_width)).astype(np.float32),
    }
    predict_proba(model, {k: v[:4096] for k, v in inputs.items()})  # warm-up
    started = time.perf_counter()
    predict_proba(model, inputs)
    seconds = time.perf_counter() - started
    one = {k: torch.from_numpy(v[:1]) for k, v in inputs.items()}
    with torch.inference_mode():
        flops = count_flops(lambda: model(one["categorical"], one["dense"], one["embeddings"]))
    return {"seconds_per_pair": seconds / rows, "flops_per_pair": float(flops), "rows": rows,
            "student": student_dir or "random weights, default spec"}


def embedding_cost(spark, warehouse: Path, embed_max_length: int, sample: int) -> dict:
    """Embedder FLOPs per pair, amortised over one day: distinct queries and pins embedded once each."""
    import torch
    from pyspark.sql import functions as F

    from features.pin_embeddings import latest_text
    from modeling.embedder import load_encoder, resolve_model_path
    from searchrel.core.tables import Tables

    tables = Tables(spark, str(warehouse))
    impressions = tables.read("raw/impressions")
    day = impressions.agg(F.max(F.col("ds").cast("string"))).first()[0]
    today = impressions.where(F.col("ds").cast("string") == day)
    pairs = today.select("query", "pin_id").distinct().count()
    queries = [r["query"] for r in today.select("query").distinct().collect()]
    pins = today.select("pin_id").distinct()
    texts = [r["text"] for r in latest_text(tables.read("features/pin_text")
                                              .withColumn("as_of", F.col("as_of").cast("string")), day)
             .join(pins, "pin_id").select("text").collect()]
    tokenizer, model = load_encoder(resolve_model_path(None))
    rng = np.random.default_rng(0)

    def mean_flops(items: list[str]) -> float:
        picked = [items[i] for i in rng.choice(len(items), size=min(sample, len(items)), replace=False)]
        out = []
        with torch.inference_mode():
            for text in picked:
                enc = tokenizer([text], truncation=True, max_length=embed_max_length, return_tensors="pt")
                out.append(count_flops(lambda: model(**enc)))
        return float(np.mean(out)) if out else 0.0

    per_query, per_pin = mean_flops(queries), mean_flops(texts)
    total = per_query * len(queries) + per_pin * len(texts)
    return {"ds": day, "pairs": pairs, "distinct_queries": len(queries), "distinct_pins": len(texts),
            "flops_per_query": per_query, "flops_per_pin": per_pin, "flops_per_pair": total / max(pairs, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", default="warehouse", help="a pipeline warehouse with a current teacher")
    parser.add_argument("--pairs", type=int, default=400, help="teacher pairs to time")
    parser.add_argument("--flop-rows", type=int, default=100, help="pairs whose FLOPs are counted one by one")
    parser.add_argument("--student-rows", type=int, default=100_000)
    parser.add_argument("--embed-sample", type=int, default=100, help="queries and pins whose FLOPs are counted")
    parser.add_argument("--pins-per-request", type=int, default=100, help="pins scored per query at serving")
    parser.add_argument("--teacher", default="current", help="teacher version (bench/student_scaling.py's is "
                        "scaling-teacher, never promoted)")
    parser.add_argument("--student", default="current", help="student version")
    args = parser.parse_args(argv)

    from spark_jobs.runner import configure_logging

    configure_logging()
    import torch

    sys.path.insert(0, str(REPO / "bench"))
    from label_throughput import warehouse_rows

    from modeling.cross_encoder import resolve_teacher_dir
    from modeling.student import resolve_version_dir
    from searchrel.core.config import load_config
    from searchrel.core.session import get_spark

    torch.set_num_threads(1)
    warehouse = Path(args.warehouse).resolve()
    config = load_config(overrides={"warehouse": str(warehouse), "spark.master": "local[2]"})
    spark = get_spark(config)
    queries, texts, models = warehouse_rows(spark, warehouse, args.pairs)
    teacher_dir = str(resolve_teacher_dir(models, args.teacher))
    try:
        student_dir: str | None = str(resolve_version_dir(models, args.student))
    except FileNotFoundError:
        if args.student != "current":
            raise
        student_dir = None
    embeddings = embedding_cost(spark, warehouse, config.student.embed_max_length, args.embed_sample)
    spark.stop()
    torch.set_num_threads(1)
    teacher = teacher_cost(teacher_dir, queries, texts, args.flop_rows)
    student = student_cost(student_dir, args.student_rows)
    student_total = student["flops_per_pair"] + embeddings["flops_per_pair"]
    embeddings["pins_per_request"] = args.pins_per_request
    embeddings["serving_flops_per_pair"] = embeddings["flops_per_query"] / args.pins_per_request
    student_serving = student["flops_per_pair"] + embeddings["serving_flops_per_pair"]
    result = {
        "threads": 1, "teacher": teacher, "student": student, "student_embeddings_amortised": embeddings,
        "ratio": {
            "flops_model_only": teacher["flops_per_pair"] / student["flops_per_pair"],
            "flops_serving_with_query_embedding": teacher["flops_per_pair"] / student_serving,
            "flops_with_amortised_embeddings": teacher["flops_per_pair"] / student_total,
            "wall_one_core_model_only": teacher["seconds_per_pair"] / student["seconds_per_pair"],
        },
    }
    out = warehouse / "reports" / "compute_ratio.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    from searchrel.core.files import write_json_atomic

    write_json_atomic(out, result)
    r = result["ratio"]
    print(f"\nper (query, pin) pair, one core; teacher {teacher['mean_tokens']:.0f} tokens on average")
    print(f"  teacher   {teacher['flops_per_pair'] / 1e9:8.3f} GFLOPs   {teacher['seconds_per_pair'] * 1e3:9.3f} ms")
    print(f"  student   {student['flops_per_pair'] / 1e6:8.3f} MFLOPs   {student['seconds_per_pair'] * 1e6:9.3f} us  (MLP)")
    print(f"  + serving: one query embedding ({embeddings['flops_per_query'] / 1e6:.1f} MFLOPs) per "
          f"{args.pins_per_request} pins: {embeddings['serving_flops_per_pair'] / 1e6:.2f} MFLOPs a pair")
    print(f"  + batch: embeddings amortised over {embeddings['pairs']:,} pairs of {embeddings['ds']} "
          f"({embeddings['distinct_queries']:,} queries, {embeddings['distinct_pins']:,} pins): "
          f"{embeddings['flops_per_pair'] / 1e6:.2f} MFLOPs a pair")
    print(f"  teacher / student FLOPs: x{r['flops_model_only']:,.0f} (MLP), "
          f"x{r['flops_serving_with_query_embedding']:,.0f} (serving, with the query embedding), "
          f"x{r['flops_with_amortised_embeddings']:,.0f} (batch, every pin embedded for the day); "
          f"one-core wall x{r['wall_one_core_model_only']:,.0f} (MLP)   (goal >= 1000)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
