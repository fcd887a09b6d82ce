"""The validation index is rebuilt from the summary files, and its offline page shows every run escaped."""

from __future__ import annotations

import json
from pathlib import Path


def _summary(reports: Path, table: str, ds: str | None, success: bool, failures: list[str], at: str) -> None:
    from expectations.publishing import summary_path
    from searchrel.core.files import write_json_atomic

    write_json_atomic(summary_path(reports, table, ds), {
        "table": table, "ds": ds, "success": success, "rows": 12345, "evaluated": 10, "failed": len(failures),
        "failures": failures, "validated_at": at, "data_docs_page": "file:///docs/x.html?a=1&b=2",
        "summary_path": str(summary_path(reports, table, ds)),
    })


def test_index_keeps_every_run_and_the_latest_and_its_page_escapes_failures(tmp_path: Path):
    from expectations.publishing import write_index

    reports = tmp_path / "reports"
    _summary(reports, "raw/search_events", "2026-11-22", True, [], "2026-11-23T01:00:00+00:00")
    _summary(reports, "raw/search_events", "2026-11-23", False, ["column 'event': e.g. '<b>purchase</b>'"],
             "2026-11-24T01:00:00+00:00")
    _summary(reports, "raw/human_labels", None, True, [], "2026-11-24T02:00:00+00:00")

    path = write_index(reports)
    index = json.loads(path.read_text())
    events = index["tables"]["raw/search_events"]
    assert sorted(events["runs"]) == ["2026-11-22", "2026-11-23"] and events["latest"]["ds"] == "2026-11-23"
    assert list(index["tables"]["raw/human_labels"]["runs"]) == ["snapshot"]
    assert index["all_passed"] is False

    page = path.with_suffix(".html").read_text()
    assert page.count("<tr class=") == 3 and page.count('<tr class="failed">') == 1
    assert "&lt;b&gt;purchase&lt;/b&gt;" in page and "<b>purchase</b>" not in page
    assert "9/10" in page and "12,345" in page
    assert 'href="file:///docs/x.html?a=1&amp;b=2"' in page
    assert not list((reports / "validation").glob(".*.tmp"))  # written by rename, nothing left behind
