"""Evaluation of the student on the human-labelled test split, and the scaling experiment's points.

The test rows are the `human_label` rows of features/student_examples whose
query falls in the test split of `features.splits` (the split the teacher uses,
so neither model has seen those queries). Side by side on the same rows:

- the distilled student (the version evaluated);
- the same student trained on human labels only (saved under `human_only/`);
- the teacher, on the test pairs it has scored (and the student on that same
  subset, so the comparison is like for like);
- BM25 ranking (nDCG only: BM25 has no relevance classes).

Classification metrics come from `modeling.metrics` (accuracy, macro-F1,
quadratic weighted kappa, ...); nDCG@10 ranks each query's pairs by expected
relevance.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow.dataset as pads

from features.student_examples import SOURCE_HUMAN
from modeling.metrics import classification_metrics, expected_relevance, ndcg_at_k
from modeling.student import StudentModel, encode, load_student, predict_proba, resolve_version_dir
from searchrel.core.files import write_json_atomic

log = logging.getLogger(__name__)

HUMAN_ONLY_DIR = "human_only"
SUMMARY_KEYS = ("n", "accuracy", "macro_f1", "quadratic_weighted_kappa", "ndcg_at_10")


def human_rows(files: Sequence[str], split: str = "test") -> pd.DataFrame:
    """The human-labelled rows of one split (small: bounded by the number of human labels)."""
    from modeling.student_reader import local_path

    if not files:
        return pd.DataFrame()
    expr = (pads.field("split") == split) & (pads.field("source") == SOURCE_HUMAN) & pads.field("human_label").is_valid()
    return pads.dataset([local_path(f) for f in files], format="parquet").to_table(filter=expr).to_pandas()


def _metrics(rows: pd.DataFrame, probs: np.ndarray) -> dict[str, Any]:
    labels = rows["human_label"].to_numpy(dtype=np.int64)
    out = classification_metrics(labels, probs)
    out["ndcg_at_10"] = ndcg_at_k(rows["query"].tolist(), labels, expected_relevance(probs), k=10)
    return out


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers only (for tables and logs)."""
    return {k: metrics.get(k) for k in SUMMARY_KEYS}


def evaluate_rows(rows: pd.DataFrame, students: dict[str, StudentModel]) -> dict[str, Any]:
    """Metrics of each named student, the teacher and BM25 on the same human-labelled rows."""
    if rows.empty:
        return {"n_test_rows": 0, "note": "no human-labelled test rows in features/student_examples"}
    labels = rows["human_label"].to_numpy(dtype=np.int64)
    queries = rows["query"].tolist()
    out: dict[str, Any] = {"n_test_rows": int(len(rows)), "n_test_queries": int(rows["query"].nunique())}
    student_probs: dict[str, np.ndarray] = {}
    for name, model in students.items():
        student_probs[name] = predict_proba(model, encode(rows, model.spec))
        out[name] = _metrics(rows, student_probs[name])
    out["bm25"] = {"n": int(len(rows)), "ndcg_at_10": ndcg_at_k(queries, labels, rows["bm25"].to_numpy(), k=10)}
    scored = rows["teacher_probs"].notna().to_numpy()
    out["teacher_coverage"] = float(scored.mean())
    if scored.any():
        subset = rows[scored].reset_index(drop=True)
        teacher_probs = np.stack([np.asarray(p, dtype=np.float64) for p in subset["teacher_probs"]])
        out["teacher_on_scored"] = _metrics(subset, teacher_probs)
        for name, probs in student_probs.items():
            out[f"{name}_on_teacher_scored"] = _metrics(subset, probs[scored])
    return out


def evaluate_student(
    models_path: str, reports_path: str, files: Sequence[str], table_version: int | None,
    version: str | None = "current", write_report: bool = True,
) -> dict[str, Any]:
    """Evaluate a student version (and its human-only twin) on the test split; writes reports/student_eval.json.

    `files` and `table_version` are the snapshot of features/student_examples to read
    (the job that calls this reads the table; this module does no table I/O).
    """
    model_dir = resolve_version_dir(models_path, version)
    students = {"student": load_student(model_dir)}
    if (model_dir / HUMAN_ONLY_DIR).exists():
        students["student_human_only"] = load_student(model_dir / HUMAN_ONLY_DIR)
    result = evaluate_rows(human_rows(files), students)
    result.update(student_version=model_dir.name, student_examples_version=table_version)
    if isinstance(result.get("student"), dict):
        result["test"] = result["student"]  # the key `searchrel evaluate` tabulates
    if write_report:
        path = write_json_atomic(Path(reports_path) / "student_eval.json", result)
        result["report"] = str(path)
    log.info(
        "student eval: %s",
        {k: summary(v) for k, v in result.items() if isinstance(v, dict) and "n" in v},
    )
    return result


# -- scaling experiment ----------------------------------------------------------------


def across_seeds(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One scaling point from its runs (one per seed): the mean of each headline metric, `<metric>_std` beside it
    (sample standard deviation; 0 for a single run), `seeds`, and the runs themselves."""
    out: dict[str, Any] = {"seeds": len(runs)}
    for key in SUMMARY_KEYS:
        values = [float(r[key]) for r in runs if r.get(key) is not None]
        if key == "n" or not values:
            out[key] = runs[0].get(key) if runs else None
            continue
        out[key] = float(np.mean(values))
        out[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    out["runs"] = list(runs)
    return out


def scaling_points(n_human: int, available_teacher: int, multiples: Sequence[float]) -> list[tuple[str, int]]:
    """(label, teacher rows) for each multiple of the human count the world allows, plus 'all'."""
    points: list[tuple[str, int]] = []
    for m in sorted(set(multiples)):
        n = int(round(m * n_human))
        if 0 < n < available_teacher:
            points.append((f"{m:g}x", n))
    if available_teacher > 0:
        points.append((f"all ({available_teacher / max(n_human, 1):.3g}x)", available_teacher))
    return points
