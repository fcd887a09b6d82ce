"""Suite for labels/teacher_scores: the soft labels the student learns from.

Besides the per-row rules (5 probabilities in [0, 1] summing to 1, label =
the teacher's own decoding — its cut-points from teacher.json on the expected
relevance, or argmax + 1 for a teacher without them — expected relevance in
[1, 5]) this suite compares the day with other data, because a teacher can be
wrong in ways no single row shows:

- its *soft* label distribution (the mean of `probs`, which is what the student
  learns from) against the human label shares, by total-variation distance under
  `validation.label_distribution_tolerance`: a teacher whose probabilities have
  drifted away from how relevance is really distributed fails here;
- its *hard* label distribution against the human one, under the looser
  `validation.argmax_distribution_tolerance`: a collapsed teacher that predicts
  one class for everything fails here. The bound is looser because hard labels
  of an honest teacher on noisy 5-level labels sit further from the human
  shares than its probabilities (an argmax teacher rarely picks L2/L3);
- its mean expected relevance against the previous day's
  (`validation.expected_relevance_drift`): a swapped model or a broken text
  template shifts the whole day.

Both are computed per teacher version (the key includes it), written into
derived columns, and checked with ordinary column expectations, so the Data
Docs show the figure and the threshold.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

import great_expectations.expectations as gxe

from expectations.derived import array_size, array_sum, distribution, total_variation
from expectations.spec import LABELS, SuiteInputs, TableSuite, between, in_set, row_count, schema, unique_key
from expectations.suites_raw import ID, INTEGER, NUMBER
from modeling.teacher_onnx import BACKENDS
from searchrel.core import catalog
from searchrel.core.config import Config
from searchrel.core.dates import ds_predicate

log = logging.getLogger(__name__)

TABLE = catalog.TEACHER_SCORES.name
# A version's day needs this many rows before "it used one level" says the teacher collapsed.
MIN_ROWS_FOR_LEVELS = 30
HUMAN = catalog.HUMAN_LABELS.name


def _shares(df: DataFrame, by: list[str]) -> dict[Any, dict[int, float]]:
    rows = distribution(df, "label", LABELS, by).collect()
    return {tuple(r[c] for c in by) if by else (): {k: float(r[f"share_{k}"] or 0.0) for k in LABELS} for r in rows}


def _soft_shares(df: DataFrame, by: list[str]) -> dict[Any, dict[int, float]]:
    """Mean probability of each level per group: the teacher's expected label distribution."""
    rows = df.groupBy(*by).agg(
        *[F.avg(F.col("probs")[k - 1]).alias(f"share_{k}") for k in LABELS]
    ).collect()
    return {tuple(r[c] for c in by) if by else (): {k: float(r[f"share_{k}"] or 0.0) for k in LABELS} for r in rows}


def _fmt_shares(shares: dict[int, float]) -> str:
    return ", ".join(f"L{k} {100 * shares.get(k, 0.0):.0f}%" for k in LABELS)


def teacher_decodings(models_path: str, versions: list[str]) -> dict[str, list[float] | None]:
    """Each version's decoding from its teacher.json: its cut-points, or None for argmax.

    A version whose teacher.json cannot be read here (another models folder, an
    object store) is left out, and its label rule is not checked: guessing
    argmax would fail every row of a cut-point teacher.
    """
    from modeling.cross_encoder import TEACHER_JSON, teacher_root

    out: dict[str, list[float] | None] = {}
    for version in versions:
        meta_file = teacher_root(models_path) / version / TEACHER_JSON
        if "://" in str(models_path) or not meta_file.exists():
            log.warning("%s: no %s for teacher %s under %s; its label rule is not checked",
                        TABLE, TEACHER_JSON, version, models_path)
            continue
        cuts = (json.loads(meta_file.read_text(encoding="utf-8")).get("decoding") or {}).get("cutpoints")
        out[version] = [float(c) for c in cuts] if cuts else None
    return out


