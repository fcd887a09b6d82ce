"""How `searchrel simulate` scales: wall time, rows per table and peak memory per scale.

Each scale runs as its own `searchrel simulate` process, so that peak memory is
that run's own: the Python driver and the JVM it starts are sampled together
(psutil, every 0.5 s). Speed is reported as a ratio against the first scale
given (the baseline), in rows per second, not as absolute thresholds. CPU
seconds of driver + JVM are reported too: on a shared machine they say what
the run costs where wall time says mostly how busy the machine was.

    .venv/bin/python bench/simulate_scale.py --scales small large --root /tmp/simbench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def _sample(proc: psutil.Process, peaks: dict[str, int], cpu_seen: dict[int, float], done: threading.Event) -> None:
    while not done.is_set():
        try:
            tree = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        py = jvm = 0
        for p in tree:
            try:
                rss = p.memory_info().rss
                name = p.name()
                cpu = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            cpu_seen[p.pid] = cpu.user + cpu.system
            if "java" in name:
                jvm += rss
            else:
                py += rss
        peaks["python_rss"] = max(peaks.get("python_rss", 0), py)
        peaks["jvm_rss"] = max(peaks.get("jvm_rss", 0), jvm)
        peaks["total_rss"] = max(peaks.get("total_rss", 0), py + jvm)
        done.wait(0.5)


def run_scale(scale: str, root: Path, extra: list[str]) -> dict:
    warehouse = root / scale
    shutil.rmtree(warehouse, ignore_errors=True)
    cmd = [sys.executable, "-m", "searchrel.cli", "simulate", "--scale", scale, "--warehouse", str(warehouse),
           "--json", *extra]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    peaks: dict[str, int] = {}
    cpu_seen: dict[int, float] = {}
    done = threading.Event()
    sampler = threading.Thread(target=_sample, args=(psutil.Process(proc.pid), peaks, cpu_seen, done), daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.monotonic() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"simulate --scale {scale} exited {proc.returncode}")
    counts = json.loads(out[out.index("{"):])
    # CPU seconds of driver + JVM (last sample, up to 0.5 s short): what the run costs, whatever else
    # shares the machine; on an idle 2-core machine wall time lies between cpu_s / 2 and cpu_s.
    return {"scale": scale, "wall_s": round(wall, 1), "cpu_s": round(sum(cpu_seen.values()), 1), "rows": counts,
            **{k: round(v / 2**20) for k, v in peaks.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", default=["small"], choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--root", default="/tmp/searchrel_simbench", help="warehouses go to ROOT/<scale>")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses afterwards")
    parser.add_argument("simulate_args", nargs=argparse.REMAINDER,
                        help="after --: passed to simulate, e.g. -- --set spark.driver_memory=6g")
    args = parser.parse_args(argv)
    extra = [a for a in args.simulate_args if a != "--"]
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    results = []
    for scale in args.scales:
        print(f"simulate --scale {scale} ...", file=sys.stderr, flush=True)
        res = run_scale(scale, root, extra)
        results.append(res)
        if not args.keep:
            shutil.rmtree(root / scale, ignore_errors=True)
    base = results[0]
    base_rows = sum(v for k, v in base["rows"].items() if k != "seconds")
    print(f"{'scale':8} {'wall s':>8} {'cpu s':>8} {'events':>12} {'impressions':>12} {'labels':>8} "
          f"{'py MiB':>7} {'jvm MiB':>8} {'rows/s vs ' + base['scale']:>16}")
    for r in results:
        rows = sum(v for k, v in r["rows"].items() if k != "seconds")
        ratio = (rows / r["wall_s"]) / (base_rows / base["wall_s"])
        print(f"{r['scale']:8} {r['wall_s']:8.1f} {r['cpu_s']:8.1f} {r['rows']['raw/search_events']:12,} "
              f"{r['rows']['raw/impressions']:12,} {r['rows']['raw/human_labels']:8,} "
              f"{r.get('python_rss', 0):7} {r.get('jvm_rss', 0):8} {ratio:16.2f}")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    sys.exit(main())
