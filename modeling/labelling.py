"""Teacher inference inside Spark: the pandas UDF that writes labels/teacher_scores.

Why it looks the way it does:

- The teacher is loaded once per Python worker and kept in a module-level cache
  (Spark reuses workers across tasks), so a task pays for a model load only the first time.
- Tokenisation happens inside the UDF, on the worker, so the driver never sees tokens and
  the only thing shuffled or cached is text.
- Inside each Arrow batch, rows go through the teacher's one inference loop
  (`modeling.teacher_inference`, also behind `cross_encoder.predict_proba`): sorted by
  token length and cut into micro-batches padded to their own longest row, results written
  back to the rows' original positions.
- `torch.inference_mode`, bf16/fp16 weights on a GPU, and on CPU as many threads as
  cores Spark gave the task (more would fight the task next to it for the same cores).
- `labelling.backend` picks the engine: `torch` (the saved teacher as trained), or on CPU
  `torch-bf16` (the same weights, matrix products in bf16 under autocast: on a CPU with
  AMX or AVX512-BF16 about 3x the rows/s of fp32, while LayerNorm, softmax and the
  output stay fp32), `onnx` / `onnx-int8` (`modeling.teacher_onnx`: the same teacher
  as a fused ONNX Runtime graph, fp32 or with int8 weights), called through the same
  loop. Every row records the backend that scored it.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from modeling import teacher_inference
from modeling.teacher_inference import N_LEVELS
from searchrel.core.faults import checkpoint

log = logging.getLogger(__name__)

SCORE_TYPE = "struct<probs: array<float>, label: int, expected_relevance: float, backend: string>"


@dataclass(frozen=True)
class ScoringOptions:
    """Everything a worker needs to score; small and picklable, shipped with the UDF."""

    teacher_dir: str
    micro_batch_size: int = 64
    max_length: int | None = None
    device: str = "auto"
    gpu_dtype: str = "bf16"
    torch_threads: int | None = None
    sort_by_length: bool = True
    backend: str = "torch"
    onnx_cache_dir: str | None = None

    @classmethod
    def from_config(cls, teacher_dir: str | os.PathLike[str], labelling: Any) -> "ScoringOptions":
        """Options from the `labelling` config section: every field of the same name is taken from it."""
        taken = {f.name: getattr(labelling, f.name) for f in fields(cls) if hasattr(labelling, f.name)}
        return cls(**{**taken, "teacher_dir": str(teacher_dir)})


@dataclass
class LoadedTeacher:
    model: Any
    tokenizer: Any
    meta: dict[str, Any]
    device: Any
    dtype: Any
    max_length: int
    is_decoder: bool
    backend: str = "torch"


_CACHE: dict[tuple[str, str, str, float, str], LoadedTeacher] = {}
_CACHE_LOCK = threading.Lock()


# -- device, dtype, threads ------------------------------------------------------


def _task_context():
    try:
        from pyspark import TaskContext

        return TaskContext.get()
    except Exception:  # noqa: BLE001 - outside Spark there is no task
        return None


def resolve_device(requested: str) -> str:
    """cuda:<the GPU Spark assigned this task> when there is one; cpu otherwise."""
    import torch

    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if not torch.cuda.is_available():
        raise RuntimeError("labelling.device is 'cuda' but this worker has no CUDA device")
    ctx = _task_context()
    gpus = ctx.resources().get("gpu") if ctx is not None else None
    if gpus is not None and gpus.addresses:
        # With spark.executor.resource.gpu.amount > 1 the executor sees several GPUs;
        # the address is the one the scheduler gave this task.
        return f"cuda:{gpus.addresses[0]}"
    return "cuda"


def resolve_dtype(device: str, gpu_dtype: str):
    import torch

    if not device.startswith("cuda") or gpu_dtype == "fp32":
        return torch.float32
    if gpu_dtype == "bf16" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def task_threads(requested: int | None) -> int:
    """Torch CPU threads: as configured, else the cores Spark gave this task, else all cores."""
    if requested:
        return requested
    ctx = _task_context()
    if ctx is not None:
        try:
            return max(1, int(ctx.cpus()))
        except Exception:  # noqa: BLE001 - older task contexts have no cpus()
            return 1
    return max(1, os.cpu_count() or 1)


# -- model cache -----------------------------------------------------------------


def load_cached(opts: ScoringOptions) -> LoadedTeacher:
    """The worker's teacher, loaded on first use and reused for every later batch and task.

    Keyed by directory, device, dtype, backend and the directory's mtime, so a retrained
    teacher written to the same folder is picked up; only one teacher is kept per worker.
    """
    import torch

    from modeling.teacher_onnx import ONNX_BACKENDS, UnsupportedTeacher, refusal

    onnx = opts.backend in ONNX_BACKENDS
    why = refusal(opts.backend, opts.device, {}, opts.teacher_dir)
    if why:
        raise UnsupportedTeacher(why)
    device = "cpu" if onnx or opts.backend == "torch-bf16" else resolve_device(opts.device)
    dtype = resolve_dtype(device, opts.gpu_dtype)
    mtime = Path(opts.teacher_dir).stat().st_mtime if "://" not in opts.teacher_dir else 0.0
    key = (opts.teacher_dir, device, str(dtype), mtime, opts.backend)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
        if onnx:
            from modeling.teacher_onnx import load_session

            model, tokenizer, meta = load_session(opts.teacher_dir, opts.backend, task_threads(opts.torch_threads),
                                                   opts.onnx_cache_dir)
        else:
            from modeling.teacher_store import load_teacher

            model, tokenizer, meta = load_teacher(opts.teacher_dir, device=device)
            model = model.to(device=device, dtype=dtype).eval()
        max_length = int(opts.max_length or meta.get("max_length") or 128)
        loaded = LoadedTeacher(
            model=model, tokenizer=tokenizer, meta=dict(meta), device=torch.device(device), dtype=dtype,
            max_length=max_length, is_decoder=bool(meta.get("is_decoder", False)), backend=opts.backend,
        )
        _CACHE.clear()
        _CACHE[key] = loaded
        log.info("loaded teacher %s on %s (%s, %s) in pid %d", opts.teacher_dir, device, dtype, opts.backend,
                 os.getpid())
        return loaded


# -- scoring -------------------------------------------------------------------


def score_encoded(teacher: LoadedTeacher, encoded: dict[str, list[list[int]]], micro_batch_size: int,
                  sort_by_length: bool = True) -> np.ndarray:
    """Softmax probabilities [N, 5] for pre-tokenised rows, in the rows' original order."""
    import torch

    from modeling.teacher_tokens import pad_token_id

    autocast = torch.bfloat16 if teacher.backend == "torch-bf16" else None
    return teacher_inference.score_encoded(teacher.model, encoded, pad_token_id(teacher.tokenizer), micro_batch_size,
                                           teacher.device, sort_by_length, autocast_dtype=autocast)


