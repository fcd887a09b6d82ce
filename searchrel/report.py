"""The demo's report: one static HTML page with PNG plots under `<warehouse>/reports/`.

It only reads what the jobs left behind (Delta tables for volumes, the JSON
files that evaluation, labelling, serving and validation write), so it can be
rebuilt at any time without rerunning anything. A section whose inputs are
missing says so instead of disappearing, so a reader can tell "not run" from
"nothing to show".
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from searchrel.core import catalog  # noqa: E402
from searchrel.core.config import Config  # noqa: E402

log = logging.getLogger(__name__)

SECTIONS = (
    ("volumes", "Data volumes"),
    ("teacher", "Teacher against baselines"),
    ("levels", "Teacher per relevance level and per language"),
    ("ablation", "Enriched text ablation"),
    ("student", "Student against teacher"),
    ("scaling", "Scaling with teacher-labelled rows"),
    ("confusion", "Confusion matrices"),
    ("calibration", "Calibration"),
    ("throughput", "Labelling and serving throughput"),
    ("quality", "Data quality"),
)

TABLES = tuple(t.name for t in (
    catalog.PINS, catalog.PIN_IMAGES, catalog.SEARCH_EVENTS, catalog.BOARD_PINS, catalog.LINK_VISITS,
    catalog.HUMAN_LABELS, catalog.IMPRESSIONS, catalog.PIN_QUERY_TOKENS, catalog.PIN_BOARD_TOKENS,
    catalog.PIN_LINK_TEXT, catalog.PIN_CAPTIONS, catalog.PIN_TEXT, catalog.QUERY_FEATURES,
    catalog.PIN_EMBEDDINGS, catalog.TEACHER_SCORES, catalog.STUDENT_EXAMPLES,
))

METRICS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("qwk", "QWK"), ("ndcg_at_10", "nDCG@10"))


@dataclass
class Section:
    key: str
    title: str
    caption: str = ""
    body: str = ""
    images: list[str] = field(default_factory=list)
    missing: str | None = None


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _metric(block: dict[str, Any] | None, name: str) -> float | None:
    """Metrics are looked up under the few names the evaluators use."""
    if not block:
        return None
    aliases = {
        "qwk": ("qwk", "quadratic_weighted_kappa", "kappa"),
        "ndcg_at_10": ("ndcg_at_10", "ndcg@10", "ndcg10", "ndcg"),
        "macro_f1": ("macro_f1", "f1_macro"),
        "accuracy": ("accuracy", "acc"),
    }.get(name, (name,))
    for alias in aliases:
        if isinstance(block.get(alias), (int, float)):
            return float(block[alias])
    return None


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bar_chart(path: Path, groups: dict[str, dict[str, float | None]], title: str) -> None:
    names = list(groups)
    metrics = [m for m, _ in METRICS if any(groups[n].get(m) is not None for n in names)]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(metrics))
    for i, name in enumerate(names):
        values = [groups[name].get(m) or 0.0 for m in metrics]
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=name)
    ax.set_xticks(x, [dict(METRICS)[m] for m in metrics])
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _heatmap(ax, matrix: np.ndarray, title: str) -> None:
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, int(value), ha="center", va="center", fontsize=8,
                color="white" if value > matrix.max() / 2 else "black")
    ax.set_xticks(range(5), [f"L{k}" for k in range(1, 6)])
    ax.set_yticks(range(5), [f"L{k}" for k in range(1, 6)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("human label")
    ax.set_title(title)


# -- sections -----------------------------------------------------------------


def _volumes(tables, out: Path) -> Section:
    section = Section("volumes", "Data volumes")
    counts: list[tuple[str, int]] = []
    for name in TABLES:
        if tables.exists(name):
            counts.append((name, tables.read(name).count()))
    if not counts:
        section.missing = "no tables found in the warehouse"
        return section
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(counts) + 1))
    ax.barh([n for n, _ in counts][::-1], [c for _, c in counts][::-1], color="#4c72b0")
    ax.set_xscale("log")
    ax.set_xlabel("rows (log scale)")
    fig.tight_layout()
    fig.savefig(out / "volumes.png", dpi=110)
    plt.close(fig)
    section.images.append("volumes.png")
    section.body = _table(("table", "rows"), ((n, f"{c:,}") for n, c in counts))
    section.caption = (
        f"Rows per table: {len(counts)} tables; the teacher labels "
        f"{dict(counts).get('labels/teacher_scores', 0):,} impressions from "
        f"{dict(counts).get('raw/human_labels', 0):,} human labels."
    )
    return section


def _test(block: dict | None) -> dict[str, Any]:
    """Evaluations keep a model's test-split metrics under "test"."""
    return (block or {}).get("test") or {}


