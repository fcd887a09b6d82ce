"""Serving cost of the student on CPU: ONNX Runtime against PyTorch (the baseline, same script).

Two measurements per runtime:

- batched throughput: rows per second scoring batches of `--batch` rows;
- request latency: one query against 100 candidate pins (one request = 100
  rows sharing the query features), p50 and p99 over `--requests` requests.

The model is a trained version (`--model-dir`, e.g. <warehouse>/models/student/<v>)
or, by default, a randomly initialised student with the production feature
spec's shape (384-d MiniLM embeddings, 16-d graph embedding, the default
hidden sizes): speed does not depend on the weights.

    .venv/bin/python bench/student_serving.py [--model-dir DIR] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _default_spec():
    from features.student_examples import CATEGORICAL, DENSE
    from modeling.student_statistics import LOG1P, PRODUCT
    from modeling.student import FeatureSpec

    return FeatureSpec(
        categorical={"interest_type": [f"c{i}" for i in range(14)], "query_lang": ["en", "de", "fr", "es"]},
        dense=list(DENSE), log1p=[d for d in DENSE if d in LOG1P],
        dense_mean=[0.0] * len(DENSE), dense_std=[1.0] * len(DENSE),
        embeddings={"query_embedding": 384, "pin_text_embedding": 384, "pin_graph_embedding": 16},
        product=list(PRODUCT), categorical_dim=8, hidden=[128, 64], dropout=0.1,
    ) if CATEGORICAL else None


def _request(spec, n_pins: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One query against n_pins pins: query columns repeated, pin columns varying."""
    q0, q1 = spec.slice_of("query_embedding")
    emb = rng.normal(size=(n_pins, spec.embedding_width)).astype(np.float32)
    emb[:, q0:q1] = emb[0, q0:q1]
    return {
        "categorical": np.tile(np.array([[1, 1]], dtype=np.int64), (n_pins, 1))[:, : len(spec.categorical)],
        "dense": rng.random((n_pins, len(spec.dense))).astype(np.float32),
        "embeddings": emb,
    }


def _percentiles(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1000.0
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="a trained student version directory (default: random weights)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for both runtimes")
    parser.add_argument("--batch", type=int, default=4096, help="rows per batch for the throughput run")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--requests", type=int, default=500, help="one-query-100-pins requests timed")
    parser.add_argument("--pins", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from modeling.student import ONNX_FILE, StudentModel, load_student
    from modeling.student_export import OnnxStudent, export_onnx

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    if args.model_dir:
        directory = Path(args.model_dir)
        model = load_student(directory)
        if not (directory / ONNX_FILE).exists():
            export_onnx(model, directory / ONNX_FILE)
    else:
        directory = Path(tempfile.mkdtemp(prefix="student_bench_"))
        torch.manual_seed(0)
        model = StudentModel(_default_spec()).eval()
        (directory / "feature_spec.json").write_text(model.spec.to_json())
        export_onnx(model, directory / ONNX_FILE)
    onnx = OnnxStudent(directory, threads=args.threads)

    def torch_predict(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            logits = model(*(torch.from_numpy(inputs[k]) for k in ("categorical", "dense", "embeddings")))
            return torch.softmax(logits, dim=1).numpy()

    runtimes = {"torch": torch_predict, "onnxruntime": onnx.predict}
    batch = _request(model.spec, args.batch, rng)
    requests = [_request(model.spec, args.pins, rng) for _ in range(50)]
    max_diff = float(np.abs(torch_predict(requests[0]) - onnx.predict(requests[0])).max())
    assert max_diff < 1e-4, f"ONNX and torch disagree by {max_diff}"
    results: dict[str, dict[str, float]] = {}
    for name, predict in runtimes.items():
        for _ in range(3):
            predict(batch)
            predict(requests[0])
        t0 = time.perf_counter()
        for _ in range(args.batches):
            predict(batch)
        rows_per_s = args.batch * args.batches / (time.perf_counter() - t0)
        times = []
        for i in range(args.requests):
            t = time.perf_counter()
            predict(requests[i % len(requests)])
            times.append(time.perf_counter() - t)
        results[name] = {"rows_per_s": rows_per_s, **_percentiles(times)}
    ratios = {
        "onnx_vs_torch_throughput": results["onnxruntime"]["rows_per_s"] / results["torch"]["rows_per_s"],
        "onnx_vs_torch_p50": results["onnxruntime"]["p50_ms"] / results["torch"]["p50_ms"],
    }
    report = {"threads": args.threads, "batch": args.batch, "pins_per_request": args.pins,
              "input_width": int(model.spec.embedding_width + len(model.spec.dense)), "max_abs_diff": max_diff,
              "results": results,
              "ratios": ratios}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"student serving on CPU ({args.threads} thread(s)); request = 1 query x {args.pins} pins")
        print(f"{'runtime':<12} {'rows/s (batch ' + str(args.batch) + ')':>22} {'p50 ms':>8} {'p99 ms':>8}")
        for name, r in results.items():
            print(f"{name:<12} {r['rows_per_s']:>22,.0f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f}")
        print(f"onnxruntime / torch: throughput x{ratios['onnx_vs_torch_throughput']:.2f}, "
              f"p50 x{ratios['onnx_vs_torch_p50']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
