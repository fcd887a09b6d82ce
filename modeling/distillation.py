"""Distillation loss and streaming training of the student from a student_examples snapshot.

Memory stays bounded whatever the table size: the training rows are never
collected. Each epoch reads the snapshot's parquet files (the exact file list of
one Delta version, handed over by the job) as Arrow record batches, with the
row filter pushed down to the scan, through a shuffle buffer of fixed capacity;
file order is reshuffled per epoch. Peak memory is about one record batch plus
the buffer plus the model, which `peak_rss_mb` in the result lets you check.

Loss: T^2 * KL(teacher_T || student_T) on rows with teacher probabilities, plus
alpha * cross-entropy on rows with a human label (source `human_label`). The
teacher's probabilities are softened with the same temperature as the student's
logits (log p / T, renormalised). The `human` mode is the baseline: the same
model trained with cross-entropy on human labels only.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import torch
from torch import nn
from tqdm.auto import tqdm

from features.student_examples import CATEGORICAL, DENSE, EMBEDDINGS, SOURCE_HUMAN, SOURCE_IMPRESSION
from modeling.student import N_LEVELS, FeatureSpec, StudentModel, encode

log = logging.getLogger(__name__)

Mode = Literal["distill", "human"]
LOG1P = ("n_terms", "bm25", "pair_impressions_before_ds", "pin_impressions_before_ds")
PRODUCT = ("query_embedding", "pin_text_embedding")
TARGET_COLUMNS = ("teacher_probs", "human_label", "source")


@dataclass
class TrainSettings:
    """Typed training arguments, saved beside the model."""

    mode: Mode = "distill"
    temperature: float = 2.0
    alpha: float = 0.5
    hidden: list[int] = field(default_factory=lambda: [128, 64])
    dropout: float = 0.1
    categorical_dim: int = 8
    epochs: int = 3
    batch_size: int = 512
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    shuffle_buffer: int = 20_000
    arrow_batch_rows: int = 8192
    seed: int = 17
    # Cap on teacher-labelled (impression) training rows; a stable hash subsample.
    max_teacher_rows: int | None = None
    torch_threads: int | None = None
    progress: bool = True

    @classmethod
    def from_config(cls, student: Any, **overrides: Any) -> "TrainSettings":
        values = {k: getattr(student, k) for k in (
            "temperature", "alpha", "hidden", "dropout", "categorical_dim", "epochs", "batch_size",
            "learning_rate", "weight_decay", "shuffle_buffer", "arrow_batch_rows", "seed", "torch_threads",
        )}
        values["max_teacher_rows"] = student.max_rows
        values.update(overrides)
        return cls(**values)


# -- loss ------------------------------------------------------------------------


def distillation_loss(
    logits: torch.Tensor,
    teacher_probs: torch.Tensor,
    has_teacher: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """T^2 * mean KL over rows with a teacher + alpha * mean CE over rows with a label (label >= 0)."""
    zero = logits.sum() * 0.0
    kl = zero
    if bool(has_teacher.any()):
        t = temperature
        student_log = torch.log_softmax(logits[has_teacher] / t, dim=1)
        teacher_log = torch.log_softmax(torch.log(teacher_probs[has_teacher].clamp(min=1e-8)) / t, dim=1)
        kl = (teacher_log.exp() * (teacher_log - student_log)).sum(dim=1).mean() * (t * t)
    ce = zero
    labelled = labels >= 0
    if bool(labelled.any()):
        ce = nn.functional.cross_entropy(logits[labelled], labels[labelled])
    loss = kl + alpha * ce
    return loss, {"kl": float(kl.detach()), "ce": float(ce.detach())}


# -- reading the snapshot -----------------------------------------------------------


def local_path(uri: str) -> str:
    """Spark's `file:/x` URIs to plain paths (pyarrow reads those without a filesystem object)."""
    for prefix in ("file://", "file:"):
        if uri.startswith(prefix):
            return uri[len(prefix):]
    return uri


