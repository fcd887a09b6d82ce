"""The fault bench's arithmetic (bench/fault_summary.py): what it calls lost, extra, and which table."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from fault_summary import compare, kind_of, summarise  # noqa: E402


def test_compare_counts_rows_as_multisets_and_names_the_tables_that_differ():
    reference = {"tables": {"a/x": (1, ['{"k": 1}', '{"k": 1}', '{"k": 2}']), "a/y": (0, ['{"k": 3}'])}}
    # One copy of k=1 gone, k=9 new, a/y unchanged, a/z only after the rerun.
    got = {"tables": {"a/x": (2, ['{"k": 1}', '{"k": 2}', '{"k": 9}']), "a/y": (0, ['{"k": 3}']),
                      "a/z": (0, ['{"k": 4}'])}}
    lost, extra, differ = compare(reference, got)
    assert (lost, extra) == (1, 2)
    assert differ == {"a/x": [1, 1], "a/z": [0, 1]}


def test_kill_points_are_named_by_where_they_fall_among_the_commits():
    assert kind_of(("table.commit.before", 1, "t"), 3) == "before the first commit"
    assert kind_of(("table.commit.after", 3, "t"), 3) == "after the last commit"
    assert kind_of(("table.commit.after", 2, "t"), 3) == "between commits"
    assert kind_of(("file.rename.before", 1, "models/teacher/current"), 0) == "during the pointer swap"


def test_summary_sums_losses_and_counts_problem_runs_per_kind():
    runs = [{"fault": "kill", "kind": "between commits", "job": j, "rows_lost": lost, "rows_extra": 0,
             "problems": problems, "recover_s": s}
            for j, lost, problems, s in [("aggregate", 0, [], 10.0), ("label", 2, ["x"], 30.0), ("label", 0, [], 20.0)]]
    (row,) = summarise(runs)
    assert row["jobs"] == ["aggregate", "label"] and row["tries"] == 3
    assert (row["rows_lost"], row["problems"], row["recover_s_median"], row["recover_s_max"]) == (2, 1, 20.0, 30.0)