def _groups(named: dict[str, dict | None]) -> dict[str, dict[str, float | None]]:
    return {name: {m: _metric(block, m) for m, _ in METRICS} for name, block in named.items() if block}


def _metrics_table(groups: dict[str, dict[str, float | None]], first: str = "model") -> str:
    return _table((first, *[t for _, t in METRICS]), ((n, *[_fmt(g[m]) for m, _ in METRICS]) for n, g in groups.items()))


def _teacher(evaluation: dict | None, out: Path) -> Section:
    section = Section("teacher", "Teacher against baselines")
    teacher = _test((evaluation or {}).get("teacher"))
    if not teacher:
        section.missing = "no teacher evaluation (run `searchrel evaluate --teacher …`)"
        return section
    named = {"teacher": teacher}
    for name, block in (evaluation.get("baselines") or {}).items():
        named[name.replace("_", " ")] = _test(block)
    groups = _groups(named)
    _bar_chart(out / "teacher.png", groups, "Teacher vs baselines (test split, query-disjoint)")
    section.images.append("teacher.png")
    section.body = _metrics_table(groups)
    best = max((g["accuracy"] or 0 for n, g in groups.items() if n != "teacher"), default=0)
    section.caption = (
        f"The fine-tuned cross-encoder reaches accuracy {_fmt(groups['teacher']['accuracy'])} on "
        f"{teacher.get('n', 0):,} held-out rows of queries it never saw, against {best:.3f} for the best baseline."
    )
    return section


def _levels(evaluation: dict | None) -> Section:
    """Recall and predicted share per level, and metrics per query language, for each evaluated teacher."""
    section = Section("levels", "Teacher per relevance level and per language")
    teachers = [(name, _test((evaluation or {}).get(key))) for name, key in
                (("teacher", "teacher"), ("title + description", "ablation_teacher"))]
    teachers = [(name, block) for name, block in teachers if block.get("per_class")]
    if not teachers:
        section.missing = "no per-level metrics in the teacher evaluation"
        return section
    rows, warnings = [], []
    for name, block in teachers:
        for level, values in sorted(block["per_class"].items()):
            share = values.get("predicted_share")
            flag = "NEVER PREDICTED" if share == 0 else ("rare" if share is not None and share < 0.03 else "")
            rows.append((name, f"L{level}", values.get("support", 0), _fmt(values.get("recall")), _fmt(share), flag))
        if block.get("levels_never_predicted"):
            warnings.append(f"{name} never predicts level(s) {', '.join(map(str, block['levels_never_predicted']))}")
    section.body = _table(("teacher", "level", "test rows", "recall", "predicted share", ""), rows)
    languages = [(name, lang, values) for name, block in teachers for lang, values in (block.get("by_language") or {}).items()]
    if languages:
        section.body += _table(("teacher", "query language", "test rows", "accuracy", "QWK", "macro-F1"), (
            (name, lang, v["n"], _fmt(v.get("accuracy")), _fmt(v.get("quadratic_weighted_kappa")), _fmt(v.get("macro_f1")))
            for name, lang, v in languages))
    decoding = (teachers[0][1].get("decoding") or {}).get("method", "argmax")
    section.caption = (
        (" ".join(w + "." for w in warnings) + " " if warnings else "Every level is predicted. ")
        + f"Levels are read from the probabilities by {'cut-points on the expected relevance fitted on validation' if decoding == 'cutpoints' else 'argmax'}; "
        "a level below 3% of predictions is marked rare."
    )
    return section


