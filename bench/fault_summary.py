"""The fault bench's arithmetic: rows lost and extra per table, the kind of a kill point, the summary table.

Pure functions over the bench's records (`bench/faults.py` writes them to runs.jsonl and
reliability.json), kept apart from the process handling so they can be checked alone.
"""

from __future__ import annotations

import collections
import statistics
from typing import Any


def compare(reference: dict[str, Any], got: dict[str, Any]) -> tuple[int, int, dict[str, list[int]]]:
    """(rows lost, rows extra, {table: [lost, extra]} for the tables that differ), as multisets of normalised rows."""
    lost = extra = 0
    differ: dict[str, list[int]] = {}
    for table in sorted(set(reference["tables"]) | set(got["tables"])):
        want = collections.Counter(reference["tables"].get(table, (None, []))[1])
        have = collections.Counter(got["tables"].get(table, (None, []))[1])
        gone, more = sum((want - have).values()), sum((have - want).values())
        lost, extra = lost + gone, extra + more
        if gone or more:
            differ[table] = [gone, more]
    return lost, extra, differ


def kind_of(point: tuple[str, int, str], commits: int) -> str:
    name, nth, detail = point
    if name == "table.commit.before":
        return "before the first commit" if nth == 1 else "between commits"
    if name == "table.commit.after":
        return "after the last commit" if nth == commits else "between commits"
    if name == "label.chunk.after":
        return "between labelling chunks"
    if name == "model.save.staged":
        return "during a model save"
    if name == "file.rename.before":
        return "during the pointer swap" if detail.endswith("/current") else "during a report write"
    return name


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per fault kind: tried, how many times, rows lost/extra, problems, time to recover."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in results:
        groups[(r["fault"], r["kind"])].append(r)
    rows = []
    for (fault, kind), rs in sorted(groups.items()):
        times = [r["recover_s"] for r in rs]
        rows.append({"fault": fault, "kind": kind, "jobs": sorted({r["job"] for r in rs}), "tries": len(rs),
                     "rows_lost": sum(r["rows_lost"] for r in rs), "rows_extra": sum(r["rows_extra"] for r in rs),
                     "problems": sum(1 for r in rs if r["problems"]),
                     "recover_s_median": round(statistics.median(times), 1), "recover_s_max": round(max(times), 1)})
    return rows


def markdown(summary: list[dict[str, Any]]) -> str:
    lines = ["| fault | what was tried | jobs | tries | rows lost | rows extra | runs with a problem | "
             "recovery (median / max s) |", "|---|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['fault']} | {s['kind']} | {', '.join(s['jobs'])} | {s['tries']} | {s['rows_lost']} | "
                     f"{s['rows_extra']} | {s['problems']} | {s['recover_s_median']} / {s['recover_s_max']} |")
    return "\n".join(lines)
