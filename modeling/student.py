"""The student: a small feed-forward relevance model over cheap features.

Inputs are three tensors, so the same graph runs in PyTorch and in ONNX:
`categorical` (int64 [B, n_cat], vocabulary ids, 0 = unknown), `dense`
(float32 [B, n_dense], raw values) and `embeddings` (float32 [B, sum(dims)],
the embedding columns concatenated in spec order). Count-like dense features
are log1p'd and every dense feature is standardised *inside* the model with
statistics saved in the feature spec, so serving feeds raw values and cannot
forget (or double-apply) the normalisation. The element-wise product of the
query and pin text embeddings is added to the input: an MLP learns "how similar"
far more easily from it than from two separate vectors.

On disk (`<models_path>/student/<version>/`): `student.safetensors` (weights),
`feature_spec.json` (names, dims, vocabularies, normalisation statistics,
architecture) and `student.json` (training settings, data snapshot, metrics).
Nothing is pickled. The published version is the `current` pointer, kept by
`modeling.registry` in the same JSON format as the teacher's.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn

from modeling import registry

N_LEVELS = 5
WEIGHTS_FILE = "student.safetensors"
SPEC_FILE = "feature_spec.json"
META_FILE = "student.json"
ONNX_FILE = "student.onnx"


@dataclass
class FeatureSpec:
    """Everything needed to turn a student_examples row into model inputs, saved as JSON."""

    categorical: dict[str, list[str]]  # name -> vocabulary; id = position + 1, 0 = unknown
    dense: list[str]
    log1p: list[str]  # dense features that are counts: log1p before standardising
    dense_mean: list[float]
    dense_std: list[float]
    embeddings: dict[str, int]  # name -> dim, concatenated in this order
    product: list[str] = field(default_factory=list)  # two embedding names multiplied element-wise
    categorical_dim: int = 8
    hidden: list[int] = field(default_factory=lambda: [128, 64])
    dropout: float = 0.1
    n_levels: int = N_LEVELS

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "FeatureSpec":
        return cls(**json.loads(text))

    @property
    def embedding_width(self) -> int:
        return int(sum(self.embeddings.values()))

    def slice_of(self, name: str) -> tuple[int, int]:
        lo = 0
        for key, dim in self.embeddings.items():
            if key == name:
                return lo, lo + dim
            lo += dim
        raise KeyError(name)


class StudentModel(nn.Module):
    """Categorical embeddings + standardised dense features + embeddings -> MLP -> 5 logits."""

    def __init__(self, spec: FeatureSpec):
        super().__init__()
        self.spec = spec
        self.tables = nn.ModuleList(
            nn.Embedding(len(vocab) + 1, spec.categorical_dim) for vocab in spec.categorical.values()
        )
        n_dense = len(spec.dense)
        self.register_buffer("dense_mean", torch.tensor(spec.dense_mean, dtype=torch.float32).reshape(1, n_dense))
        self.register_buffer(
            "dense_std", torch.tensor([max(s, 1e-6) for s in spec.dense_std], dtype=torch.float32).reshape(1, n_dense)
        )
        self.register_buffer(
            "log_mask", torch.tensor([name in spec.log1p for name in spec.dense], dtype=torch.bool).reshape(1, n_dense)
        )
        self.product_slices = [spec.slice_of(n) for n in spec.product] if len(spec.product) == 2 else []
        width = len(self.tables) * spec.categorical_dim + n_dense + spec.embedding_width
        if self.product_slices:
            width += self.product_slices[0][1] - self.product_slices[0][0]
        layers: list[nn.Module] = []
        for size in spec.hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(spec.dropout)]
            width = size
        layers.append(nn.Linear(width, spec.n_levels))
        self.mlp = nn.Sequential(*layers)

    def forward(self, categorical: torch.Tensor, dense: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        dense = torch.where(self.log_mask, torch.log1p(dense.clamp(min=0.0)), dense)
        dense = (dense - self.dense_mean) / self.dense_std
        parts = [table(categorical[:, i]) for i, table in enumerate(self.tables)]
        parts += [dense, embeddings]
        if self.product_slices:
            (a0, a1), (b0, b1) = self.product_slices
            parts.append(embeddings[:, a0:a1] * embeddings[:, b0:b1])
        return self.mlp(torch.cat(parts, dim=1))


# -- rows to tensors ---------------------------------------------------------------


def _codes(values: Any, vocab: list[str]) -> np.ndarray:
    """Vocabulary ids (1-based) with 0 for unknown or missing values."""
    series = pd.Series(values, dtype=object)
    return (pd.Categorical(series, categories=vocab).codes.astype(np.int64) + 1)


def _matrix(column: Any, dim: int) -> np.ndarray:
    """A list<float> Arrow column or a sequence of vectors -> float32 [n, dim]; missing -> zeros."""
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        n = len(arr)
        lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False)
        if n and (lengths == dim).all():
            return pc.list_flatten(arr).to_numpy(zero_copy_only=False).astype(np.float32).reshape(n, dim)
        column = arr.to_pylist()
    out = np.zeros((len(column), dim), dtype=np.float32)
    for i, v in enumerate(column):
        if v is not None and len(v) == dim:
            out[i] = np.asarray(v, dtype=np.float32)
    return out


def _column(data: pa.RecordBatch | pa.Table | pd.DataFrame | Mapping[str, Any], name: str) -> Any:
    if isinstance(data, (pa.RecordBatch, pa.Table)):
        return data.column(name)
    return data[name]


def _to_numpy(col: Any) -> np.ndarray:
    if isinstance(col, (pa.Array, pa.ChunkedArray)):
        return col.to_numpy(zero_copy_only=False)
    return np.asarray(col)


def encode(data: pa.RecordBatch | pa.Table | pd.DataFrame | Mapping[str, Any], spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Model inputs (`categorical`, `dense`, `embeddings`) from rows of student_examples."""
    categorical = np.stack(
        [_codes(_to_numpy(_column(data, name)), vocab) for name, vocab in spec.categorical.items()], axis=1
    ) if spec.categorical else None
    dense_cols = []
    for name in spec.dense:
        col = _column(data, name)
        values = pd.to_numeric(pd.Series(_to_numpy(col)), errors="coerce").fillna(0.0).to_numpy(np.float32)
        dense_cols.append(values)
    dense = np.stack(dense_cols, axis=1).astype(np.float32)
    if categorical is None:
        categorical = np.zeros((dense.shape[0], 0), dtype=np.int64)
    embeddings = np.concatenate([_matrix(_column(data, n), d) for n, d in spec.embeddings.items()], axis=1)
    return {"categorical": categorical, "dense": dense, "embeddings": embeddings}


