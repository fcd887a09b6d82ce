"""The demo runs the whole pipeline on the tiny world and writes a report with every section."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchrel.report import SECTIONS


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.timeout(3600)  # the whole pipeline, then its rerun (quick: every stage is done)
def test_demo_runs_end_to_end_and_reports_every_section(spark, tmp_path: Path, capsys, test_config_file):
    from searchrel.cli import main

    warehouse = tmp_path / "demo_wh"
    argv = ["demo", "--scale", "tiny", "--warehouse", str(warehouse), "--config", str(test_config_file)]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    page = warehouse / "reports" / "index.html"
    assert page.exists()
    text = page.read_text()
    for key, title in SECTIONS:
        assert f'id="{key}"' in text and title in text
    # Every section shows real figures from this run, not a "not available" placeholder.
    assert "Not available" not in text, [line for line in text.splitlines() if "Not available" in line]
    for image in ("volumes.png", "teacher.png", "ablation.png", "student.png", "scaling.png", "confusion.png", "calibration.png"):
        assert (warehouse / "reports" / image).stat().st_size > 1000
    assert "report:" in out

    # A rerun reuses what is done.
    code = main(argv)
    assert code == 0
    assert "done earlier" in capsys.readouterr().out
