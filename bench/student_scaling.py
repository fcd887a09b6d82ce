"""The paper's scaling claim on a simulated world: the student at 1x ... 100x teacher-labelled rows.

    python bench/student_scaling.py --work /tmp/scaling [--scale medium] [--multiples 1,3,10,30,100]
        [--seeds 3] [--backend torch] [--human-rows auto|N] [--teachers mpnet-base,smollm2-135m]
        [--set KEY=VALUE ...] [--out DIR]

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

Teacher size -> student (`--teachers`): after the curve, each named backbone trains a teacher on
the same H human labels (with its recipe from BACKBONE_RECIPES, the learning rates the backbone
table in the README found), labels the same impressions, and the student is distilled at the
curve's largest point from that teacher's scores alone (`student.teacher_version`), `--seeds`
times. The curve's own teacher is the first row. Output: `bench_teacher_size.json` beside the
others (also copied to --out), one row per teacher: its test accuracy, QWK and macro-F1, and
its students' mean ± std. Every teacher trains and labels every impression in the range, so on
CPU this fits the small world only (mpnet-base and SmolLM2 train at about a sixth of MiniLM's rate,
README's backbone table; an mpnet teacher holds about 5.6 GB while it trains).
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
# Per-backbone settings for the teacher-size rows: what the README's backbone table trained each
# with (a 110M encoder does not learn at MiniLM's 1e-4; a decoder trains through LoRA).
BACKBONE_RECIPES: dict[str, list[str]] = {
    "minilm-l6": [],
    "mpnet-base": ["teacher.learning_rate=5e-5"],
    "smollm2-135m": ["teacher.lora.enabled=true", "teacher.learning_rate=5e-4"],
}
TEACHER_KEYS = ("version", "backbone", "rows", "test_accuracy", "test_qwk", "test_macro_f1")


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


def features_for(state: State, features_step: str, train_step: str) -> None:
    """Rebuild a teacher's student features before its student-train runs, unless the table holds them now.

    features/student_examples holds the scores of whichever student-features step ran
    last; a curve trained again after the teacher-size steps (its step taken out of
    state.json) would otherwise distil from the last teacher-size backbone's labels.
    """
    if train_step in state.steps:
        return
    built = [name for name in state.steps if name.endswith("student-features")]
    if built and built[-1] != features_step:
        del state.steps[features_step]


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


def largest_point(curve: dict[str, Any]) -> dict[str, Any]:
    """The curve's point with the most teacher-labelled rows: the one the teacher-size rows repeat."""
    if not curve.get("points"):
        raise ValueError("the scaling curve has no points")
    return max(curve["points"], key=lambda p: p["teacher_rows"])


