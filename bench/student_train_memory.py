"""Peak memory of streaming student training against table size (memory must not grow with the table).

For each size, writes a student_examples-shaped parquet snapshot of that many
rows (384-d query and pin embeddings, 16-d graph embedding, the real column
set), then trains one epoch in a fresh process and reports that process's peak
RSS. The ratio of peak RSS between the largest and the smallest table is the
figure to read: ~1.0 means bounded; a collecting trainer would grow linearly.

    .venv/bin/python bench/student_train_memory.py --rows 20000 200000 [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_snapshot(directory: Path, rows: int, chunk: int = 20_000) -> tuple[list[str], int]:
    """Parquet files of `rows` synthetic examples, written chunk by chunk (bounded memory here too)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    floats = pa.list_(pa.float32())
    files = []
    for i, lo in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - lo)
        q = rng.normal(size=(n, 384)).astype(np.float32)
        p = rng.normal(size=(n, 384)).astype(np.float32)
        probs = rng.dirichlet(np.ones(5), size=n).astype(np.float32)
        source = np.where(rng.random(n) < 0.1, "human_label", "impression")
        table = pa.table({
            "query": [f"q{lo + j}" for j in range(n)], "pin_id": [f"p{j}" for j in range(n)], "source": source,
            "split": np.where(rng.random(n) < 0.8, "train", "validation"), "sample_key": rng.random(n),
            "interest_type": rng.choice(["kitchen", "bath", "garden"], n), "query_lang": rng.choice(["en", "de"], n),
            "shopping_intent": rng.random(n), "n_terms": rng.integers(1, 6, n).astype(np.int32),
            "bm25": rng.random(n) * 8, "title_match_frac": rng.random(n), "text_match_frac": rng.random(n),
            "query_pin_cosine": rng.random(n), "pair_impressions_before_ds": rng.integers(0, 50, n),
            "pair_engagement_rate_smoothed": rng.random(n), "pin_impressions_before_ds": rng.integers(0, 500, n),
            "pin_engagement_rate_smoothed": rng.random(n),
            "query_embedding": pa.FixedSizeListArray.from_arrays(q.ravel(), 384).cast(floats),
            "pin_text_embedding": pa.FixedSizeListArray.from_arrays(p.ravel(), 384).cast(floats),
            "pin_graph_embedding": pa.FixedSizeListArray.from_arrays(
                rng.normal(size=(n, 16)).astype(np.float32).ravel(), 16).cast(floats),
            "teacher_probs": pa.FixedSizeListArray.from_arrays(probs.ravel(), 5).cast(floats),
            "human_label": pa.array(np.where(source == "human_label", rng.integers(1, 6, n), 0), type=pa.int32()),
        })
        path = directory / f"part-{i:05d}.parquet"
        pq.write_table(table, path, row_group_size=8192)
        files.append(str(path))
    size = sum(Path(f).stat().st_size for f in files)
    return files, size


def _train_child(files_json: str) -> None:
    from modeling.distillation import TrainSettings, peak_rss_mb, train_student

    files = json.loads(files_json)
    _, info = train_student(files, TrainSettings(epochs=1, min_steps=0, progress=False, torch_threads=1), None)
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "train_rows": info["train_rows"], "seconds": info["seconds"]}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _train_child(args.child)
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="student_mem_") as tmp:
        for rows in args.rows:
            files, size = write_snapshot(Path(tmp) / str(rows), rows)
            out = subprocess.run([sys.executable, __file__, "--child", json.dumps(files)], check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]
            results.append({"rows": rows, "parquet_mb": round(size / 2**20, 1), **json.loads(out)})
    report = {"results": results, "peak_rss_ratio_largest_vs_smallest": results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"]}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'rows':>10} {'parquet MB':>11} {'train rows':>11} {'peak RSS MB':>12} {'seconds':>8}")
        for r in results:
            print(f"{r['rows']:>10,} {r['parquet_mb']:>11} {r['train_rows']:>11,} {r['peak_rss_mb']:>12.0f} {r['seconds']:>8}")
        print(f"peak RSS, largest / smallest table: x{report['peak_rss_ratio_largest_vs_smallest']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
