"""The aggregate and assemble-text jobs end to end on a hand-made raw/ world in Delta."""

from __future__ import annotations

import json
import os

import pytest

from spark_jobs import aggregate_features, assemble_pin_text


pytestmark = [pytest.mark.spark, pytest.mark.slow]

D1, D2, D3 = "2026-11-21", "2026-11-22", "2026-11-23"
OUTPUTS = ("features/pin_query_tokens", "features/pin_board_tokens", "features/pin_link_text",
           "features/pin_query_token_daily", "features/pin_link_text_daily")


def _raw_world(spark, tables) -> None:
    tables.overwrite("raw/pins", spark.createDataFrame(
        [("p1", "Red chair", None, "https://a.example/1", "en", "2026-01-01"),
         ("p2", "Oak table", "Solid oak", None, "en", D2),
         (None, "No id", None, None, "en", D1),
         ("p9", "bad \ufffd title", None, None, "en", D1)],
        "pin_id string, title string, description string, link_url string, lang string, created_ds string"))
    tables.replace_range("raw/search_events", spark.createDataFrame(
        [("u1", "red chair", "p1", "click", 20.0, 1, D1),   # long click: 3
         ("u2", "oak table", "p2", "save", None, 1, D1),    # save: 3
         ("u1", "red chair", "p1", "click", 2.0, 1, D2),    # click: 1
         ("u3", "blue lamp", "p1", "closeup", 1.0, 2, D2),  # closeup: 0.5
         ("u2", "red sofa", "p1", "save", None, 1, D3),     # save: 3
         ("u4", "lamp", "p2", "impression", None, 3, D3),   # impression: 0
         ("u5", "red chair", None, "click", 30.0, 1, D3)],  # null pin_id: quarantine
        "user_id string, query string, pin_id string, event string, dwell_s double, position int, ds string"),
        D1, D3)
    tables.overwrite("raw/board_pins", spark.createDataFrame(
        [("b1", "p1", "Living room chairs", "u1", D1), ("b2", "p1", "Chairs", "u2", D3)],
        "board_id string, pin_id string, board_title string, user_id string, saved_ds string"))
    tables.replace_range("raw/link_visits", spark.createDataFrame(
        [("p1", "Chair guide", "How to pick a chair", 30.0, D3), ("p1", "Ignored", None, 5.0, D3),
         ("p2", "Oak care", None, 10.0, D1)],  # exactly 10 s counts
        "pin_id string, link_title string, link_description string, dwell_s double, ds string"), D1, D3)


def _snapshot(tables) -> dict[str, list[str]]:
    return {name: sorted(json.dumps(r.asDict(recursive=True), sort_keys=True) for r in tables.read(name).collect())
            for name in OUTPUTS}


def _run(main, tables, capsys, *args: str) -> dict:
    # An empty config file: the code's defaults plus the overrides below, whatever conf/ holds right now.
    empty = os.path.join(os.path.dirname(tables.root), "empty.yaml")
    open(empty, "w").close()
    common = ["--warehouse", tables.root, "--config", empty, "--json", "--set", "spark.master=local[2]", "--set", "spark.shuffle_partitions=2",
              "--set", "features.query_tokens.window_days=2", "--set", "features.link_text.window_days=2",
              "--set", "features.query_tokens.top_k=3"]
    assert main([*args, *common]) == 0
    return json.loads(capsys.readouterr().out)


