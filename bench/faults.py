"""Benchmark: every writing job killed at random fault points, and writers racing; what was lost, time to recover.

For each of the eight jobs that write (simulate, import-labels, aggregate,
assemble-text, label, student-features, student-train, teacher-train), on a copy
of one prepared tiny warehouse:

1. an uninterrupted run, with SEARCHREL_FAULT_LOG listing every fault point it passes
   (`searchrel.core.faults`): the reference tables and models;
2. `--repeats` times: a fresh copy, the job started as a process and SIGKILLed at a
   point drawn at random from that list; the state it leaves checked (every table
   readable, a table the run never committed to unchanged, `current` resolving to a
   version that loads, no half-written version listed); then the job rerun, and its
   tables compared row for row with the reference: rows lost (in the reference, not
   after the rerun) and rows extra (after the rerun, not in the reference), which must
   both be 0, and the rerun's seconds, the time to recover.

Then two races, `--repeats` times each: the same job for the same day twice at once
(assemble-text), and two imports into the same tables (import-labels), released
together at their first commit by a fault barrier; both must succeed (the loser
retries) with the tables of one sequential run.

Writes `<out>/reliability.json` (the report's "Reliability" section and README's table
read it) and prints a markdown table.

    .venv/bin/python bench/faults.py [--repeats 20] [--jobs aggregate,label] [--out <dir>] [--seed 1] [--work <dir>] [--parallel 2]

With --work, every finished run is kept in <work>/runs.jsonl, so the same command, rerun
after a kill, goes on where it stopped; `--summary-only --work <dir>` writes reliability.json
from the runs kept so far, marked partial (runs_done of runs_expected) until all have run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import fault_harness as fh  # noqa: E402
from fault_summary import compare, kind_of, markdown, summarise  # noqa: E402

DAY0, DAY = "2026-11-22", "2026-11-23"
EXTRA = ("features:\n  query_tokens:\n    window_days: 3\n  link_text:\n    window_days: 3\n"
         "labelling:\n  chunk_rows: 150\nteacher:\n  epochs: 1\n  max_length: 48\n  head_hidden: [16]\n"
         "student:\n  epochs: 1\n  train_human_baseline: true\n")
RACES = ("same job, same day, twice at once", "two imports into the same tables")
JOBS = ("simulate", "import-labels", "aggregate", "assemble-text", "label", "student-features", "student-train",
        "teacher-train")


def _labels_csv(path: Path, tag: str, n: int = 40) -> Path:
    path.write_text("query,title,grade\n" + "".join(f"bench query {tag} {i},bench item {tag} {i},{1 + i % 5}\n"
                                                      for i in range(n)), encoding="utf-8")
    return path


def job_args(job: str, work: Path, backbone: Path) -> list[str]:
    """Each job's arguments against the prepared warehouse (a fixed --version, so a rerun replaces it)."""
    return {
        "simulate": ["--scale", "tiny"],
        "import-labels": ["--query-col", "query", "--text-col", "title", "--label-col", "grade", "--ds", DAY,
                          str(work / "labels_a.csv")],
        "aggregate": ["--ds", DAY],
        "assemble-text": ["--ds", DAY0],
        "label": ["--ds", DAY],
        "student-features": ["--ds", DAY0],
        "student-train": ["--version", "sbench", "--no-progress"],
        "teacher-train": ["--version", "tbench", "--backbone", str(backbone)],
    }[job]


def prepare(work: Path, config: Path) -> tuple[Path, Path]:
    """The tiny world with features, pin text, a teacher (current), labels and student examples of DAY0."""
    from modeling.tiny_models import make_tiny_bert

    warehouse = work / "base"
    backbone = make_tiny_bert(work / "tiny_bert", seed=3)
    steps = [("simulate", ["--scale", "tiny"]), ("aggregate", ["--ds", DAY0]), ("assemble-text", ["--ds", DAY0]),
             ("teacher-train", ["--version", "t1", "--backbone", str(backbone)]), ("label", ["--ds", DAY0]),
             ("student-features", ["--ds", DAY0])]
    for command, args in steps:
        run = fh.run_job(command, args, warehouse, config)
        print(f"prepare: {command} {' '.join(args)}: exit {run.returncode} in {run.seconds:.0f} s", flush=True)
        if run.returncode != 0:
            raise SystemExit(run.stderr[-3000:])
    _labels_csv(work / "labels_a.csv", "a")
    _labels_csv(work / "labels_b.csv", "b")
    return warehouse, backbone


