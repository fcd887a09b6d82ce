"""The statistics pass before training: vocabularies, dense normalisation, embedding dims, row counts.

One streaming pass over the training rows builds the `FeatureSpec` the model
standardises its inputs with, so serving feeds raw values and the statistics
travel with the weights (feature_spec.json).
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from features.student_examples import CATEGORICAL, DENSE, EMBEDDINGS, SOURCE_HUMAN, SOURCE_IMPRESSION
from modeling.student import FeatureSpec
from modeling.student_reader import iter_batches

# Count-like dense features, log1p'd before standardising.
LOG1P = ("n_terms", "bm25", "pair_impressions_before_ds", "pin_impressions_before_ds")
# The two embeddings whose element-wise product is a model input.
PRODUCT = ("query_embedding", "pin_text_embedding")


def scan_feature_spec(
    files: Sequence[str], expression: pads.Expression, batch_rows: int, *,
    categorical_dim: int, hidden: Sequence[int], dropout: float,
) -> tuple[FeatureSpec, dict[str, int]]:
    """One streaming pass: vocabularies, dense mean/std (after log1p), embedding dims, row counts."""
    columns = [*CATEGORICAL, *DENSE, *EMBEDDINGS, "teacher_probs", "source", "human_label"]
    counters = {name: Counter() for name in CATEGORICAL}
    n = 0
    sums = np.zeros(len(DENSE))
    sumsq = np.zeros(len(DENSE))
    dims: dict[str, int] = {}
    n_teacher = n_impression = n_human = 0
    for batch in iter_batches(files, expression, columns, batch_rows):
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
        has_teacher = pc.is_valid(batch.column("teacher_probs"))
        n_teacher += int(pc.sum(has_teacher).as_py() or 0)
        n_impression += int(pc.sum(pc.and_(pc.equal(batch.column("source"), SOURCE_IMPRESSION), has_teacher)).as_py() or 0)
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
        categorical_dim=categorical_dim,
        hidden=list(hidden),
        dropout=dropout,
    )
    # teacher_rows: every row with teacher probabilities (scored human rows too); impression_rows: the
    # rows that exist only because the teacher labelled them, which the row cap and the scaling points count.
    return spec, {"rows": n, "teacher_rows": n_teacher, "impression_rows": n_impression, "human_rows": n_human}
