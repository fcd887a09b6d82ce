"""Reading a student_examples snapshot for training: filtered Arrow batches, and a bounded shuffle.

Memory stays bounded whatever the table size: the training rows are never
collected. Each epoch reads the snapshot's parquet files (the exact file list of
one Delta version, handed over by the job) as Arrow record batches, with the
row filter pushed down to the scan, through a shuffle buffer of fixed capacity;
file order is reshuffled per epoch. Peak memory is about one record batch plus
the buffer plus the model.
"""

from __future__ import annotations

import os
from typing import Iterator, Literal, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from features.student_examples import SOURCE_HUMAN, SOURCE_IMPRESSION
from modeling.student import N_LEVELS, FeatureSpec, _matrix, encode

Mode = Literal["distill", "human"]
TARGET_COLUMNS = ("teacher_probs", "human_label", "source")


def local_path(uri: str) -> str:
    """Spark's `file:/x` URIs to plain paths (pyarrow reads those without a filesystem object)."""
    for prefix in ("file://", "file:"):
        if uri.startswith(prefix):
            return uri[len(prefix):]
    return uri


def row_filter(mode: Mode, split: str, teacher_key_below: float | None = None,
               human_key_below: float | None = None) -> pads.Expression:
    """Which rows of the snapshot a run reads; pushed down to the parquet scan.

    The `*_key_below` bounds keep training rows whose `sample_key` lies below them: a stable
    subsample, and a nested one (a smaller cap keeps a subset of a larger cap's rows), which is
    what a scaling curve needs. `key_bound` picks a bound that keeps an exact number of rows.
    """
    in_split = pads.field("split") == split
    human = (pads.field("source") == SOURCE_HUMAN) & pads.field("human_label").is_valid()
    if split == "train" and human_key_below is not None:
        human = human & (pads.field("sample_key") < human_key_below)
    if mode == "human" or split != "train":
        return in_split & human
    teacher = (pads.field("source") == SOURCE_IMPRESSION) & pads.field("teacher_probs").is_valid()
    if teacher_key_below is not None:
        teacher = teacher & (pads.field("sample_key") < teacher_key_below)
    return in_split & (human | teacher)


def key_bound(files: Sequence[str], expression: pads.Expression, n: int) -> float | None:
    """The `sample_key` bound below which exactly `n` of the matching rows lie; None when `n` keeps them all.

    Keys are 53-bit hashes of each row's unique key (features.student_examples.sample_key), so a
    shared key is a ~n**2 / 2**54 chance; `train_student` checks the count it got all the same.
    """
    if n < 0:
        raise ValueError(f"a row cap must be >= 0, got {n}")
    keys = dataset(files).to_table(columns=["sample_key"], filter=expression).column(0).to_numpy() if files else np.array([])
    if n >= len(keys):
        return None
    if n == 0:
        return float(keys.min())
    return float(np.nextafter(np.partition(keys, n - 1)[n - 1], np.inf))


def dataset(files: Sequence[str]) -> pads.Dataset:
    return pads.dataset([local_path(f) for f in files], format="parquet")


def count_rows(files: Sequence[str], expression: pads.Expression) -> int:
    return int(dataset(files).count_rows(filter=expression)) if files else 0


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
        scanner = dataset(group).scanner(
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