def _student_row(point: dict[str, Any]) -> dict[str, Any]:
    keys = ("point", "teacher_rows", "seeds", "accuracy", "accuracy_std", "quadratic_weighted_kappa",
            "quadratic_weighted_kappa_std", "ndcg_at_10", "ndcg_at_10_std")
    return {k: point.get(k) for k in keys}


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
    parser.add_argument("--teachers", default="", help="backbones whose teachers repeat the largest point "
                        f"after the curve (of {', '.join(BACKBONE_RECIPES)})")
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE")
    parser.add_argument("--out", help="also copy the scaling files here (e.g. warehouse/reports of the demo)")
    args = parser.parse_args(argv)
    multiples = [float(m) for m in args.multiples.split(",")]
    teachers = [t for t in args.teachers.split(",") if t]
    unknown = sorted(set(teachers) - set(BACKBONE_RECIPES))
    if unknown:
        parser.error(f"--teachers: no recipe for {unknown}; known: {', '.join(BACKBONE_RECIPES)}")

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
    # Only this teacher's scores: a rerun after the teacher-size steps must not pick up theirs.
    own_scores = ["--set", f"student.teacher_version={TEACHER_VERSION}"]
    features_for(state, "student-features", "student-train")
    state.run("student-features", lambda: _searchrel(["student-features", *dates, *own_scores, *common]))
    scaling_sets = ["--set", f"student.max_human_rows={human}", "--set", f"student.scaling_multiples={multiples}",
                    "--set", f"student.scaling_seeds={args.seeds}"]
    curve_trained_now = "student-train" not in state.steps
    student = state.run("student-train", lambda: _searchrel([
        "student-train", "--scaling", "--no-promote", "--no-progress", *scaling_sets, *common]))

    reports = warehouse / "reports"
    kept = work / "curve"  # the teacher-size runs rewrite the job's report files: keep the curve's
    if curve_trained_now or not (kept / "student_scaling.json").exists():
        kept.mkdir(exist_ok=True)
        for name in ("student_scaling.json", "student_scaling.png"):
            shutil.copy2(reports / name, kept / name)
    curve = json.loads((kept / "student_scaling.json").read_text())
    sizes = None
    if teachers:
        sizes = _teacher_sizes(state, teachers, teacher, curve, human, multiples, args.seeds, dates, label_sets, common)
    summary = {
        "scale": args.scale, "human_rows": human, "train_impressions": available, "multiples": multiples,
        "seeds": args.seeds, "backend": args.backend, "sets": args.sets,
        "teacher": {k: teacher.get(k) for k in ("version", "rows", "test_accuracy", "test_qwk", "test_macro_f1")},
        "student": student.get("scaling"),
        "step_seconds": {name: step["seconds"] for name, step in state.steps.items()},
    }
    for name in ("student_scaling.json", "student_scaling.png"):  # the curve's, whatever ran after it
        shutil.copy2(kept / name, reports / name)
    (reports / "bench_student_scaling.json").write_text(json.dumps(summary, indent=2, default=str))
    if sizes is not None:
        (reports / "bench_teacher_size.json").write_text(json.dumps(sizes, indent=2, default=str))
    for point in curve["points"]:
        print(f"{point['point']:>12s} teacher rows {point['teacher_rows']:>8d}  "
              + "  ".join(f"{name} {point[key]:.4f} ± {point.get(key + '_std', 0.0):.4f}" for name, key in
                          (("acc", "accuracy"), ("QWK", "quadratic_weighted_kappa"), ("nDCG@10", "ndcg_at_10"))))
    base = curve.get("human_only_baseline") or {}
    if base:
        print(f"{'human only':>12s} human rows {human:>10d}  acc {base.get('accuracy', float('nan')):.4f}  "
              f"QWK {base.get('quadratic_weighted_kappa', float('nan')):.4f}  nDCG@10 {base.get('ndcg_at_10', float('nan')):.4f}")
    print(f"teacher (H = {human}): accuracy {teacher.get('test_accuracy')}, QWK {teacher.get('test_qwk')}")
    if sizes is not None:
        print(f"teacher size -> student at {sizes['point']} ({sizes['teacher_rows']} teacher-labelled rows):")
        for row in sizes["rows"]:
            t, st = row["teacher"], row["student"]
            print(f"  {t['backbone'] or 'default':14s} teacher acc {t['test_accuracy']:.4f} QWK {t['test_qwk']:.4f}"
                  f"  ->  student acc {st['accuracy']:.4f} ± {st.get('accuracy_std') or 0:.4f}"
                  f" QWK {st['quadratic_weighted_kappa']:.4f} ± {st.get('quadratic_weighted_kappa_std') or 0:.4f}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        names = ["student_scaling.json", "student_scaling.png", "bench_student_scaling.json"]
        for name in names + (["bench_teacher_size.json"] if sizes is not None else []):
            shutil.copy2(reports / name, out / name)
        print(f"copied the scaling files to {out}")
    print(f"report files: {reports}")
    return 0


def _teacher_sizes(state: State, teachers: list[str], first: dict[str, Any], curve: dict[str, Any], human: int,
                   multiples: list[float], seeds: int, dates: list[str], label_sets: list[str],
                   common: list[str]) -> dict[str, Any]:
    """The curve's largest point again, once per teacher backbone, each student from that teacher alone."""
    top = largest_point(curve)
    rows = [{"teacher": {k: first.get(k) for k in TEACHER_KEYS}, "student": _student_row(top)}]
    # Only the largest point, without a human-only baseline (the curve has it): the same rows,
    # the same seeds, another teacher's soft labels.
    point_sets = ["--set", f"student.max_human_rows={human}", "--set", f"student.scaling_seeds={seeds}",
                  "--set", f"student.scaling_multiples=[{max(multiples)!r}]", "--set", "student.train_human_baseline=false"]
    for backbone in teachers:
        version = f"{TEACHER_VERSION}-{backbone}"
        recipe = [x for item in BACKBONE_RECIPES[backbone] for x in ("--set", item)]
        result = state.run(f"teacher-size {backbone}: teacher-train", lambda: _searchrel([
            "teacher-train", "--backbone", backbone, "--version", version, "--no-promote",
            "--max-train-rows", str(human), *recipe, *common]))
        state.run(f"teacher-size {backbone}: label", lambda: _searchrel(
            ["label", "--teacher", version, *dates, *label_sets, *common]))
        only = ["--set", f"student.teacher_version={version}"]
        features_for(state, f"teacher-size {backbone}: student-features", f"teacher-size {backbone}: student-train")
        state.run(f"teacher-size {backbone}: student-features", lambda: _searchrel(
            ["student-features", *dates, *only, *common]))
        student = state.run(f"teacher-size {backbone}: student-train", lambda: largest_point(_scaling_report(
            ["student-train", "--scaling", "--no-promote", "--no-progress", *point_sets, *only, *common], common)))
        rows.append({"teacher": {**{k: result.get(k) for k in TEACHER_KEYS}, "backbone": backbone,
                                 "recipe": BACKBONE_RECIPES[backbone]}, "student": _student_row(student)})
    return {"point": top["point"], "teacher_rows": top["teacher_rows"], "human_rows": human, "rows": rows}


def _scaling_report(args: list[str], common: list[str]) -> dict[str, Any]:
    """Run a `student-train --scaling`; the student_scaling.json it wrote."""
    _searchrel(args)
    warehouse = Path(common[common.index("--warehouse") + 1])
    return json.loads((warehouse / "reports" / "student_scaling.json").read_text())


if __name__ == "__main__":
    sys.exit(main())