def reference(tables: Any, ds: str | None, batch: DataFrame, config: Config) -> dict[str, Any]:
    """Per teacher version: soft and hard label shares, their TV distances to the human labels, previous day's mean."""
    out: dict[str, Any] = {}
    teacher = {k[0]: v for k, v in _shares(batch, ["teacher_version"]).items()}
    soft = {k[0]: v for k, v in _soft_shares(batch, ["teacher_version"]).items()}
    out["decodings"] = teacher_decodings(config.models_path, sorted(teacher))
    out["teacher_label_shares"] = teacher
    # Levels each version gave, on versions with enough rows that one level cannot be chance.
    out["teacher_levels_used"] = {
        r["teacher_version"]: int(r["levels"])
        for r in batch.groupBy("teacher_version").agg(F.countDistinct("label").alias("levels"),
                                                      F.count(F.lit(1)).alias("n")).collect()
        if r["n"] >= MIN_ROWS_FOR_LEVELS
    }
    out["teacher_soft_label_shares"] = soft
    if tables.exists(HUMAN):
        human = _shares(tables.read(HUMAN).where(F.col("label").isin(*LABELS)), []).get(())
        if human:
            out["human_label_shares"] = human
            out["label_tv_distance"] = {v: round(total_variation(s, human), 6) for v, s in soft.items()}
            out["argmax_label_tv_distance"] = {v: round(total_variation(s, human), 6) for v, s in teacher.items()}
    if ds:
        lookback = config.validation.previous_lookback_days
        first = (dt.date.fromisoformat(ds) - dt.timedelta(days=lookback)).isoformat()
        last = (dt.date.fromisoformat(ds) - dt.timedelta(days=1)).isoformat()
        today = {
            r["teacher_version"]: float(r["m"])
            for r in batch.groupBy("teacher_version").agg(F.avg("expected_relevance").alias("m")).collect()
            if r["m"] is not None
        }
        previous = {}
        rows = (
            tables.read(TABLE).where(ds_predicate(first, last))
            .where(F.col("teacher_version").isin(*today) if today else F.lit(False))
            .groupBy("teacher_version", "ds").agg(F.avg("expected_relevance").alias("m")).collect()
        )
        for r in sorted(rows, key=lambda r: r["ds"]):  # the newest day wins
            previous[r["teacher_version"]] = {"ds": r["ds"], "mean": float(r["m"])}
        out["mean_expected_relevance"] = today
        out["previous_mean_expected_relevance"] = previous
        out["expected_relevance_mean_drift"] = {
            v: round(abs(today[v] - p["mean"]), 6) for v, p in previous.items() if v in today
        }
    return out


def _per_version(mapping: dict[str, float]):
    """A column holding the per-teacher-version figure for each row (null for versions without one)."""
    if not mapping:
        return F.lit(None).cast("double")
    pairs = [x for v, value in mapping.items() for x in (F.lit(v), F.lit(float(value)))]
    return F.create_map(*pairs)[F.col("teacher_version")]


def decoded_label(decodings: dict[str, list[float] | None]):
    """The label each row's teacher would give: its cut-points on expected_relevance, or argmax + 1.

    Rows of a version whose decoding is unknown keep their own label (not checked).
    """
    argmax = F.array_position(F.col("probs"), F.array_max(F.col("probs"))).cast("int")
    score = F.col("expected_relevance").cast("double")
    decoded = F.col("label")
    for version, cuts in decodings.items():
        rule = argmax if cuts is None else sum((score > F.lit(float(c))).cast("int") for c in cuts) + F.lit(1)
        decoded = F.when(F.col("teacher_version") == version, rule).otherwise(decoded)
    return decoded.cast("int")


def derive(batch: DataFrame, inputs: SuiteInputs) -> DataFrame:
    ref = inputs.reference
    return batch.select(
        "*",
        array_size("probs").alias("probs_size"),
        F.array_min("probs").cast("double").alias("probs_min"),
        F.array_max("probs").cast("double").alias("probs_max"),
        array_sum("probs").alias("probs_sum"),
        decoded_label(ref.get("decodings", {})).alias("decoded_label"),
        _per_version(ref.get("label_tv_distance", {})).alias("label_tv_distance_vs_human"),
        _per_version(ref.get("argmax_label_tv_distance", {})).alias("argmax_label_tv_distance_vs_human"),
        _per_version(ref.get("expected_relevance_mean_drift", {})).alias("expected_relevance_mean_drift"),
        _per_version(ref.get("teacher_levels_used", {})).alias("teacher_levels_used"),
    )


