"""The teacher as an ONNX Runtime graph: a faster CPU path for `label`, fp32 or dynamic int8.

Why it exists: labelling every impression is the pipeline's biggest CPU cost, and
PyTorch's eager loop leaves speed on the table on CPU. The saved teacher (safetensors)
stays the only source of truth; the graph is derived from it on the worker that
scores, on first use, and cached:

- `onnx`: the same fp32 network, exported with eager attention so ONNX Runtime's
  transformer optimizer can fuse attention, GELU and LayerNorm. Its probabilities
  match PyTorch's to about 1e-5, so its labels are the teacher's labels.
- `onnx-int8`: the fused graph with its MatMul weights quantised to int8 per channel
  (`onnxruntime.quantization.quantize_dynamic`; activations are quantised per batch).
  Faster again, but it moves probabilities by about 0.01 on average, which flips the
  argmax of rows whose top two levels are that close: `bench/label_throughput.py`
  measures the agreement before anyone turns it on.

Encoders only: a decoder teacher (SmolLM2 with LoRA) is refused with one line, since
exporting a Llama graph with last-token pooling is a project of its own. A LoRA encoder
has its adapter merged before export.

The graph is cached under `$SEARCHREL_CACHE/onnx/<key>/`, keyed by the teacher's
directory and the content of its teacher.json (which changes with every save), so a
retrained teacher in the same folder is exported afresh and executors that do not share
the driver's disk each build their own. A worker writes into a temporary folder and
renames it into place, so a killed export leaves nothing another worker could load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from modeling import backbones
from modeling.teacher_inference import MODEL_INPUTS

log = logging.getLogger(__name__)

BACKENDS = ("torch", "torch-bf16", "onnx", "onnx-int8")
ONNX_BACKENDS = ("onnx", "onnx-int8")
GRAPH_FILE = "teacher.onnx"
OPSET = 17


class UnsupportedTeacher(ValueError):
    """The teacher cannot run on an ONNX backend; the message says which backend to use instead."""


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware; elsewhere torch emulates it, slower than fp32."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def refusal(backend: str, device: str, meta: dict[str, Any], name: str) -> str | None:
    """Why `backend` cannot score this teacher on `device` (one line naming the fix), or None when it can.

    The one rule: the job checks it on the driver (a usage error before any Spark work), the
    workers again before they export.
    """
    if backend == "torch-bf16":
        if device == "cuda":
            return ("labelling.backend=torch-bf16 is the CPU's bf16 path; on a GPU use labelling.backend=torch "
                    "(labelling.gpu_dtype picks bf16 there)")
        if not cpu_has_bf16():
            return ("labelling.backend=torch-bf16 needs a CPU with bf16 instructions (AVX512-BF16 or AMX), "
                    "and this one has neither: use labelling.backend=torch or onnx-int8")
        return None
    if backend not in ONNX_BACKENDS:
        return None
    if meta.get("is_decoder"):
        return (f"labelling.backend={backend} takes encoder teachers; teacher {name} is a decoder "
                f"({meta.get('backbone')}): use labelling.backend=torch")
    if device == "cuda":
        return f"labelling.backend={backend} runs on CPU; with labelling.device=cuda use labelling.backend=torch"
    return None


def cache_dir(teacher_dir: str | os.PathLike[str], backend: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where this teacher's graph for `backend` lives: keyed by its folder and its teacher.json.

    `root` is labelling.onnx_cache_dir; None = $SEARCHREL_CACHE/onnx.
    """
    meta = Path(teacher_dir, "teacher.json").read_bytes()
    import onnxruntime

    key = hashlib.sha256(
        b"\0".join([str(Path(teacher_dir).resolve()).encode(), meta, backend.encode(),
                    onnxruntime.__version__.encode()])
    ).hexdigest()[:20]
    base = Path(root).expanduser() if root else backbones.cache_root().parent / "onnx"
    return base / key


def ensure_graph(teacher_dir: str | os.PathLike[str], backend: str,
                 root: str | os.PathLike[str] | None = None) -> Path:
    """The cached graph file for (teacher, backend), exported (and quantised) on first use."""
    if backend not in ONNX_BACKENDS:
        raise ValueError(f"{backend!r} is not an ONNX backend ({', '.join(ONNX_BACKENDS)})")
    final = cache_dir(teacher_dir, backend, root)
    if (final / GRAPH_FILE).exists():
        return final / GRAPH_FILE
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        fp32 = tmp / "fp32.onnx"
        export(teacher_dir, fp32)
        if backend == "onnx-int8":
            quantize_int8(fp32, tmp / GRAPH_FILE)
            fp32.unlink()
        else:
            fp32.rename(tmp / GRAPH_FILE)
        try:
            os.replace(tmp, final)
        except OSError:  # another worker got there first: its graph is the same one
            if not (final / GRAPH_FILE).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported teacher %s to %s (%s)", teacher_dir, final / GRAPH_FILE, backend)
    return final / GRAPH_FILE


