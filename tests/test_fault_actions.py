"""The fault actions themselves (`searchrel.core.faults`), in plain processes: no Spark, no job."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import fault_harness  # noqa: E402


def _reach(point: str, env: dict[str, str]) -> subprocess.Popen:
    code = f"from searchrel.core.faults import checkpoint; checkpoint({point!r}); print('went on', flush=True)"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def test_hold_leaves_its_pid_and_waits_for_go(tmp_path):
    where = tmp_path / "hold"
    env = fault_harness.job_env(fault_at="label.batch.scored", action=f"hold:{where}")
    process = _reach("label.batch.scored", env)
    deadline = time.monotonic() + 60
    while not list(where.glob("*.held")) and time.monotonic() < deadline:
        time.sleep(0.05)
    held = list(where.glob("*.held"))
    assert [int(h.read_text()) for h in held] == [process.pid]
    time.sleep(0.5)
    assert process.poll() is None, "went on before it was told to"
    (where / "go").touch()
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and out.strip() == "went on"


def test_the_bench_draws_kill_points_of_the_driver_only(tmp_path):
    log = tmp_path / "points.log"
    log.write_text("table.commit.before\t1\tlabels/teacher_scores\nlabel.batch.scored\t1\t\n"
                   "label.batch.scored\t2\t\ntable.commit.after\t1\tlabels/teacher_scores\n")
    assert [p[0] for p in fault_harness.fault_points(log)] == ["table.commit.before", "table.commit.after"]