def fresh_copy(job: str, base: Path, to: Path) -> Path:
    shutil.rmtree(to, ignore_errors=True)  # left by a bench that was killed
    shutil.copytree(base, to)
    if job == "import-labels":  # the simulated labels carry rater columns an import has not got: import alone
        for table in ("raw/human_labels", "raw/pins"):
            shutil.rmtree(to / table)
    return to


def whole_after_kill(spark, before: dict[str, Any], warehouse: Path) -> list[str]:
    """What a kill left half-done: a table changed without a commit, a pointer or version that does not load."""
    problems = fh.check_models_locked(warehouse / "models")
    for table in fh.delta_tables(warehouse):
        version = fh.delta_version(warehouse, table)
        old_version, old_rows = before["tables"].get(table, (None, []))
        if version == old_version and fh.table_rows(spark, warehouse, table) != old_rows:
            problems.append(f"{table}: rows changed without a commit")
        if old_version is not None and (version if version is not None else -1) < old_version:
            problems.append(f"{table}: version went back")
    for kind, state in before["models"].items():
        now = fh.models_state(warehouse / "models")[kind]
        if not set(state["versions"]) <= set(now["versions"]):
            problems.append(f"{kind}: a version disappeared")
    return problems


def _reference(spark, job: str, work: Path, base: Path, config: Path, backbone: Path) -> dict[str, Any]:
    """The uninterrupted run of one job: its fault points, commit count, tables and seconds.

    Kept in <work>/<job>.reference.json, so a resumed bench does not run it again.
    """
    kept = work / f"{job}.reference.json"
    if kept.exists():
        ref = json.loads(kept.read_text(encoding="utf-8"))
        ref["points"] = [tuple(p) for p in ref["points"]]
        print(f"{job}: reference kept from an earlier run, {len(ref['points'])} fault points", flush=True)
        return ref
    ref_dir = fresh_copy(job, base, work / f"{job}-reference")
    points_file = work / f"{job}.points"
    points_file.unlink(missing_ok=True)  # the log is appended to: one left by a killed bench would double it
    ref_run = fh.run_job(job, job_args(job, work, backbone), ref_dir, config, fault_log=points_file)
    if ref_run.returncode != 0:
        raise SystemExit(f"{job} reference run failed:\n{ref_run.stderr[-3000:]}")
    points = fh.fault_points(points_file)
    reference = {"points": points, "commits": sum(1 for p in points if p[0] == "table.commit.after"),
                 "snapshot": fh.snapshot(spark, ref_dir), "seconds": ref_run.seconds}
    shutil.rmtree(ref_dir, ignore_errors=True)
    print(f"{job}: reference {ref_run.seconds:.0f} s, {len(points)} fault points", flush=True)
    kept.write_text(json.dumps(reference), encoding="utf-8")
    return reference