def score_texts(teacher: LoadedTeacher, queries: Sequence[str], texts: Sequence[str], micro_batch_size: int,
                sort_by_length: bool = True) -> np.ndarray:
    """Tokenise (unpadded) then score; [N, 5] float32 in input order."""
    from modeling.teacher_tokens import encode_pairs

    if len(queries) == 0:
        return np.empty((0, N_LEVELS), dtype=np.float32)
    encoded = encode_pairs(teacher.tokenizer, list(queries), list(texts), teacher.max_length, teacher.is_decoder)
    return score_encoded(teacher, encoded, micro_batch_size, sort_by_length)


def summarise(probs: np.ndarray, cutpoints: Sequence[float] | None = None) -> pd.DataFrame:
    """probs, label and expected relevance (sum_k p_k * k) per row.

    `label` is the teacher's own decoding: its cut-points on the expected
    relevance when teacher.json has them, else argmax + 1.
    """
    from modeling.ordinal import decode

    probs = np.asarray(probs, dtype=np.float32).reshape(-1, N_LEVELS)
    levels = np.arange(1, N_LEVELS + 1, dtype=np.float32)
    expected = (probs @ levels).astype(np.float32)
    # Decoded from the float32 value that is stored, so the table's own columns reproduce every label exactly.
    label = (probs.argmax(axis=1) + 1) if cutpoints is None else decode(expected.astype(np.float64), cutpoints)
    return pd.DataFrame({"probs": list(probs), "label": label.astype(np.int32), "expected_relevance": expected})


def score_batches(batches: Iterator[tuple[pd.Series, pd.Series]], opts: ScoringOptions) -> Iterator[pd.DataFrame]:
    """The UDF body: one model load per worker, then one output frame per Arrow batch."""
    import torch

    teacher = load_cached(opts)
    if teacher.device.type == "cpu" and teacher.backend in ("torch", "torch-bf16"):
        torch.set_num_threads(task_threads(opts.torch_threads))
    cutpoints = (teacher.meta.get("decoding") or {}).get("cutpoints")
    for queries, texts in batches:
        probs = score_texts(teacher, queries.tolist(), texts.tolist(), opts.micro_batch_size, opts.sort_by_length)
        checkpoint("label.batch.scored")  # where tests/test_cluster.py takes a worker away mid-task
        yield summarise(probs, cutpoints).assign(backend=teacher.backend)


def make_score_udf(opts: ScoringOptions):
    """A pandas UDF (iterator form) (query, text) -> struct<probs, label, expected_relevance, backend>."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(SCORE_TYPE)  # type: ignore[call-overload]
    def score_teacher(batches: Iterator[tuple[pd.Series, pd.Series]]) -> Iterator[pd.DataFrame]:
        yield from score_batches(batches, opts)

    return score_teacher


def score_pairs(pairs, opts: ScoringOptions, teacher_version: str):
    """Pairs (query, pin_id, ds, text, …) -> rows of labels/teacher_scores.

    The UDF runs once per row: its struct is projected once and unpacked after.
    """
    from pyspark.sql import functions as F

    udf = make_score_udf(opts)
    scored = pairs.select("query", "pin_id", "ds", udf(F.col("query"), F.col("text")).alias("_s"))
    return scored.select(
        "query", "pin_id", "ds",
        F.lit(teacher_version).alias("teacher_version"),
        F.col("_s.probs").alias("probs"),
        F.col("_s.label").alias("label"),
        F.col("_s.expected_relevance").alias("expected_relevance"),
        F.current_timestamp().alias("scored_at"),
        F.col("_s.backend").alias("backend"),
    )


def describe(opts: ScoringOptions) -> dict[str, Any]:
    return asdict(opts)