def export(teacher_dir: str | os.PathLike[str], path: Path) -> Path:
    """The saved teacher's logits as an fp32 ONNX graph with dynamic batch and sequence axes, fused where ORT can."""
    import torch

    from modeling.teacher_store import load_teacher
    from modeling.teacher_tokens import encode_pairs, pad_batch, pad_token_id

    model, tokenizer, meta = load_teacher(teacher_dir)
    why = refusal("onnx", "cpu", meta, str(teacher_dir))
    if why:
        raise UnsupportedTeacher(why)
    if hasattr(model.backbone, "merge_and_unload"):  # a LoRA encoder: fold the adapter into the weights
        model.backbone = model.backbone.merge_and_unload()
    base = model.backbone
    # Eager attention exports as plain MatMul/Softmax, which the optimizer fuses into one Attention op.
    if hasattr(base, "set_attn_implementation"):
        try:
            base.set_attn_implementation("eager")
        except Exception:  # noqa: BLE001 - a model without the choice keeps what it has
            pass
    model.eval()
    sample = encode_pairs(tokenizer, ["a query", "another query"], ["some pin text", "more text here"],
                          int(meta.get("max_length") or 128), False)
    batch = pad_batch({k: sample[k] for k in MODEL_INPUTS if k in sample}, pad_token_id(tokenizer))
    names = list(batch)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with torch.inference_mode():
        torch.onnx.export(
            model, tuple(batch[n] for n in names), str(path), input_names=names, output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter: no onnxscript, and a graph the optimizer knows
        )
    _optimize(path, base.config)
    return path


def _optimize(path: Path, config: Any) -> None:
    """Fuse attention, GELU and LayerNorm in place; a graph the optimizer cannot fuse is kept as exported."""
    from onnxruntime.transformers.optimizer import optimize_model

    try:
        optimized = optimize_model(
            str(path), model_type="bert", num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
        )
        optimized.save_model_to_file(str(path))
        log.info("onnx fusions: %s", {k: v for k, v in optimized.get_fused_operator_statistics().items() if v})
    except Exception as exc:  # noqa: BLE001 - fusion is an optimisation, the exported graph is correct
        log.warning("onnx graph optimisation skipped for %s: %s", path, exc)


def quantize_int8(src: Path, dst: Path) -> Path:
    """Dynamic int8: MatMul weights per output channel; embeddings (Gather) and the head's Gemm stay fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"],
        # The fused graph carries ops shape inference does not type; their outputs are float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return dst


class OnnxTeacher:
    """An ONNX Runtime session that `teacher_inference.score_encoded` calls like the PyTorch teacher.

    It takes the same keyword tensors and returns logits as a torch tensor, so both
    backends go through the one inference loop (length-sorted micro-batches, softmax).
    """

    training = False

    def __init__(self, graph: str | os.PathLike[str], threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, **inputs: Any):
        import torch

        feed = {name: np.ascontiguousarray(inputs[name].cpu().numpy(), dtype=np.int64) for name in self.inputs}
        return torch.from_numpy(self.session.run(["logits"], feed)[0])

    def eval(self) -> "OnnxTeacher":
        return self

    def train(self, mode: bool = True) -> "OnnxTeacher":
        return self


def load_session(teacher_dir: str | os.PathLike[str], backend: str, threads: int = 1,
                 cache_root: str | os.PathLike[str] | None = None) -> tuple[OnnxTeacher, Any, dict]:
    """(session, tokenizer, meta) for an ONNX backend: the graph from the cache, the tokenizer from the teacher."""
    from transformers import AutoTokenizer

    meta = json.loads(Path(teacher_dir, "teacher.json").read_text(encoding="utf-8"))
    why = refusal(backend, "cpu", meta, str(teacher_dir))
    if why:
        raise UnsupportedTeacher(why)
    graph = ensure_graph(teacher_dir, backend, cache_root)
    tokenizer = AutoTokenizer.from_pretrained(str(Path(teacher_dir, "tokenizer")))
    return OnnxTeacher(graph, threads), tokenizer, meta
