"""Teacher quality against human labels, epochs, recipes and backbones, beside the data's own ceiling.

    python bench/teacher_quality.py --warehouse W --name small-world \
        [--split query] [--backbones default,mpnet-base] [--label-fractions 0.25,0.5,1] \
        [--recipes before,recipe] [--english-only] [--parts title,description] \
        [--set teacher.epochs=3 ...] [--out DIR]

Every run goes through `modeling.teacher_fit.fit_teacher`, the function
`searchrel teacher-train` calls, on the rows that job would read
(`load_labelled`, read once and cached as parquet under --out). For each run it
records test accuracy, QWK, macro-F1, recall and predicted share per level,
metrics per query language, wall time per epoch, and a learning curve (test
metrics at each validation point). Beside the runs it prints the majority
baseline and, for a simulated world, the ceiling: the human labels scored
against the world's hidden true relevance on the same test rows.

Each run also gets the bar of word overlap (`lexical_lookup_accuracy`: a lookup
from how many query words the chosen parts contain to the commonest training
label), and in a simulated world its test accuracy by what the world hid from
the text (`by_title_quality`, and `by_pair_language`: query and pin in the same
language or not), which is how the title + description ablation is explained.

Recipes are named sets of teacher settings applied over the configuration, in
the order given, so `--recipes before,+head_lr,+qwk_select,+cutpoints,recipe`
is a cumulative ablation:

    before        the settings before this recipe (argmax, selection on loss, one rate, plain CE)
    +head_lr      + the head on its own learning rate
    +qwk_select   + validation scored 4x an epoch, weights kept by validation QWK
    +cutpoints    + ordinal decoding (cut-points on expected relevance fitted on validation)
    +ordinal_loss + the expected-relevance squared error beside cross-entropy
    recipe        the configured defaults, untouched

Output: <out>/teacher_quality_<name>.json and .png (QWK and accuracy against
labels and epochs, per backbone, with the ceiling and the majority baseline).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from teacher_quality_bars import breakdown, lexical_lookup, reference_rows, summary  # noqa: E402

BEFORE = {"head_learning_rate": None, "evals_per_epoch": 1, "selection_metric": "loss", "decoding": "argmax",
          "ordinal_loss_weight": 0.0, "class_weighting": "none"}
RECIPES: dict[str, dict[str, Any]] = {
    "before": BEFORE,
    "+head_lr": BEFORE | {"head_learning_rate": "recipe"},
    "+qwk_select": BEFORE | {"head_learning_rate": "recipe", "evals_per_epoch": "recipe", "selection_metric": "qwk"},
    "+cutpoints": BEFORE | {"head_learning_rate": "recipe", "evals_per_epoch": "recipe", "selection_metric": "qwk",
                            "decoding": "cutpoints"},
    "+ordinal_loss": BEFORE | {"head_learning_rate": "recipe", "evals_per_epoch": "recipe", "selection_metric": "qwk",
                               "decoding": "cutpoints", "ordinal_loss_weight": "recipe"},
    "+class_weights": BEFORE | {"head_learning_rate": "recipe", "evals_per_epoch": "recipe",
                                "selection_metric": "qwk", "decoding": "cutpoints", "ordinal_loss_weight": "recipe",
                                "class_weighting": "sqrt_inverse"},
    "recipe": {},
}
CURVE_KEYS = ("accuracy", "quadratic_weighted_kappa", "macro_f1")
# What load_frame adds beside the labelled rows (a simulated world's hidden facts among them).
FRAME_COLUMNS = "lang,true_relevance,title_quality,pin_lang"


def _recipe_settings(name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """A named recipe's settings; "recipe" as a value means the configured default of that key."""
    if name not in RECIPES:
        raise SystemExit(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return {k: defaults[k] if v == "recipe" else v for k, v in RECIPES[name].items()}


def load_frame(warehouse: str, config_path: str | None, sets: list[str], split: str, cache: Path):
    """The labelled rows teacher-train would read (+ lang, + the world's true relevance when there is one)."""
    import pandas as pd

    if cache.exists():
        return pd.read_parquet(cache)
    from pyspark.sql import functions as F

    from spark_jobs import runner
    from spark_jobs.teacher_inputs import load_labelled

    argv = ["--warehouse", warehouse] + (["--config", config_path] if config_path else [])
    for item in sets:
        argv += ["--set", item]
    ctx = runner.build_context("teacher-quality", argv, "none", None)
    cfg = ctx.config.teacher
    frame, _ = load_labelled(ctx.tables, split, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    if ctx.tables.exists("eval/true_relevance"):
        truth = ctx.tables.read("eval/true_relevance").toPandas().rename(columns={"relevance": "true_relevance"})
        frame = frame.merge(truth, on=["query", "pin_id"], how="left")
    if ctx.tables.exists("eval/query_concepts"):
        # A simulated world knows every query's language, also of queries that were never served.
        known = ctx.tables.read("eval/query_concepts").select("query", "lang").toPandas()
        frame = frame.merge(known.rename(columns={"lang": "_lang"}), on="query", how="left")
        frame["lang"] = frame["lang"].fillna(frame.pop("_lang"))
    if ctx.tables.exists("eval/pin_concepts"):
        # What the world hid from the text: the pin's title quality and language (against the query's).
        pins = (ctx.tables.read("eval/pin_concepts").select("pin_id", "title_quality")
                .join(ctx.tables.read("raw/pins").select("pin_id", F.col("lang").alias("pin_lang")), "pin_id"))
        frame = frame.merge(pins.toPandas(), on="pin_id", how="left")
    ctx.spark.stop()  # the rest is PyTorch: give the JVM's memory and threads back
    cache.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(cache)
    return frame


def run_one(frame, base_cfg, overrides: dict[str, Any], fraction: float, english_only: bool, parts,
            probs_file: str | None = None, curve: bool = True):
    """Train and test one teacher; returns its summary with a learning curve on the test split."""
    import numpy as np

    from features.splits import TEST, TRAIN, VALIDATION
    from modeling.teacher_data import render_texts
    from modeling.ordinal import decode_probs
    from modeling.teacher_fit import fit_teacher
    from modeling.teacher_training import pick_device
    from searchrel.core.config import TeacherConfig

    cfg = TeacherConfig.model_validate(base_cfg.model_dump() | overrides | ({"parts": parts} if parts else {}))
    frame = frame.copy()
    frame["text"] = render_texts(frame, cfg.parts, None)
    train, val, test = (frame[frame["split"] == s] for s in (TRAIN, VALIDATION, TEST))
    if english_only:
        train, val = train[train["lang"] == "en"], val[val["lang"] == "en"]
    if cfg.max_train_rows and len(train) > cfg.max_train_rows:
        train = train.sample(n=cfg.max_train_rows, random_state=cfg.seed)
    if fraction < 1:
        train = train.sample(n=max(1, int(round(len(train) * fraction))), random_state=cfg.seed)
    started = time.perf_counter()
    fitted = fit_teacher(cfg, train, val, test, device=pick_device(None), progress=False, test_curve=curve)
    epochs_run = max(h["epoch"] for h in fitted.history)
    if probs_file:
        np.savez_compressed(probs_file, **{f"{k}_probs": v for k, v in fitted.probs.items()},
                            validation_labels=val["label"].to_numpy(), test_labels=test["label"].to_numpy(),
                            test_lang=test["lang"].astype(str).to_numpy().astype("U"))  # not object: loads without pickle
    return {
        "settings": {k: v for k, v in cfg.model_dump().items() if k != "lora"},
        "train_rows": int(len(train)),
        "english_only": english_only,
        "label_fraction": fraction,
        "epochs_run": epochs_run,
        "seconds_per_epoch": round(fitted.train_seconds / max(epochs_run, 1e-9), 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "examples_per_s": round(float(np.mean([h["examples_per_s"] for h in fitted.history])), 1),
        "curve": [{k: h[k] for k in ("epoch", "val_loss", "val_qwk", "test_accuracy", "test_qwk") if k in h}
                  for h in fitted.history],
        "test": summary(fitted.metrics["test"]) | breakdown(test, decode_probs(
            fitted.probs["test"], fitted.meta["decoding"].get("cutpoints") if cfg.decoding == "cutpoints" else None)),
        "lexical_lookup_accuracy": lexical_lookup(frame, cfg.parts),
        "cutpoints": fitted.meta["decoding"].get("cutpoints"),
    }


def _variations(specs: list[str]) -> list[dict[str, Any]]:
    """`--vary learning_rate=1e-4,2e-4 --vary batch_size=16,32` -> every combination, as teacher settings."""
    import itertools

    import yaml

    axes = []
    for spec in specs:
        key, _, values = spec.partition("=")
        axes.append([(key.removeprefix("teacher."), yaml.safe_load(v)) for v in values.split(",")])
    return [dict(choice) for choice in itertools.product(*axes)] if axes else [{}]


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_tagged(call_args: tuple, tags: dict[str, Any]) -> dict[str, Any]:
    return run_one(*call_args) | tags


def _run_all(jobs: list[tuple[tuple, dict[str, Any]]], workers: int):
    """Yield each run's result as it finishes; with workers > 1, runs share the cores in separate processes.

    Two single-threaded trainings on two cores do about twice the work of one
    two-threaded training at a time (small CPU matrices scale poorly over threads).
    """
    if workers <= 1:
        for call_args, tags in jobs:
            yield _run_tagged(call_args, tags)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        for future in as_completed([pool.submit(_run_tagged, call_args, tags) for call_args, tags in jobs]):
            yield future.result()


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    refs = result["reference"]
    for ax, key, curve_key in ((axes[0], "quadratic_weighted_kappa", "test_qwk"), (axes[1], "accuracy", "test_accuracy")):
        for run in result["runs"]:
            label = f"{run['backbone']} · {run['recipe']} · {run['train_rows']} labels" + (" · en only" if run["english_only"] else "")
            xs = [c["epoch"] for c in run["curve"] if curve_key in c]
            ax.plot(xs, [c[curve_key] for c in run["curve"] if curve_key in c], marker="o", ms=3, label=label)
        if "ceiling" in refs:
            ax.axhline(refs["ceiling"][key], color="k", ls="--", lw=1, label="ceiling (labels vs truth)")
        ax.axhline(refs["majority"][key], color="grey", ls=":", lw=1, label="majority class")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"test {key.replace('_', ' ')}")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6, loc="lower right")
    fig.suptitle(f"teacher quality: {result['name']} ({result['split']} split)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--name", required=True, help="data set name for the output files")
    parser.add_argument("--config")
    parser.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE")
    parser.add_argument("--split", choices=("query", "rows"), default="query")
    parser.add_argument("--backbones", default="default", help="comma-separated teacher.backbone values")
    parser.add_argument("--label-fractions", default="1", help="fractions of the training labels, e.g. 0.25,0.5,1")
    parser.add_argument("--recipes", default="recipe", help=f"comma-separated, of: {', '.join(RECIPES)}")
    parser.add_argument("--parts", help="pin-text parts (default: teacher.parts)")
    parser.add_argument("--english-only", nargs="?", const="also", choices=("also", "only"),
                        help="also (or only) train on English labels only, evaluated on every language")
    parser.add_argument("--out", help="output folder (default: <warehouse>/reports)")
    parser.add_argument("--no-curve", action="store_true",
                        help="skip scoring the test split at every validation point (large test splits)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, in separate processes")
    parser.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                        help="a teacher setting to sweep (repeatable: every combination runs)")
    args = parser.parse_args(argv)

    from spark_jobs import runner

    runner.configure_logging()
    argv_cfg = ["--warehouse", args.warehouse] + (["--config", args.config] if args.config else [])
    for item in args.sets:
        argv_cfg += ["--set", item]
    config = runner.build_context("teacher-quality", argv_cfg, "none", None).config
    base = config.teacher
    out = Path(args.out or config.reports_path)
    out.mkdir(parents=True, exist_ok=True)
    # FRAME_COLUMNS in the key: a frame cached before a column joined it is read afresh.
    key = hashlib.sha1(f"{os.path.abspath(args.warehouse)}|{FRAME_COLUMNS}".encode()).hexdigest()[:10]
    frame = load_frame(args.warehouse, args.config, args.sets, args.split, out / f".teacher_frame_{key}_{args.split}.parquet")
    if "lang" not in frame:
        frame["lang"] = None
    parts = [p for p in args.parts.split(",")] if args.parts else None
    result: dict[str, Any] = {"name": args.name, "split": args.split, "warehouse": args.warehouse,
                              "rows": frame["split"].value_counts().to_dict(), "reference": reference_rows(frame),
                              "runs": []}
    print(json.dumps(result["reference"], indent=1))
    defaults = base.model_dump()
    varied = _variations(args.vary)
    combos = [(b, r, float(f), False, v) for b in args.backbones.split(",") for r in args.recipes.split(",")
              for f in args.label_fractions.split(",") for v in varied]
    if args.english_only == "only":
        combos = [(b, r, f, True, v) for b, r, f, _, v in combos]
    elif args.english_only:
        combos.append((args.backbones.split(",")[0], args.recipes.split(",")[-1], 1.0, True, varied[-1]))
    path = out / f"teacher_quality_{args.name}.json"
    jobs = []
    for backbone, recipe, fraction, english, variation in combos:
        overrides = _recipe_settings(recipe, defaults) | variation
        if backbone != "default":
            overrides["backbone"] = backbone
        tags = {"backbone": backbone, "recipe": recipe + "".join(f" {k}={v}" for k, v in variation.items())}
        probs_file = str(out / f".probs_{args.name}_{len(jobs)}.npz")
        jobs.append(((frame, base, overrides, fraction, english, parts, probs_file, not args.no_curve),
                     tags | {"probs_file": probs_file}))
    for run in _run_all(jobs, args.jobs):
        result["runs"].append(run)
        t = run["test"]
        print(f"{run['backbone']:12s} {run['recipe']:14s} labels={run['train_rows']:6d} en_only={run['english_only']!s:5s} "
              f"acc={t['accuracy']:.4f} qwk={t['quadratic_weighted_kappa']:.4f} f1={t['macro_f1']:.4f} "
              f"never={t['levels_never_predicted']} epochs={run['epochs_run']} s/epoch={run['seconds_per_epoch']}"
              + (f" rmse={t['rmse_original_scale']:.4f}" if t.get("rmse_original_scale") is not None else "")
              + f" word-overlap lookup={run['lexical_lookup_accuracy']:.4f}"
              + "".join(f" {name}-language pairs={v['accuracy']:.4f} (n={v['n']})"
                        for name, v in t.get("by_pair_language", {}).items()),
              flush=True)
        path.write_text(json.dumps(result, indent=2, default=str))
    plot(result, out / f"teacher_quality_{args.name}.png")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