# -- save / load -------------------------------------------------------------------


def save_student(model: StudentModel, directory: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Weights, spec and meta into `directory`; the weights file, the version's marker, comes last.

    The marker is written under a temporary name and renamed, so a folder a killed save
    left behind is never taken for a version. `student-train` builds the whole version
    (with its ONNX export and baseline) in a staging folder and renames that into place.
    """
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    (out / SPEC_FILE).write_text(model.spec.to_json(), encoding="utf-8")
    (out / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    tmp = out / f".{WEIGHTS_FILE}.{os.getpid()}.tmp"
    save_file(state, str(tmp))
    os.replace(tmp, out / WEIGHTS_FILE)
    return out


def load_student(directory: str | os.PathLike[str]) -> StudentModel:
    from safetensors.torch import load_file

    from modeling.safe_weights import refuse_pickles

    path = Path(directory)
    refuse_pickles(path, "student")  # save_student writes none: one found here was planted
    spec = FeatureSpec.from_json((path / SPEC_FILE).read_text(encoding="utf-8"))
    model = StudentModel(spec)
    model.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
    model.eval()
    return model


def student_root(models_path: str | os.PathLike[str]) -> Path:
    return Path(models_path) / "student"


def resolve_version_dir(models_path: str | os.PathLike[str], version: str | None = "current") -> Path:
    """`current` (or None) follows the pointer file written by the last successful training."""
    return registry.resolve(student_root(models_path), version, WEIGHTS_FILE, kind="student",
                            train_command="student-train")


def set_current(models_path: str | os.PathLike[str], version: str) -> Path:
    """Publish a saved version: serving's "current" student is this one from now on."""
    return registry.set_current(student_root(models_path), version, WEIGHTS_FILE, kind="student")


def predict_proba(model: StudentModel, inputs: Mapping[str, np.ndarray], batch_size: int = 4096) -> np.ndarray:
    """float32 [n, 5] probabilities."""
    model.eval()
    n = inputs["dense"].shape[0]
    out = np.zeros((n, model.spec.n_levels), dtype=np.float32)
    with torch.inference_mode():
        for lo in range(0, n, batch_size):
            hi = lo + batch_size
            logits = model(
                torch.from_numpy(inputs["categorical"][lo:hi]),
                torch.from_numpy(inputs["dense"][lo:hi]),
                torch.from_numpy(inputs["embeddings"][lo:hi]),
            )
            out[lo:hi] = torch.softmax(logits, dim=1).numpy()
    return out
