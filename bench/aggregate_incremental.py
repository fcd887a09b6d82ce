"""Benchmark: one daily incremental `searchrel aggregate --ds D` against a full two-year recompute.

Both runs are the real job on the same warehouse (a simulated world, `medium`
for the reported figures), in the same process and Spark session:

1. full:  `aggregate --ds D-1 --full`, which recomputes the daily partials of
   the whole trailing window (730 days of raw/search_events and
   raw/link_visits) and then every snapshot of D-1 from them: what each day
   would cost without incrementality;
2. daily: `aggregate --ds D`, the next day as Airflow would run it: one day of
   raw events into partials, D-1's window sums rolled forward by the day
   entering and the day leaving, snapshot rows recomputed for the pins those
   touch. The first run is the one that counts; `--repeats` reruns of D
   (idempotent, also incremental) are printed beside it.

Prints raw events read, seconds and rows per second of each, and the ratio
full / daily (the goal is >= 20), in wall-clock seconds and in CPU seconds (the
driver, the Spark JVM and its Python workers): on a shared cluster the CPU is
what a run costs, the wall clock only how long it took on this machine. The full run writes features/ tables into
the warehouse, so point it at a bench warehouse, not a production one.

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/python bench/aggregate_incremental.py \
        --warehouse /tmp/simbench/medium [--ds 2026-11-23] [--repeats 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from contextlib import redirect_stdout
from io import StringIO

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def _cpu_seconds() -> float:
    """CPU seconds so far of this process, the Spark JVM and its Python workers (live or reaped)."""
    import psutil
    from pyspark import SparkContext

    def total(p: psutil.Process) -> float:
        t = p.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    seconds = total(psutil.Process())  # the driver; the JVM is its child but still running
    gateway = SparkContext._gateway
    if gateway is not None and getattr(gateway, "proc", None) is not None:
        jvm = psutil.Process(gateway.proc.pid)
        for p in [jvm, *jvm.children(recursive=True)]:
            try:
                seconds += total(p)
            except psutil.NoSuchProcess:
                pass  # a worker that exited between the listing and the read: its parent has its time
    return seconds


def _timed_job(argv: list[str]) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds, the job's JSON result)."""
    from spark_jobs import aggregate_features

    out = StringIO()
    t0, c0 = time.perf_counter(), _cpu_seconds()
    with redirect_stdout(out):
        code = aggregate_features.main([*argv, "--json"])
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    if code != 0:
        raise SystemExit(f"aggregate {' '.join(argv)} exited {code}")
    return elapsed, cpu, json.loads(out.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--ds", help="snapshot day (default: simulation.end_ds)")
    parser.add_argument("--config")
    parser.add_argument("--repeats", type=int, default=2, help="runs of D: the first is the daily run, the rest reruns")
    args = parser.parse_args()

    from features.windows import window_start
    from searchrel.core.config import load_config
    from spark_jobs.runner import configure_logging
    from searchrel.core.session import get_spark
    from searchrel.core.tables import tables_for

    configure_logging()
    config = load_config(args.config, {"warehouse": args.warehouse})
    ds = args.ds or config.simulation.end_ds
    day_before = (dt.date.fromisoformat(ds) - dt.timedelta(days=1)).isoformat()
    common = ["--warehouse", args.warehouse] + (["--config", args.config] if args.config else [])
    tables = tables_for(get_spark(config), config.warehouse_path)
    window = config.features.query_tokens.window_days
    events_window = tables.read_range("raw/search_events", window_start(day_before, window), day_before).count()
    events_day = tables.read_range("raw/search_events", ds).count()

    full_s, full_cpu, full = _timed_job([*common, "--ds", day_before, "--full"])
    daily_runs = [_timed_job([*common, "--ds", ds]) for _ in range(max(1, args.repeats))]
    daily_s, daily_cpu, daily = daily_runs[0]
    assert daily["partials_from"] == ds, daily  # the daily run really read one day of raw events
    assert set(daily["snapshots"].values()) == {"incremental"}, daily["snapshots"]

    print(f"world: {args.warehouse}  full as_of {day_before}, daily as_of {ds}  window {window} days")
    print(f"full recompute : {events_window:>10,d} raw events  {full_s:8.1f} s  {events_window / full_s:10,.0f} events/s"
          f"  {full_cpu:8.1f} CPU s")
    print(f"daily increment: {events_day:>10,d} raw events  {daily_s:8.1f} s  {events_day / daily_s:10,.0f} events/s"
          f"  {daily_cpu:8.1f} CPU s  (reruns: {', '.join(f'{s:.1f} s / {c:.1f} CPU s' for s, c, _ in daily_runs[1:]) or 'none'})")
    print(f"ratio full / daily: {full_s / daily_s:.1f}x wall clock, {full_cpu / daily_cpu:.1f}x CPU  (goal >= 20x)")
    print(f"daily run phases: partials {daily['partials_s']} s, snapshots {daily['snapshots_s']} s;"
          f" full run phases: partials {full['partials_s']} s, snapshots {full['snapshots_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