def _teacher_quality(reports: Path) -> Section:
    """The teacher quality bench's runs (bench/teacher_quality.py --out <warehouse>/reports), where it was run."""
    section = Section("teacher_quality", "Teacher quality bench")
    found = sorted(reports.glob("teacher_quality_*.json"))
    results = [r for r in (_load(p) for p in found) if isinstance(r, dict) and r.get("runs")]
    if not results:
        section.missing = "bench/teacher_quality.py has not written here (run it with --out <warehouse>/reports)"
        return section
    rows = []
    for result in results:
        ref = result.get("reference") or {}
        for label, block in (("ceiling: labels vs truth", ref.get("ceiling")), ("majority class", ref.get("majority"))):
            if block:
                rows.append((result["name"], label, "", "", _fmt(block.get("accuracy")),
                             _fmt(block.get("quadratic_weighted_kappa")), "", ""))
        for run in result["runs"]:
            test = run.get("test") or {}
            rows.append((result["name"], f"{run['backbone']} · {run['recipe']}" + (" · en only" if run.get("english_only") else ""),
                         f"{run['train_rows']:,}", run.get("epochs_run"), _fmt(test.get("accuracy")),
                         _fmt(test.get("quadratic_weighted_kappa")), _fmt(test.get("macro_f1")),
                         run.get("seconds_per_epoch")))
        image = reports / f"teacher_quality_{result['name']}.png"
        if image.exists():
            section.images.append(image.name)
    section.body = _table(("data", "teacher", "train labels", "epochs", "accuracy", "QWK", "macro-F1", "s / epoch"), rows)
    section.caption = ("Test metrics per backbone, recipe and number of human labels, beside the ceiling the labels "
                       "themselves allow and the majority class; curves are test metrics at each validation point.")
    return section


def _ablation(evaluation: dict | None, out: Path) -> Section:
    section = Section("ablation", "Enriched text ablation")
    full = _test((evaluation or {}).get("teacher"))
    ablation = _test((evaluation or {}).get("ablation_teacher"))
    if not full or not ablation:
        section.missing = "no ablation teacher evaluated (title + description only)"
        return section
    groups = _groups({"all text parts": full, "title + description": ablation})
    _bar_chart(out / "ablation.png", groups, "Teacher input: enriched text vs title + description")
    section.images.append("ablation.png")
    section.body = _metrics_table(groups, "pin text")
    delta = (groups["all text parts"]["accuracy"] or 0) - (groups["title + description"]["accuracy"] or 0)
    section.caption = (
        f"Adding captions, engagement query tokens, board titles and long-click link text changes teacher "
        f"accuracy by {delta:+.3f} over title and description alone (the paper's enriched-text experiment)."
    )
    return section


def _student(evaluation: dict | None, out: Path) -> Section:
    section = Section("student", "Student against teacher")
    student = (evaluation or {}).get("student") or {}
    if not isinstance(student.get("student"), dict):
        section.missing = "no student evaluation (run `searchrel evaluate --student …`)"
        return section
    groups = _groups({
        "distilled student": student.get("student"),
        "human-labels-only student": student.get("student_human_only"),
        "teacher": student.get("teacher_on_scored"),
        "BM25 ranking": student.get("bm25"),
    })
    _bar_chart(out / "student.png", groups, "Distilled student vs teacher, human-only student, BM25")
    section.images.append("student.png")
    section.body = _metrics_table(groups)
    distilled = groups["distilled student"]["accuracy"]
    human = groups.get("human-labels-only student", {}).get("accuracy")
    section.caption = (
        f"On {student.get('n_test_rows', 0):,} human-labelled test rows the distilled MLP student reaches accuracy "
        f"{_fmt(distilled)} against {_fmt(human)} for the same student trained on human labels only "
        "(the teacher is scored on the rows it labelled; BM25 only ranks, so it has nDCG alone)."
    )
    return section


