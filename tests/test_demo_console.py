"""The demo's console: stage output (Python's and child processes') goes to the stage log, and the closing
table shows the evaluation report's own numbers."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from searchrel.demo import summary
from searchrel.demo.console import output_to, tail
from spark_jobs.runner import configure_logging


def test_everything_a_stage_writes_goes_to_its_log_and_not_to_the_terminal(tmp_path: Path, capfd):
    log = tmp_path / "logs" / "stage.log"
    configure_logging()  # the jobs' handler, which looks sys.stderr up when it writes
    with output_to(log):
        print('{"json": "result"}')
        logging.getLogger("stage").warning("a log line")
        # A child process (like Spark's JVM) writes to file descriptors 1 and 2, not to sys.stdout.
        subprocess.run([sys.executable, "-c", "import os; os.write(1, b'jvm out\\n'); os.write(2, b'jvm err\\n')"],
                       check=True)
    print("back on the terminal")
    text = log.read_text()
    for line in ('{"json": "result"}', "a log line", "jvm out", "jvm err"):
        assert line in text
    out, err = capfd.readouterr()
    assert "back on the terminal" in out
    assert "jvm" not in out + err and "result" not in out + err
    assert tail(log, 2) == ["jvm out", "jvm err"]


def _render(evaluation: dict) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=100).print(summary.closing_table(evaluation, "demo"))
    return buffer.getvalue()


def test_the_closing_table_reads_the_evaluation_report(tmp_path: Path):
    evaluation = {
        "teacher": {"version": "t", "test": {"n": 80, "accuracy": 0.4567, "quadratic_weighted_kappa": 0.61}},
        "baselines": {"majority_class": {"test": {"n": 80, "accuracy": 0.2222}}},
        "ceiling": {"n": 80, "accuracy": 0.7311, "quadratic_weighted_kappa": 0.85, "macro_f1": 0.6},
    }
    (tmp_path / summary.EVALUATION).write_text(json.dumps(evaluation))
    # The student's report lives beside it when evaluate did not nest it.
    (tmp_path / summary.STUDENT_EVALUATION).write_text(json.dumps({
        "student": {"n": 50, "accuracy": 0.5011}, "student_human_only": {"n": 50, "accuracy": 0.3033}}))
    text = _render(summary.load_evaluation(tmp_path))
    rows = {line.strip().split("  ")[0]: line for line in text.splitlines() if line.strip()}
    assert "0.457" in rows["teacher (all text parts)"] and "0.610" in rows["teacher (all text parts)"]
    assert "0.222" in rows["majority class"]
    assert "0.731" in rows["ceiling: labels vs truth"]
    assert "0.501" in rows["distilled student"] and "0.303" in rows["human labels only"]
    assert text.index("teacher vs baselines and ceiling") < text.index("student vs teacher and human-only")
    assert summary.closing_table(None, "demo") is None
