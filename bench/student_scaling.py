"""The paper's scaling claim on a simulated world: the student at 1x ... 100x teacher-labelled rows.

    python bench/student_scaling.py --work /tmp/scaling [--scale medium] [--multiples 1,3,10,30,100]
        [--seeds 3] [--backend torch] [--human-rows auto|N] [--set KEY=VALUE ...] [--out DIR]

Every step is the real `searchrel` command, in this process (one SparkSession), on one
warehouse under --work:

  simulate -> aggregate -> assemble-text -> teacher-train -> label -> student-features
  -> student-train --scaling

`<work>/state.json` records each finished step with its result, so a killed bench rerun with
the same arguments skips what is done; `label` is incremental by itself, so a labelling run
killed halfway keeps its committed chunks. A rerun with other arguments (the state records
them) runs every step again; each job replaces its own output, so nothing is doubled.

"1x" is the human-labelled training rows, H. The teacher trains on H human labels
(`teacher-train --max-train-rows H`); the distilled students and the human-only baseline see
the same number (`student.max_human_rows`), and point m distils from exactly m*H teacher-labelled
rows (`student.max_rows`: the rows with the smallest sample_key, so every point holds the rows of
each smaller one). `--human-rows auto` sets H to what the world can label 100x of: the
training-split impressions divided by the largest multiple, less 3 % for impressions whose pin
has no text (quarantined by student-features). A multiple the world cannot fill is left out and
the last point is "all".

Each point trains `--seeds` students; the job reports mean and sample std of accuracy, QWK and
nDCG@10 on the human-labelled test split (query-disjoint from every training row), against the
human-only student. Output: `<work>/warehouse/reports/student_scaling.{json,png}` (the job's
own files) plus `bench_student_scaling.json` (the steps' wall times and H), copied to --out
when given (the demo's `warehouse/reports`, whose scaling section then shows this curve).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEACHER_VERSION = "scaling-teacher"
QUARANTINE_MARGIN = 0.97


def human_rows_for(train_impressions: int, multiples: list[float]) -> int:
    """H such that the largest multiple of H still fits the impressions the world has (after the margin)."""
    if not multiples or max(multiples) <= 0:
        raise ValueError("multiples must hold at least one positive number")
    return max(1, math.floor(train_impressions * QUARANTINE_MARGIN / max(multiples)))


class State:
    """Finished steps and their results in <work>/state.json, written atomically."""

    def __init__(self, path: Path, fingerprint: dict[str, Any]) -> None:
        self.path = path
        saved = json.loads(path.read_text()) if path.exists() else {}
        # Only steps finished with the same arguments count; other arguments rerun every step.
        self.steps: dict[str, Any] = saved.get("steps", {}) if saved.get("fingerprint") == fingerprint else {}
        self.fingerprint = fingerprint

    def run(self, name: str, step: Callable[[], Any]) -> Any:
        if name in self.steps:
            print(f"[done before] {name}", flush=True)
            return self.steps[name]["result"]
        print(f"[running] {name}", flush=True)
        t0 = time.perf_counter()
        result = step()
        self.steps[name] = {"result": result, "seconds": round(time.perf_counter() - t0, 1)}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "steps": self.steps}, indent=2, default=str))
        os.replace(tmp, self.path)
        print(f"[finished] {name} in {self.steps[name]['seconds']} s", flush=True)
        return result


def _searchrel(args: list[str]) -> dict[str, Any]:
    """One `searchrel ... --json` command in this process; its JSON result, or SystemExit with its output."""
    from searchrel.cli import main as searchrel

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = searchrel([*args, "--json"])
    text = buffer.getvalue()
    if code:
        print(text[-3000:], file=sys.stderr)
        raise SystemExit(f"searchrel {args[0]} exited {code}")
    return json.loads(text[text.index("{"):]) if "{" in text else {}


def _train_impressions(warehouse: Path, config_args: list[str]) -> int:
    """Distinct (query, pin, ds) impressions whose query falls in the training split."""
    from pyspark.sql import functions as F

    from features.splits import TRAIN, split_column
    from searchrel.core.config import load_config, parse_set_options
    from searchrel.core.session import get_spark

    sets = [config_args[i + 1] for i, a in enumerate(config_args) if a == "--set"]
    config = load_config(None, {"warehouse": str(warehouse), **parse_set_options(sets)})
    spark = get_spark(config)
    impressions = spark.read.format("delta").load(str(warehouse / "raw" / "impressions"))
    split = split_column(F.col("query"), config.teacher.val_fraction, config.teacher.test_fraction)
    return impressions.select("query", "pin_id", "ds").distinct().where(split == TRAIN).count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="folder for the warehouse and state.json (kept for resuming)")
    parser.add_argument("--scale", default="medium", choices=("tiny", "small", "medium", "large"))
    parser.add_argument("--multiples", default="1,3,10,30,100")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--backend", default="torch", help="labelling.backend (torch, torch-bf16, onnx, onnx-int8)")
    parser.add_argument("--human-rows", default="auto", help="H, the human training rows of the teacher and students")
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE")
    parser.add_argument("--out", help="also copy the scaling files here (e.g. warehouse/reports of the demo)")
    args = parser.parse_args(argv)
    multiples = [float(m) for m in args.multiples.split(",")]

    work = Path(args.work).resolve()
    warehouse = work / "warehouse"
    work.mkdir(parents=True, exist_ok=True)
    sets = [x for item in args.sets for x in ("--set", item)]
    common = ["--warehouse", str(warehouse), *sets]
    state = State(work / "state.json", {"scale": args.scale, "sets": args.sets, "human_rows": args.human_rows,
                                        "multiples": multiples, "seeds": args.seeds, "backend": args.backend})

    from searchrel.core.config import load_config, parse_set_options

    config = load_config(None, parse_set_options(args.sets))
    end = dt.date.fromisoformat(config.simulation.end_ds)
    start = end - dt.timedelta(days=config.simulation.impression_days - 1)
    dates = ["--start", start.isoformat(), "--end", end.isoformat()]

    state.run("simulate", lambda: _searchrel(["simulate", "--scale", args.scale, *common]))
    state.run("aggregate", lambda: _searchrel(["aggregate", *dates, *common]))
    state.run("assemble-text", lambda: _searchrel(["assemble-text", *dates, *common]))
    available = state.run("train impressions", lambda: _train_impressions(warehouse, sets))
    human = human_rows_for(available, multiples) if args.human_rows == "auto" else int(args.human_rows)
    print(f"H = {human} human training rows; the world has {available} training-split impressions "
          f"({available / human:.1f}x H)", flush=True)
    teacher = state.run("teacher-train", lambda: _searchrel([
        "teacher-train", "--version", TEACHER_VERSION, "--no-promote", "--max-train-rows", str(human), *common]))
    label_sets = ["--set", f"labelling.backend={args.backend}"]
    state.run("label", lambda: _searchrel(["label", "--teacher", TEACHER_VERSION, *dates, *label_sets, *common]))
    state.run("student-features", lambda: _searchrel(["student-features", *dates, *common]))
    scaling_sets = ["--set", f"student.max_human_rows={human}", "--set", f"student.scaling_multiples={multiples}",
                    "--set", f"student.scaling_seeds={args.seeds}"]
    student = state.run("student-train", lambda: _searchrel([
        "student-train", "--scaling", "--no-promote", "--no-progress", *scaling_sets, *common]))

    reports = warehouse / "reports"
    summary = {
        "scale": args.scale, "human_rows": human, "train_impressions": available, "multiples": multiples,
        "seeds": args.seeds, "backend": args.backend, "sets": args.sets,
        "teacher": {k: teacher.get(k) for k in ("version", "rows", "test_accuracy", "test_qwk", "test_macro_f1")},
        "student": student.get("scaling"),
        "step_seconds": {name: step["seconds"] for name, step in state.steps.items()},
    }
    (reports / "bench_student_scaling.json").write_text(json.dumps(summary, indent=2, default=str))
    curve = json.loads((reports / "student_scaling.json").read_text())
    for point in curve["points"]:
        print(f"{point['point']:>12s} teacher rows {point['teacher_rows']:>8d}  "
              + "  ".join(f"{name} {point[key]:.4f} ± {point.get(key + '_std', 0.0):.4f}" for name, key in
                          (("acc", "accuracy"), ("QWK", "quadratic_weighted_kappa"), ("nDCG@10", "ndcg_at_10"))))
    base = curve.get("human_only_baseline") or {}
    if base:
        print(f"{'human only':>12s} human rows {human:>10d}  acc {base.get('accuracy', float('nan')):.4f}  "
              f"QWK {base.get('quadratic_weighted_kappa', float('nan')):.4f}  nDCG@10 {base.get('ndcg_at_10', float('nan')):.4f}")
    print(f"teacher (H = {human}): accuracy {teacher.get('test_accuracy')}, QWK {teacher.get('test_qwk')}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("student_scaling.json", "student_scaling.png", "bench_student_scaling.json"):
            shutil.copy2(reports / name, out / name)
        print(f"copied the scaling files to {out}")
    print(f"report files: {reports}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
