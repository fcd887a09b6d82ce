"""Decisions the DAGs take from job outputs (plain functions: testable without a scheduler)."""

from __future__ import annotations

import math
from typing import Any


# Where `evaluate --student V --json` (and train_student --json) put the student's
# test metrics, most specific first: evaluate's report nests the student's own
# report under "student", whose "test" is the student's metrics.
METRIC_PATHS: tuple[tuple[str, ...], ...] = (("student", "test"), ("student", "student"), ("student",), ("test",), ())


def pick_metric(report: dict[str, Any] | None, metric: str,
                paths: tuple[tuple[str, ...], ...] = METRIC_PATHS) -> float | None:
    """The student's `metric` in an evaluation report: the first of `paths` that holds a number. None if absent."""
    for path in paths:
        node: Any = report or {}
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        value = node.get(metric) if isinstance(node, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
            return float(value)
    return None


def not_worse(candidate: dict[str, Any] | None, previous: dict[str, Any] | None, metric: str,
              tolerance: float = 0.0) -> tuple[bool, str]:
    """Publish the candidate unless its metric is below the previous one by more than `tolerance`.

    No previous model (first training) publishes; a candidate without the
    metric never does, since "not worse" cannot be shown.
    """
    new = pick_metric(candidate, metric)
    if new is None:
        return False, f"candidate report has no {metric!r}: keeping the current student"
    old = pick_metric(previous, metric) if previous else None
    if old is None:
        return True, f"no current student to compare with ({metric}={new:.4f}): publishing"
    if new + tolerance >= old:
        return True, f"{metric} {new:.4f} vs current {old:.4f} (tolerance {tolerance}): publishing"
    return False, f"{metric} {new:.4f} is worse than current {old:.4f} (tolerance {tolerance}): keeping current"


def enough_new_labels(counts: dict[str, Any] | None, minimum: int) -> tuple[bool, str]:
    new = int((counts or {}).get("new_labels", 0))
    since = (counts or {}).get("since") or "the beginning"
    verdict = new >= minimum
    return verdict, f"{new} human labels since {since}; {'>=' if verdict else '<'} {minimum} needed to retrain"