def _scaling(reports: Path, out: Path) -> Section:
    section = Section("scaling", "Scaling with teacher-labelled rows")
    scaling = _load(reports / "student_scaling.json") or {}
    points = scaling.get("points") or []
    if not points:
        section.missing = "no scaling experiment found (`searchrel student-train --scaling`)"
        return section
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    xs = [p.get("teacher_rows") for p in points]
    baseline = scaling.get("human_only_baseline") or {}
    for metric, title in METRICS:
        ys = [_metric(p, metric) for p in points]
        if any(y is not None for y in ys):
            line = ax.plot(xs, [np.nan if y is None else y for y in ys], marker="o", label=f"distilled {title}")
            if _metric(baseline, metric) is not None:
                ax.axhline(_metric(baseline, metric), color=line[0].get_color(), ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("teacher-labelled training rows (dashed: human-labels-only student)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "scaling.png", dpi=110)
    plt.close(fig)
    section.images.append("scaling.png")
    section.body = _table(
        ("point", "teacher rows", *[t for _, t in METRICS]),
        ((p.get("point"), f"{p.get('teacher_rows', 0):,}", *[_fmt(_metric(p, m)) for m, _ in METRICS]) for p in points),
    )
    section.caption = (
        f"Student quality as teacher-labelled training rows grow ({scaling.get('human_train_rows', 0):,} human-labelled "
        "training rows for scale); the dashed lines are the student trained on human labels only."
    )
    return section


def _evaluated_models(evaluation: dict | None) -> list[tuple[str, dict[str, Any]]]:
    """(name, test metrics) of the teacher and the distilled student, where evaluated."""
    found = []
    teacher = _test((evaluation or {}).get("teacher"))
    if teacher:
        found.append(("teacher", teacher))
    student = ((evaluation or {}).get("student") or {}).get("student")
    if isinstance(student, dict):
        found.append(("distilled student", student))
    return found


def _confusion(evaluation: dict | None, out: Path) -> Section:
    section = Section("confusion", "Confusion matrices")
    matrices = []
    for name, metrics in _evaluated_models(evaluation):
        matrix = metrics.get("confusion_matrix")
        if matrix:
            matrices.append((name, np.asarray(matrix)))
    if not matrices:
        section.missing = "no confusion matrices in the evaluation"
        return section
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8))
    for ax, (name, matrix) in zip(np.atleast_1d(axes), matrices):
        _heatmap(ax, matrix, name)
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=110)
    plt.close(fig)
    section.images.append("confusion.png")
    section.caption = "Rows are human labels, columns predictions; mass off the diagonal shows which relevance levels get confused."
    return section


