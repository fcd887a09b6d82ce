"""The bars bench/teacher_quality.py reads a teacher against (bench/teacher_quality_bars.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from teacher_quality_bars import breakdown, lexical_lookup, reference_rows  # noqa: E402


def _frame() -> pd.DataFrame:
    # Label 5 whenever the title holds every query word, 1 when it holds none: word overlap alone decides.
    rows = []
    for i in range(12):
        split = "test" if i % 3 == 0 else "train"
        rows.append({"query": "red chair", "part_title": f"red chair {i}", "label": 5, "split": split,
                     "true_relevance": 5, "lang": "en", "pin_lang": "en", "title_quality": "good"})
        rows.append({"query": "red chair", "part_title": f"blue lamp {i}", "label": 1, "split": split,
                     "true_relevance": 2, "lang": "en", "pin_lang": "de", "title_quality": "poor"})
    return pd.DataFrame(rows)


def test_word_overlap_lookup_reads_the_overlap_from_the_chosen_parts_only():
    frame = _frame()
    assert lexical_lookup(frame, ["title"]) == 1.0
    # Without the title there is no overlap to go by: every bin is one bin, and it predicts one level.
    assert lexical_lookup(frame, ["description"]) == 0.5


def test_ceiling_scores_the_human_labels_against_the_hidden_truth():
    bars = reference_rows(_frame())
    assert bars["majority"]["accuracy"] == 0.5
    assert bars["ceiling"]["accuracy"] == 0.5  # the human 1s were truly 2s


def test_breakdown_splits_accuracy_by_title_quality_and_pair_language():
    test = _frame().query("split == 'test'").reset_index(drop=True)
    predicted = [5] * len(test)  # right on every good title, wrong on every poor one
    out = breakdown(test, predicted)
    assert out["by_title_quality"]["good"]["accuracy"] == 1.0 and out["by_title_quality"]["poor"]["accuracy"] == 0.0
    assert out["by_pair_language"]["different"]["accuracy"] == 0.0