def _kill_and_rerun(spark, job: str, k: int, point: tuple[str, int, str], ref: dict[str, Any], work: Path,
                    base: Path, config: Path, backbone: Path) -> dict[str, Any]:
    """One repeat: a fresh copy, the job killed at `point`, the state checked, rerun, compared."""
    args = job_args(job, work, backbone)
    where = fresh_copy(job, base, work / f"{job}-{k}")
    before = fh.snapshot(spark, where)
    killed = fh.run_job(job, args, where, config, fault_at=f"{point[0]}:{point[1]}")
    problems = [] if killed.killed else [f"not killed (exit {killed.returncode})"]
    problems += whole_after_kill(spark, before, where)
    rerun = fh.run_job(job, args, where, config)
    if rerun.returncode != 0:
        problems.append(f"rerun exit {rerun.returncode}: {rerun.last_line()}")
    after = fh.snapshot(spark, where)
    reference = ref["snapshot"]
    lost, extra, differ = compare(reference, after)
    models_ok = fh.check_models_locked(where / "models") == [] and (
        after["models"]["teacher"]["current"] == reference["models"]["teacher"]["current"]
        and after["models"]["student"]["current"] == reference["models"]["student"]["current"])
    if not models_ok:
        problems.append("models differ from the reference after the rerun")
    shutil.rmtree(where, ignore_errors=True)
    fh.forget_tables(spark)
    print(f"  {job} #{k} kill at {point[0]}:{point[1]} ({point[2]}): lost {lost}, extra {extra}, "
          f"recovered in {rerun.seconds:.0f} s{'; ' + '; '.join(problems) if problems else ''}", flush=True)
    return {"fault": "kill", "job": job, "repeat": k, "point": f"{point[0]}:{point[1]}", "detail": point[2],
            "kind": kind_of(point, ref["commits"]), "rows_lost": lost, "rows_extra": extra, "tables_differ": differ,
            "problems": problems,
            "recover_s": round(rerun.seconds, 1), "uninterrupted_s": round(ref["seconds"], 1)}


def kill_matrix(spark, jobs: list[str], repeats: int, seed: int, work: Path, base: Path, config: Path,
                backbone: Path, done: set[tuple[str, int]], record: Callable[[dict[str, Any]], None],
                parallel: int = 1) -> None:
    """Every job's uninterrupted reference first, then its kill-and-rerun repeats, `parallel` at a time.

    Repeats are independent (each on its own copy of the prepared warehouse, each job a process
    of its own), so running two at once on two cores changes the recovery seconds, not the rows.
    """
    tasks = []
    for job in jobs:
        if all((job, k) in done for k in range(repeats)):
            continue
        rng = random.Random(f"{seed}:{job}")  # per job, so a resumed bench draws the same points
        ref = _reference(spark, job, work, base, config, backbone)
        for k in range(repeats):
            point = rng.choice(ref["points"])  # drawn even when done, so a resumed run draws the same points
            if (job, k) not in done:
                tasks.append((job, k, point, ref))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(_kill_and_rerun, spark, job, k, point, ref, work, base, config, backbone)
                   for job, k, point, ref in tasks]
        for future in concurrent.futures.as_completed(futures):
            record(future.result())