def row_filter(mode: Mode, split: str, teacher_fraction: float | None = None) -> pads.Expression:
    """Which rows of the snapshot a run reads; pushed down to the parquet scan."""
    in_split = pads.field("split") == split
    human = (pads.field("source") == SOURCE_HUMAN) & pads.field("human_label").is_valid()
    if mode == "human" or split != "train":
        return in_split & human
    teacher = (pads.field("source") == SOURCE_IMPRESSION) & pads.field("teacher_probs").is_valid()
    if teacher_fraction is not None and teacher_fraction < 1.0:
        teacher = teacher & (pads.field("sample_key") < teacher_fraction)
    return in_split & (human | teacher)


def _dataset(files: Sequence[str]) -> pads.Dataset:
    return pads.dataset([local_path(f) for f in files], format="parquet")


def count_rows(files: Sequence[str], expression: pads.Expression) -> int:
    return int(_dataset(files).count_rows(filter=expression)) if files else 0


def iter_batches(
    files: Sequence[str], expression: pads.Expression, columns: Sequence[str], batch_rows: int,
    rng: np.random.Generator | None = None,
) -> Iterator[pa.RecordBatch]:
    """Record batches of the matching rows, file by file (in a shuffled order when rng is given)."""
    order = list(files)
    if rng is not None:
        order = [order[i] for i in rng.permutation(len(order))]
    if not order:
        return
    # One scanner per group of files of at most SCAN_GROUP_BYTES on disk, read-ahead bounded to two
    # batches. A single scanner over the whole snapshot starts reading every file up front (about one
    # row group each, even with fragment_readahead=1), so peak memory grew with the number of files
    # (+0.5 GB from 15 to 50 files, bench/student_train_memory.py); a scanner per file bounds memory
    # but pays a dataset per file, which on a snapshot of hundreds of small human-label partitions
    # doubled the demo's training time. Groups bound both.
    for group in _scan_groups(order, SCAN_GROUP_BYTES):
        scanner = _dataset(group).scanner(
            columns=list(columns), filter=expression, batch_size=batch_rows, batch_readahead=2, fragment_readahead=1
        )
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield batch


SCAN_GROUP_BYTES = 64 << 20


def _scan_groups(files: Sequence[str], max_bytes: int) -> Iterator[list[str]]:
    """Consecutive runs of files whose sizes add up to at most max_bytes (a bigger file goes alone)."""
    group: list[str] = []
    size = 0
    for path in files:
        try:
            n = os.path.getsize(local_path(path))
        except OSError:  # not a local file: let it be a group of its own
            n = max_bytes
        if group and size + n > max_bytes:
            yield group
            group, size = [], 0
        group.append(path)
        size += n
    if group:
        yield group