def _calibration(evaluation: dict | None, out: Path) -> Section:
    section = Section("calibration", "Calibration")
    curves = []
    for name, metrics in _evaluated_models(evaluation):
        bins = metrics.get("reliability")
        if bins:
            curves.append((name, bins, metrics.get("expected_calibration_error")))
    if not curves:
        section.missing = "no reliability bins in the evaluation"
        return section
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    for name, bins, ece in curves:
        conf = [b["confidence"] for b in bins if b.get("count")]
        acc = [b["accuracy"] for b in bins if b.get("count")]
        ax.plot(conf, acc, marker="o", label=f"{name} (ECE {_fmt(ece)})")
    ax.set_xlabel("predicted confidence")
    ax.set_ylabel("observed accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "calibration.png", dpi=110)
    plt.close(fig)
    section.images.append("calibration.png")
    section.caption = "Reliability of the top-class probability: points under the diagonal are over-confident."
    return section


def _throughput(reports: Path) -> Section:
    section = Section("throughput", "Labelling and serving throughput")
    runs = _load(reports / "label_runs.json") or []
    serving = _load(reports / "student_serving.json") or {}
    runs = [r for r in runs if isinstance(r, dict) and r.get("rows")]
    if not runs and not serving:
        section.missing = "no labelling runs or serving benchmark recorded"
        return section
    rows = [
        ("teacher labelling (Spark pandas UDF)", f"{r.get('start')}..{r.get('end')}", f"{r.get('rows', 0):,} rows",
         f"{r.get('rows_per_s', 0):.1f} rows/s", f"{r.get('seconds', 0):.0f} s")
        for r in runs[-5:]
    ]
    for name, result in (serving.get("results") or {}).items():
        rows.append((f"student serving ({name})", f"1 query x {serving.get('pins_per_request')} pins",
                     f"p50 {result.get('p50_ms', 0):.2f} ms, p99 {result.get('p99_ms', 0):.2f} ms",
                     f"{result.get('rows_per_s', 0):,.0f} rows/s", f"{serving.get('threads')} thread(s)"))
    section.body = _table(("what", "run", "volume / latency", "speed", "time"), rows)
    section.caption = (
        "The teacher's scoring speed per labelling run on this machine, and the distilled student's batched "
        "throughput and per-request latency on CPU: the gap is why the student is what serves."
    )
    return section


def _quality(reports: Path) -> Section:
    section = Section("quality", "Data quality")
    index = _load(reports / "validation" / "index.json")
    if not index or not index.get("tables"):
        section.missing = "no validation summaries (run `searchrel validate …`)"
        return section
    rows = []
    for table, entry in index["tables"].items():
        for ds, run in sorted(entry["runs"].items(), reverse=True)[:1]:
            rows.append((table, ds, "passed" if run.get("success") else "FAILED",
                         f"{(run.get('evaluated') or 0) - (run.get('failed') or 0)}/{run.get('evaluated') or 0}",
                         "; ".join((run.get("failures") or [])[:2])))
    section.body = _table(("table", "partition", "result", "expectations passed", "what failed"), rows)
    section.body += (
        '<p><a href="validation/index.html">Every validation run</a> · '
        '<a href="data_docs/index.html">great-expectations Data Docs</a></p>'
    )
    failed = sum(1 for r in rows if r[2] == "FAILED")
    section.caption = (
        f"The latest validation of {len(rows)} tables: {failed} failed. Each gate stops what depends on its table; "
        "the Data Docs show every expectation with sample failing values."
    )
    return section


# -- page -----------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.6em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left} .caption{color:#444} .missing{color:#a33} img{max-width:100%}
nav a{margin-right:1em}
"""


def render(sections: list[Section], title: str, meta: dict[str, str]) -> str:
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    meta_rows = _table(("", ""), meta.items())
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{meta_rows}<nav>{nav}</nav>"]
    for s in sections:
        parts.append(f'<h2 id="{s.key}">{html.escape(s.title)}</h2>')
        if s.missing:
            parts.append(f'<p class="missing">Not available: {html.escape(s.missing)}.</p>')
            continue
        parts.append(f'<p class="caption">{html.escape(s.caption)}</p>')
        parts.extend(f'<img src="{img}" alt="{html.escape(s.title)}">' for img in s.images)
        parts.append(s.body)
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(
    tables, config: Config, timings: list[tuple[str, str, float]] | None = None, scale: str | None = None
) -> tuple[Path, dict[str, str]]:
    """Write `<warehouse>/reports/index.html` and return its path and a short summary."""
    reports = Path(config.reports_path)
    reports.mkdir(parents=True, exist_ok=True)
    evaluation = _load(reports / "teacher_eval.json")
    if evaluation is not None and not isinstance(evaluation.get("student"), dict):
        student = _load(reports / "student_eval.json")
        if student:
            evaluation["student"] = student
    sections = [
        _volumes(tables, reports),
        _teacher(evaluation, reports),
        _levels(evaluation),
        _ablation(evaluation, reports),
        _student(evaluation, reports),
        _scaling(reports, reports),
        _confusion(evaluation, reports),
        _calibration(evaluation, reports),
        _throughput(reports),
        _quality(reports),
    ]
    bench = _teacher_quality(reports)
    if not bench.missing:  # a bench, not a pipeline stage: shown where it was run, never as a gap
        sections.insert(3, bench)
    meta = {"generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "warehouse": config.warehouse_path}
    if scale:
        meta["world"] = scale
    if timings:
        meta["pipeline time"] = f"{sum(t for _, _, t in timings) / 60:.1f} min"
    page = reports / "index.html"
    page.write_text(render(sections, "searchrel — pipeline report", meta), encoding="utf-8")
    summary = {
        "teacher accuracy (test)": _fmt(_metric(_test((evaluation or {}).get("teacher")), "accuracy")),
        "title+description teacher accuracy": _fmt(_metric(_test((evaluation or {}).get("ablation_teacher")), "accuracy")),
        "distilled student accuracy": _fmt(_metric(((evaluation or {}).get("student") or {}).get("student"), "accuracy")),
        "human-only student accuracy": _fmt(
            _metric(((evaluation or {}).get("student") or {}).get("student_human_only"), "accuracy")
        ),
        "report sections without data": str(sum(1 for s in sections if s.missing)),
    }
    if timings:
        for title, status, seconds in timings:
            summary[title] = {"ok": f"{seconds:.1f} s", "reused": f"{seconds:.1f} s (earlier run)"}.get(status, status)
    log.info("report written to %s", page)
    return page, summary