def races(spark, repeats: int, work: Path, base: Path, config: Path, done: set[tuple[str, int]],
          record: Callable[[dict[str, Any]], None]) -> None:
    same_day, two_imports = RACES
    cases = {
        same_day: ("assemble-text", [["--ds", DAY0], ["--ds", DAY0]]),
        two_imports: ("import-labels", [
            ["--query-col", "query", "--text-col", "title", "--label-col", "grade", "--ds", DAY, str(work / f)]
            for f in ("labels_a.csv", "labels_b.csv")]),
    }
    for what, (job, arg_sets) in cases.items():
        if all((what, k) in done for k in range(repeats)):
            continue
        ref_dir = fresh_copy(job, base, work / f"race-{job}-reference")
        for args in arg_sets:
            if fh.run_job(job, args, ref_dir, config).returncode != 0:
                raise SystemExit(f"{job} sequential reference failed")
        reference = fh.snapshot(spark, ref_dir)
        for k in range(repeats):
            if (what, k) in done:
                continue
            where = fresh_copy(job, base, work / f"race-{job}-{k}")
            barrier = f"barrier:{work / f'barrier-{job}-{k}'}:{len(arg_sets)}"
            t0 = time.perf_counter()
            started = [fh.start_job(job, args, where, config, fault_at="table.commit.before:1", action=barrier)
                       for args in arg_sets]
            runs = [fh.finish(job, s) for s in started]
            seconds = time.perf_counter() - t0
            lost, extra, differ = compare(reference, fh.snapshot(spark, where))
            retries = sum(r.stderr.count("lost a commit race") for r in runs)
            problems = [f"exit {r.returncode}: {r.last_line()}" for r in runs if r.returncode != 0]
            record({"fault": "race", "job": job, "kind": what, "repeat": k, "rows_lost": lost, "rows_extra": extra,
                    "tables_differ": differ, "retries": retries, "problems": problems, "recover_s": round(seconds, 1)})
            print(f"  race {what}: lost {lost}, extra {extra}, {retries} retried commit(s), both done in "
                  f"{seconds:.0f} s{'; ' + '; '.join(problems) if problems else ''}", flush=True)
            shutil.rmtree(where, ignore_errors=True)
            fh.forget_tables(spark)
        shutil.rmtree(ref_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="kills per job and runs per race (default 20)")
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated subset of {','.join(JOBS)}")
    parser.add_argument("--no-races", action="store_true", help="only the kills")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random kill points")
    parser.add_argument("--out", default=str(fh.REPO / "reports"), help="folder for reliability.json")
    parser.add_argument("--parallel", type=int, default=1,
                        help="kill-and-rerun repeats run at once (default 1; recovery times grow with it)")
    parser.add_argument("--work", help="scratch folder (default: a temporary one, removed after)")
    parser.add_argument("--summary-only", action="store_true",
                        help="run nothing: write reliability.json from the runs kept in --work so far "
                             "(marked partial when runs are missing)")
    args = parser.parse_args(argv)
    jobs = [j for j in args.jobs.split(",") if j]
    unknown = set(jobs) - set(JOBS)
    if unknown:
        parser.error(f"unknown job(s): {', '.join(sorted(unknown))}")

    if args.summary_only and not args.work:
        parser.error("--summary-only reads the runs kept in --work")
    from searchrel.core.config import load_config
    from searchrel.core.files import write_json_atomic
    from searchrel.core.session import UTC_JVM, get_spark

    work = Path(args.work or tempfile.mkdtemp(prefix="searchrel-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    config = fh.write_config(work / "faults.yaml", EXTRA)
    # Each finished run is appended to <work>/runs.jsonl at once: a killed bench rerun with the same
    # --work, --seed and --repeats goes on from where it stopped (the prepared warehouse is kept too).
    runs_log = work / "runs.jsonl"
    results = [json.loads(line) for line in runs_log.read_text().splitlines()] if runs_log.exists() else []
    results = [r for r in results if r["job"] in jobs or r["fault"] == "race"]
    done = {(r["job"] if r["fault"] == "kill" else r["kind"], r["repeat"]) for r in results}

    def record(result: dict[str, Any]) -> None:
        result["parallel"] = args.parallel
        results.append(result)
        with runs_log.open("a", encoding="utf-8") as out:
            out.write(json.dumps(result) + "\n")

    t0 = time.perf_counter()
    try:
        if not args.summary_only:
            if (work / "prepared").exists():
                base, backbone = work / "base", work / "tiny_bert"
            else:
                shutil.rmtree(work / "base", ignore_errors=True)
                base, backbone = prepare(work, config)
                (work / "prepared").touch()
            # The bench's own session lives for hours: the jobs' C1-only JIT (fault_harness.write_config)
            # fills its 48 MB code cache there and then stops compiling, so it keeps the tiered default.
            own = load_config(config, environ={})
            own.spark.conf = {**own.spark.conf, "spark.driver.extraJavaOptions": UTC_JVM}
            own.spark.driver_memory = "4g"  # it holds two repeats' tables at once under --parallel 2
            spark = get_spark(own)
            kill_matrix(spark, jobs, args.repeats, args.seed, work, base, config, backbone, done, record,
                        parallel=args.parallel)
            if not args.no_races:
                races(spark, args.repeats, work, base, config, done, record)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    summary = summarise(results)
    expected = len(jobs) * args.repeats + (0 if args.no_races else len(RACES) * args.repeats)
    parallel = max([int(r.get("parallel") or args.parallel) for r in results] or [args.parallel])
    report = {"parallel": parallel, "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "command": "bench/faults.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "repeats": args.repeats, "seed": args.seed, "seconds": round(time.perf_counter() - t0, 1),
              "runs_done": len(results), "runs_expected": expected, "partial": len(results) < expected,
              "summary": summary, "runs": results}
    path = write_json_atomic(Path(args.out) / "reliability.json", report)
    print(markdown(summary))
    print(f"wrote {path}")
    bad = sum(s["rows_lost"] + s["rows_extra"] + s["problems"] for s in summary)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