def encode_targets(batch: pa.RecordBatch, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Model inputs plus teacher probabilities (zeros where missing) and 0-based human labels (-1 = none)."""
    arrays = encode(batch, spec)
    probs_col = batch.column("teacher_probs")
    has_teacher = pc.is_valid(probs_col).to_numpy(zero_copy_only=False)
    teacher = np.zeros((batch.num_rows, N_LEVELS), dtype=np.float32)
    if has_teacher.any():
        from modeling.student import _matrix

        teacher = _matrix(probs_col, N_LEVELS)
        has_teacher = has_teacher & (teacher.sum(axis=1) > 0)
    source = batch.column("source").to_numpy(zero_copy_only=False)
    label = pc.fill_null(batch.column("human_label"), 0).to_numpy(zero_copy_only=False).astype(np.int64) - 1
    label = np.where((source == SOURCE_HUMAN) & (label >= 0) & (label < N_LEVELS), label, -1)
    arrays.update(teacher=teacher, has_teacher=has_teacher.astype(bool), label=label)
    return arrays


class ShuffleBuffer:
    """Bounded-memory shuffling: rows mix within a buffer of `capacity` rows, minibatches come out."""

    def __init__(self, capacity: int, batch_size: int, rng: np.random.Generator):
        self.capacity, self.batch_size, self.rng = max(capacity, batch_size), batch_size, rng
        self.parts: list[dict[str, np.ndarray]] = []
        self.rows = 0

    def _merged(self) -> dict[str, np.ndarray]:
        merged = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        perm = self.rng.permutation(self.rows)
        return {k: v[perm] for k, v in merged.items()}

    def _emit(self, merged: dict[str, np.ndarray], n_out: int) -> Iterator[dict[str, np.ndarray]]:
        for lo in range(0, n_out, self.batch_size):
            hi = min(lo + self.batch_size, n_out)
            yield {k: v[lo:hi] for k, v in merged.items()}

    def push(self, arrays: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        self.parts.append(arrays)
        self.rows += len(arrays["label"])
        if self.rows < self.capacity:
            return
        merged = self._merged()
        n_out = ((self.rows - self.capacity // 2) // self.batch_size) * self.batch_size
        yield from self._emit(merged, n_out)
        rest = {k: v[n_out:] for k, v in merged.items()}
        self.parts, self.rows = [rest], len(rest["label"])

    def flush(self) -> Iterator[dict[str, np.ndarray]]:
        if self.rows:
            merged = self._merged()
            self.parts, self.rows = [], 0
            yield from self._emit(merged, len(merged["label"]))


# -- statistics pass ---------------------------------------------------------------


def scan_feature_spec(
    files: Sequence[str], expression: pads.Expression, settings: TrainSettings,
) -> tuple[FeatureSpec, dict[str, int]]:
    """One streaming pass: vocabularies, dense mean/std (after log1p), embedding dims, row counts."""
    columns = [*CATEGORICAL, *DENSE, *EMBEDDINGS, "teacher_probs", "source", "human_label"]
    counters = {name: Counter() for name in CATEGORICAL}
    n = 0
    sums = np.zeros(len(DENSE))
    sumsq = np.zeros(len(DENSE))
    dims: dict[str, int] = {}
    n_teacher = n_human = 0
    for batch in iter_batches(files, expression, columns, settings.arrow_batch_rows):
        for name in CATEGORICAL:
            counters[name].update(v for v in batch.column(name).to_pylist() if v is not None)
        for j, name in enumerate(DENSE):
            values = pc.fill_null(batch.column(name).cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False)
            if name in LOG1P:
                values = np.log1p(np.clip(values, 0, None))
            sums[j] += values.sum()
            sumsq[j] += (values * values).sum()
        for name in EMBEDDINGS:
            if name not in dims:
                lengths = pc.drop_null(pc.list_value_length(batch.column(name)))
                if len(lengths):
                    dims[name] = int(pc.max(lengths).as_py())
        n += batch.num_rows
        n_teacher += int(pc.sum(pc.is_valid(batch.column("teacher_probs"))).as_py() or 0)
        is_human = pc.and_(pc.equal(batch.column("source"), SOURCE_HUMAN), pc.is_valid(batch.column("human_label")))
        n_human += int(pc.sum(is_human).as_py() or 0)
    if n == 0:
        raise ValueError("no training rows matched (has student-features run, with teacher scores or human labels?)")
    mean = sums / n
    std = np.sqrt(np.maximum(sumsq / n - mean * mean, 0.0))
    spec = FeatureSpec(
        categorical={name: [v for v, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))] for name, c in counters.items()},
        dense=list(DENSE),
        log1p=[d for d in DENSE if d in LOG1P],
        dense_mean=[float(x) for x in mean],
        dense_std=[float(x) if x > 1e-6 else 1.0 for x in std],
        embeddings={name: dims.get(name, 0) for name in EMBEDDINGS if dims.get(name, 0) > 0},
        product=list(PRODUCT) if all(dims.get(p) for p in PRODUCT) and dims[PRODUCT[0]] == dims[PRODUCT[1]] else [],
        categorical_dim=settings.categorical_dim,
        hidden=list(settings.hidden),
        dropout=settings.dropout,
    )
    return spec, {"rows": n, "teacher_rows": n_teacher, "human_rows": n_human}


# -- training ----------------------------------------------------------------------


def _tensors(mb: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in mb.items()}


def evaluate_loss(
    model: StudentModel, files: Sequence[str], expression: pads.Expression, settings: TrainSettings
) -> dict[str, float] | None:
    """Cross-entropy and accuracy on human-labelled rows (the validation split), streamed."""
    columns = [*CATEGORICAL, *DENSE, *model.spec.embeddings, *TARGET_COLUMNS]
    model.eval()
    total, correct, ce_sum = 0, 0, 0.0
    with torch.inference_mode():
        for batch in iter_batches(files, expression, columns, settings.arrow_batch_rows):
            t = _tensors(encode_targets(batch, model.spec))
            keep = t["label"] >= 0
            if not bool(keep.any()):
                continue
            logits = model(t["categorical"], t["dense"], t["embeddings"])[keep]
            ce_sum += float(nn.functional.cross_entropy(logits, t["label"][keep], reduction="sum"))
            correct += int((logits.argmax(dim=1) == t["label"][keep]).sum())
            total += int(keep.sum())
    if total == 0:
        return None
    return {"val_ce": ce_sum / total, "val_accuracy": correct / total, "val_rows": total}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train_student(
    files: Sequence[str], settings: TrainSettings, checkpoint_dir: str | Path | None = None,
) -> tuple[StudentModel, dict[str, Any]]:
    """Train on the snapshot's files; returns the best model (by validation CE) and a summary."""
    started = time.time()
    torch.manual_seed(settings.seed)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    fraction = None
    available_teacher = count_rows(files, row_filter("distill", "train") & (pads.field("source") == SOURCE_IMPRESSION))
    if settings.mode == "distill" and settings.max_teacher_rows is not None and available_teacher:
        fraction = min(1.0, settings.max_teacher_rows / available_teacher)
    train_expr = row_filter(settings.mode, "train", fraction)
    val_expr = row_filter(settings.mode, "validation")
    spec, counts = scan_feature_spec(files, train_expr, settings)
    model = StudentModel(spec)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    columns = [*CATEGORICAL, *DENSE, *spec.embeddings, *TARGET_COLUMNS]
    alpha = 1.0 if settings.mode == "human" else settings.alpha
    history: list[dict[str, Any]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    steps_per_epoch = max(1, math.ceil(counts["rows"] / settings.batch_size))
    for epoch in range(settings.epochs):
        rng = np.random.default_rng(settings.seed + epoch)
        buffer = ShuffleBuffer(settings.shuffle_buffer, settings.batch_size, rng)
        model.train()
        seen, loss_sum, kl_sum, ce_sum, steps = 0, 0.0, 0.0, 0.0, 0
        bar = tqdm(total=steps_per_epoch, desc=f"student[{settings.mode}] epoch {epoch + 1}/{settings.epochs}",
                   disable=not settings.progress, leave=False)

        def step(mb: dict[str, np.ndarray]) -> None:
            nonlocal seen, loss_sum, kl_sum, ce_sum, steps
            t = _tensors(mb)
            has_teacher = t["has_teacher"] if settings.mode == "distill" else torch.zeros_like(t["has_teacher"])
            logits = model(t["categorical"], t["dense"], t["embeddings"])
            loss, parts = distillation_loss(logits, t["teacher"], has_teacher, t["label"], settings.temperature, alpha)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            seen += len(mb["label"])
            loss_sum += float(loss.detach())
            kl_sum += parts["kl"]
            ce_sum += parts["ce"]
            steps += 1
            bar.update(1)

        for batch in iter_batches(files, train_expr, columns, settings.arrow_batch_rows, rng):
            for mb in buffer.push(encode_targets(batch, spec)):
                step(mb)
        for mb in buffer.flush():
            step(mb)
        bar.close()
        record: dict[str, Any] = {
            "epoch": epoch + 1, "rows": seen, "loss": loss_sum / max(steps, 1), "kl": kl_sum / max(steps, 1),
            "ce": ce_sum / max(steps, 1),
        }
        val = evaluate_loss(model, files, val_expr, settings)
        if val:
            record.update(val)
        if ckpt is not None:
            from safetensors.torch import save_file

            ckpt.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
                      str(ckpt / f"epoch-{epoch + 1}.safetensors"))
        score = val["val_ce"] if val else -float(epoch)  # without validation rows the last epoch wins
        if best is None or score < best[0]:
            best = (score, epoch + 1, {k: v.detach().clone() for k, v in model.state_dict().items()})
        record["peak_rss_mb"] = round(peak_rss_mb(), 1)
        history.append(record)
        log.info("student[%s] %s", settings.mode, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()})
    assert best is not None
    model.load_state_dict(best[2])
    model.eval()
    summary = {
        "settings": asdict(settings),
        "train_rows": counts["rows"],
        "train_teacher_rows": counts["teacher_rows"],
        "train_human_rows": counts["human_rows"],
        "available_teacher_rows": available_teacher,
        "teacher_fraction": fraction,
        "best_epoch": best[1],
        "history": history,
        "seconds": round(time.time() - started, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    return model, summary
