"""The one pipeline definition: the DAGs' rendering of it is current, and the demo runs every step and gate."""

from __future__ import annotations

import json

from searchrel.core import catalog, pipeline
from searchrel.demo import plan


def test_the_dags_read_the_current_definition():
    # Fails after a change to searchrel/core/pipeline.py until `python -m searchrel.core.pipeline --write`.
    assert pipeline.RENDERED.read_text(encoding="utf-8") == pipeline.render()


def test_every_gate_is_a_catalogued_table_with_a_suite_and_every_upstream_comes_earlier():
    seen: set[str] = set()
    for step in pipeline.STEPS:
        assert set(step.upstream) <= seen, step.key
        seen.add(step.key)
        for table in step.gates:
            assert catalog.table(table.name).suite is not None, table.name
    rendered = json.loads(pipeline.render())["steps"]
    captions = next(s for s in rendered if s["key"] == "caption_pins")
    assert captions["gates"] == [{"table": "features/pin_captions", "partitioned": False}]


def _demo(captioner: str | None = None) -> list[plan.Stage]:
    return plan.stages("tiny", 7, "2026-11-23", 3, captioner, "bench/student_serving.py")


def test_the_demo_runs_every_step_in_order_and_validates_every_gated_table():
    stages = _demo()
    steps = [s.key for s in stages if not s.key.startswith("validate:")]
    assert steps == [s.key for s in pipeline.STEPS] + [plan.SERVING]
    validated = [s.argv[0] for s in stages if s.key.startswith("validate:")]
    # All three aggregate tables, not only pin_query_tokens (the drift this definition ended).
    assert validated == pipeline.gated_tables()
    assert {"features/pin_query_tokens", "features/pin_board_tokens", "features/pin_link_text"} <= set(validated)
    # Each gate comes right after its step, before anything that reads the table.
    keys = [s.key for s in stages]
    assert keys.index("validate:features/pin_text") == keys.index("assemble_pin_text") + 1
    assert keys.index("validate:labels/teacher_scores") < keys.index("build_student_examples")


def test_the_demo_dates_each_step_as_the_dags_do_and_skips_captions_without_a_captioner():
    by_key = {s.key: s for s in _demo()}
    assert by_key["aggregate_features"].argv == ("--start", "2026-11-21", "--end", "2026-11-23")
    assert by_key["validate:raw/human_labels"].argv == ("raw/human_labels",)  # unpartitioned: validated whole
    assert by_key["validate:features/pin_text"].argv == ("features/pin_text", "--ds", "2026-11-23")
    assert by_key["caption_pins"].skip and by_key["validate:features/pin_captions"].skip
    with_captioner = {s.key: s for s in _demo("Salesforce/blip-image-captioning-base")}
    assert with_captioner["caption_pins"].skip is None
    assert with_captioner["caption_pins"].argv == ("--ds", "2026-11-23")