def _assert_expected_features(tables) -> None:
    """The hand-computed snapshots of _raw_world, whichever way (range, day by day) they were built."""
    tokens = {(r["pin_id"], r["as_of"]): [(t["token"], t["weight"]) for t in r["tokens"]]
              for r in tables.read("features/pin_query_tokens").collect()}
    assert tokens == {
        ("p1", D1): [("chair", 3.0), ("red", 3.0)],
        ("p2", D1): [("oak", 3.0), ("table", 3.0)],
        ("p1", D2): [("chair", 4.0), ("red", 4.0), ("blue", 0.5)],  # top 3: lamp (0.5) loses the tie to blue
        ("p2", D2): [("oak", 3.0), ("table", 3.0)],
        ("p1", D3): [("red", 4.0), ("sofa", 3.0), ("chair", 1.0)],  # D1 has left the 2-day window
    }
    boards = {(r["pin_id"], r["as_of"]): [(t["token"], t["weight"]) for t in r["tokens"]]
              for r in tables.read("features/pin_board_tokens").where(f"as_of = '{D3}'").collect()}
    assert boards == {("p1", D3): [("chairs", 2.0), ("living", 1.0)]}
    links = [(r["pin_id"], r["as_of"], r["link_titles"], r["link_descriptions"])
             for r in tables.read("features/pin_link_text").collect()]
    assert sorted(links) == [("p1", D3, ["Chair guide"], ["How to pick a chair"]),
                             ("p2", D1, ["Oak care"], []), ("p2", D2, ["Oak care"], [])]  # D1 has left by D3


def test_aggregate_range_then_daily_rerun_and_assemble(spark, tables, capsys, test_config):
    _raw_world(spark, tables)
    first = _run(aggregate_features.main, tables, capsys, "--start", D1, "--end", D3)
    # A fresh warehouse computes the window's first day (D1 - 1) too, then every day of the range.
    assert first["partials_from"] == "2026-11-20"
    _assert_expected_features(tables)
    quarantined = [r["reason"] for r in tables.read("quarantine/raw_search_events").collect()]
    assert quarantined == ["null pin_id"]
    # The job's own tables pass their suites (expectations/suites_partials.py; the failing cases:
    # test_suites_must_fail.py), on the last day of the range.
    from expectations.runner import validate_table

    for name in ("features/pin_query_token_daily", "features/pin_link_text_daily", "features/pin_feature_days"):
        summary = validate_table(tables, test_config, name, D3, publish=False)
        assert summary.success, summary.message()

    # Rerunning a day leaves exactly the same tables (the incremental rerun: in the test below).
    before = _snapshot(tables)
    full = _run(aggregate_features.main, tables, capsys, "--ds", D3, "--full")  # partials and snapshots from raw
    assert full["partials_from"] == D2 and set(full["snapshots"].values()) == {"window"}
    assert _snapshot(tables) == before

    text = _run(assemble_pin_text.main, tables, capsys, "--ds", D3)
    assert text["pin_text_rows"] == 2 and text["pins_quarantined"] == 2
    rows = {r["pin_id"]: r for r in tables.read("features/pin_text").collect()}
    assert rows["p1"]["text"] == (
        "title: Red chair | searches: red sofa chair | boards: chairs living"
        " | link: Chair guide; How to pick a chair"
    )
    assert rows["p2"]["text"] == "title: Oak table | description: Solid oak"
    assert rows["p2"]["parts"]["query_tokens"] == "" and rows["p2"]["template_version"] == "v1"
    reasons = sorted(r["reason"] for r in tables.read("quarantine/raw_pins").collect())
    assert reasons == ["invalid unicode in title", "null pin_id"]


def test_day_by_day_runs_carry_the_snapshots_forward_to_the_same_tables_as_one_range(spark, tables, capsys):
    from delta.tables import DeltaTable

    _raw_world(spark, tables)
    paths = [_run(aggregate_features.main, tables, capsys, "--ds", day)["snapshots"] for day in (D1, D2, D3)]
    # D1 starts from nothing; D2 and D3 carry yesterday's snapshots (at D3, D1 leaves the 2-day window).
    assert [set(p.values()) for p in paths] == [{"window"}, {"incremental"}, {"incremental"}]
    _assert_expected_features(tables)  # the same tables the range run of the test above builds
    by_day = _snapshot(tables)

    # Killed after D3's query tokens, before its board tokens: the rerun redoes D3 to the same tables.
    DeltaTable.forPath(spark, tables.path("features/pin_board_tokens")).delete(f"as_of = '{D3}'")
    assert set(_run(aggregate_features.main, tables, capsys, "--ds", D3)["snapshots"].values()) == {"incremental"}
    assert _snapshot(tables) == by_day
