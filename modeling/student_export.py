"""Serving form of the student: an ONNX graph plus a plain scoring function.

The graph takes the same three inputs as `StudentModel.forward` (categorical
ids, raw dense values, concatenated embeddings) and returns the 5 relevance
probabilities, so a server only needs onnxruntime, numpy and
`feature_spec.json` (for the vocabularies). `score` below is that server in a
dozen lines: rows in, probabilities and expected relevance out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from modeling.student import ONNX_FILE, SPEC_FILE, FeatureSpec, StudentModel, encode

INPUT_NAMES = ("categorical", "dense", "embeddings")
OUTPUT_NAME = "probs"


class _WithSoftmax(torch.nn.Module):
    def __init__(self, model: StudentModel):
        super().__init__()
        self.model = model

    def forward(self, categorical: torch.Tensor, dense: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(categorical, dense, embeddings), dim=1)


def export_onnx(model: StudentModel, path: str | Path, opset: int = 17) -> Path:
    """Write the model (softmax included) as ONNX with a dynamic batch dimension."""
    spec = model.spec
    was_training = model.training
    wrapper = _WithSoftmax(model).eval()  # a wrapper left in train mode would switch dropout back on afterwards
    example = (
        torch.zeros((2, len(spec.categorical)), dtype=torch.int64),
        torch.zeros((2, len(spec.dense)), dtype=torch.float32),
        torch.zeros((2, spec.embedding_width), dtype=torch.float32),
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        wrapper,
        example,
        str(out),
        input_names=list(INPUT_NAMES),
        output_names=[OUTPUT_NAME],
        dynamic_axes={name: {0: "batch"} for name in (*INPUT_NAMES, OUTPUT_NAME)},
        opset_version=opset,
        dynamo=False,  # the TorchScript exporter needs no onnxscript; the graph is a plain MLP
    )
    model.train(was_training)
    return out


class OnnxStudent:
    """A loaded ONNX student: `predict(inputs)` on encoded arrays, `score(rows)` on raw rows."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        import onnxruntime as ort

        directory = Path(model_dir)
        self.spec = FeatureSpec.from_json((directory / SPEC_FILE).read_text(encoding="utf-8"))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(directory / ONNX_FILE), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def predict(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        feeds = {name: np.ascontiguousarray(inputs[name]) for name in INPUT_NAMES}
        return self.session.run([OUTPUT_NAME], feeds)[0]

    def score(self, rows: Any) -> dict[str, np.ndarray]:
        """Rows with the student_examples feature columns -> probs [n, 5] and expected relevance [n]."""
        probs = self.predict(encode(rows, self.spec))
        return {"probs": probs, "expected_relevance": probs @ np.arange(1, probs.shape[1] + 1, dtype=np.float32)}


def score(model_dir: str | Path, rows: Any) -> dict[str, np.ndarray]:
    """One-call scoring with the exported model of a student version directory."""
    return OnnxStudent(model_dir).score(rows)