def build(i: SuiteInputs):
    v, ref = i.v, i.reference
    out = [
        *schema({"query": "StringType", "pin_id": ID, "ds": "StringType", "teacher_version": "StringType",
                 "probs": "ArrayType", "label": INTEGER, "expected_relevance": NUMBER, "backend": "StringType"}),
        *unique_key(["query", "pin_id", "ds", "teacher_version"]),
        in_set("probs_size", [len(LABELS)], notes="One probability per relevance level L1..L5."),
        between("probs_min", 0, 1, notes="Probabilities are in [0, 1]."),
        between("probs_max", 0, 1, notes="Probabilities are in [0, 1]."),
        between("probs_sum", 1 - v.prob_sum_tolerance, 1 + v.prob_sum_tolerance,
                notes=f"A softmax sums to 1 ± validation.prob_sum_tolerance={v.prob_sum_tolerance:g}."),
        in_set("label", LABELS, notes="Labels are integers 1..5."),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="label", column_B="decoded_label",
            notes="label = the teacher's decoding: 1 + the number of its cut-points (teacher.json) below "
                  "expected_relevance, or argmax(probs) + 1 for a teacher without cut-points (a teacher whose "
                  "teacher.json is not readable here is not checked, and the run log says so)."),
        between("expected_relevance", 1, 5, notes="Expected relevance sum_k p_k * k lies in [1, 5]."),
        in_set("backend", list(BACKENDS),
               notes="The engine that scored the row (labelling.backend); null only for rows scored before "
                     "the column existed."),
        row_count(i),
    ]
    if ref.get("teacher_levels_used"):
        used = "; ".join(f"{ver}: {n}" for ver, n in sorted(ref["teacher_levels_used"].items()))
        out.append(gxe.ExpectColumnMinToBeBetween(
            column="teacher_levels_used", min_value=v.min_teacher_levels, max_value=None,
            notes=(
                f"Each teacher version labels a day of {MIN_ROWS_FOR_LEVELS}+ impressions with at least "
                f"validation.min_teacher_levels={v.min_teacher_levels} levels: one level for everything is a "
                f"collapsed teacher, whatever the human shares. Levels used: {used}."
            ),
        ))
    if "label_tv_distance" in ref:
        human = _fmt_shares(ref["human_label_shares"])
        soft = "; ".join(f"{ver}: {_fmt_shares(s)}" for ver, s in ref["teacher_soft_label_shares"].items())
        hard = "; ".join(f"{ver}: {_fmt_shares(s)}" for ver, s in ref["teacher_label_shares"].items())
        out.append(gxe.ExpectColumnMaxToBeBetween(
            column="label_tv_distance_vs_human", min_value=0, max_value=v.label_distribution_tolerance,
            notes=(
                f"Total-variation distance between the teacher's soft label distribution (mean of probs) and "
                f"the human label shares must be at most validation.label_distribution_tolerance="
                f"{v.label_distribution_tolerance:g}. Human: {human}. Teacher (mean probs) {soft}."
            ),
        ))
        out.append(gxe.ExpectColumnMaxToBeBetween(
            column="argmax_label_tv_distance_vs_human", min_value=0, max_value=v.argmax_distribution_tolerance,
            notes=(
                f"Total-variation distance between the teacher's hard labels and the human label shares "
                f"must be at most validation.argmax_distribution_tolerance={v.argmax_distribution_tolerance:g} "
                f"(a collapsed, one-class teacher fails). Human: {human}. Teacher (labels) {hard}."
            ),
        ))
    else:
        log.info("%s: no %s table, so no label-distribution check", TABLE, HUMAN)
    if ref.get("expected_relevance_mean_drift"):
        moves = "; ".join(
            f"{ver}: {ref['previous_mean_expected_relevance'][ver]['mean']:.3f} on "
            f"{ref['previous_mean_expected_relevance'][ver]['ds']} -> {ref['mean_expected_relevance'][ver]:.3f}"
            for ver in ref["expected_relevance_mean_drift"]
        )
        out.append(gxe.ExpectColumnMaxToBeBetween(
            column="expected_relevance_mean_drift", min_value=0, max_value=v.expected_relevance_drift,
            notes=(
                f"The day's mean expected relevance may move by at most validation.expected_relevance_drift="
                f"{v.expected_relevance_drift:g} from the previous day's (per teacher version). {moves}."
            ),
        ))
    return out


SUITES = [
    TableSuite(catalog.TEACHER_SCORES, build, derive, reference),
]
