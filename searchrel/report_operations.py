"""The demo report's sections on how the pipeline ran: data volumes, labelling and serving speed, data quality.

Like `report_sections`, each builder returns a `Section` of plain data, or one
with `missing` set where the job that feeds it has not run.
"""

from __future__ import annotations

from pathlib import Path

from searchrel import report_plots as plots
from searchrel.core import catalog
from searchrel.core.files import read_records
from searchrel.report_sections import Section, Table, load_json

# The tables whose sizes the report shows, in pipeline order.
TABLES = tuple(t.name for t in (
    catalog.PINS, catalog.PIN_IMAGES, catalog.SEARCH_EVENTS, catalog.BOARD_PINS, catalog.LINK_VISITS,
    catalog.HUMAN_LABELS, catalog.IMPRESSIONS, catalog.PIN_QUERY_TOKENS, catalog.PIN_BOARD_TOKENS,
    catalog.PIN_LINK_TEXT, catalog.PIN_CAPTIONS, catalog.PIN_TEXT, catalog.QUERY_FEATURES,
    catalog.PIN_EMBEDDINGS, catalog.TEACHER_SCORES, catalog.STUDENT_EXAMPLES,
))


def volumes(tables, out: Path) -> Section:
    """Rows per table, counted from the Delta tables (the only section that reads tables, not JSON)."""
    section = Section("volumes", "Data volumes")
    counts = [(name, tables.read(name).count()) for name in TABLES if tables.exists(name)]
    if not counts:
        section.missing = "no tables found in the warehouse"
        return section
    plots.volumes_chart(out / "volumes.png", counts)
    section.images.append("volumes.png")
    section.tables.append(Table(("table", "rows"), [(n, f"{c:,}") for n, c in counts]))
    section.caption = (
        f"Rows per table: {len(counts)} tables; the teacher labels "
        f"{dict(counts).get(catalog.TEACHER_SCORES.name, 0):,} impressions from "
        f"{dict(counts).get(catalog.HUMAN_LABELS.name, 0):,} human labels."
    )
    return section


def throughput(reports: Path) -> Section:
    section = Section("throughput", "Labelling and serving throughput")
    # One file a run under label_runs/ (searchrel.core.files.add_record); warehouses from before
    # that keep their runs in one label_runs.json list.
    runs = (load_json(reports / "label_runs.json") or []) + read_records(reports / "label_runs")
    serving = load_json(reports / "student_serving.json") or {}
    compute = load_json(reports / "compute_ratio.json") or {}
    runs = [r for r in runs if isinstance(r, dict) and r.get("rows")]
    if not runs and not serving and not compute:
        section.missing = "no labelling runs or serving benchmark recorded"
        return section
    rows = [
        (f"teacher labelling (Spark pandas UDF, {r.get('backend', 'torch')})", f"{r.get('start')}..{r.get('end')}",
         f"{r.get('rows', 0):,} rows", f"{r.get('rows_per_s', 0):.1f} rows/s", f"{r.get('seconds', 0):.0f} s")
        for r in runs[-5:]
    ]
    for name, result in (serving.get("results") or {}).items():
        rows.append((f"student serving ({name})", f"1 query x {serving.get('pins_per_request')} pins",
                     f"p50 {result.get('p50_ms', 0):.2f} ms, p99 {result.get('p99_ms', 0):.2f} ms",
                     f"{result.get('rows_per_s', 0):,.0f} rows/s", f"{serving.get('threads')} thread(s)"))
    section.tables.append(Table(("what", "run", "volume / latency", "speed", "time"), rows))
    section.caption = (
        "The teacher's scoring speed per labelling run on this machine, and the distilled student's batched "
        "throughput and per-request latency on CPU: the gap is why the student is what serves."
    )
    if compute.get("ratio"):
        section.tables.append(compute_table(compute))
        section.caption += (
            " Compute per (query, pin) pair (bench/compute_ratio.py, one core): the student's MLP; at serving, with "
            "one query embedding per request (pins are embedded when indexed); in batch, with every query and pin "
            "of the day embedded once."
        )
    return section


def compute_table(compute: dict) -> Table:
    """Teacher against student per pair: FLOPs and one-core time, and their ratios."""
    teacher, student = compute["teacher"], compute["student"]
    embeddings, ratio = compute.get("student_embeddings_amortised") or {}, compute["ratio"]
    return Table(("per pair", "FLOPs", "one-core time", "teacher / this"), [
        ("teacher (cross-encoder)", f"{teacher['flops_per_pair'] / 1e9:.2f} G",
         f"{teacher['seconds_per_pair'] * 1e3:.2f} ms", "1"),
        ("student MLP", f"{student['flops_per_pair'] / 1e6:.3f} M", f"{student['seconds_per_pair'] * 1e6:.2f} us",
         f"x{ratio['flops_model_only']:,.0f} FLOPs, x{ratio['wall_one_core_model_only']:,.0f} time"),
        ("student at serving (+ one query embedding per request)",
         f"{(student['flops_per_pair'] + embeddings.get('serving_flops_per_pair', 0)) / 1e6:.2f} M", "–",
         f"x{ratio.get('flops_serving_with_query_embedding', float('nan')):,.0f} FLOPs"),
        ("student in batch (+ the day's query and pin embeddings)",
         f"{(student['flops_per_pair'] + embeddings.get('flops_per_pair', 0)) / 1e6:.2f} M",
         "–", f"x{ratio['flops_with_amortised_embeddings']:,.0f} FLOPs"),
    ])


def quality(reports: Path) -> Section:
    """The latest validation per table, from the index that `expectations.publishing` keeps."""
    section = Section("quality", "Data quality")
    index = load_json(reports / "validation" / "index.json")
    if not index or not index.get("tables"):
        section.missing = "no validation summaries (run `searchrel validate …`)"
        return section
    rows = []
    for table, entry in index["tables"].items():
        for ds, run in sorted(entry["runs"].items(), reverse=True)[:1]:
            rows.append((table, ds, "passed" if run.get("success") else "FAILED",
                         f"{(run.get('evaluated') or 0) - (run.get('failed') or 0)}/{run.get('evaluated') or 0}",
                         "; ".join((run.get("failures") or [])[:2])))
    section.tables.append(Table(("table", "partition", "result", "expectations passed", "what failed"), rows))
    section.links = [("validation/index.html", "Every validation run"),
                     ("data_docs/index.html", "great-expectations Data Docs")]
    failed = sum(1 for r in rows if r[2] == "FAILED")
    section.caption = (
        f"The latest validation of {len(rows)} tables: {failed} failed. Each gate stops what depends on its table; "
        "the Data Docs show every expectation with sample failing values."
    )
    return section


def reliability(reports: Path) -> Section:
    """What bench/faults.py killed and raced, and what was lost (nothing, or the page says how much)."""
    section = Section("reliability", "Reliability under faults")
    result = load_json(reports / "reliability.json")
    if not isinstance(result, dict) or not result.get("summary"):
        section.missing = "bench/faults.py has not written here (run it with --out <warehouse>/reports)"
        return section
    rows = [(s["fault"], s["kind"], ", ".join(s.get("jobs") or []), s["tries"], s["rows_lost"], s["rows_extra"],
             s["problems"], f"{s['recover_s_median']} / {s['recover_s_max']} s")
            for s in result["summary"]]
    section.tables.append(Table(("fault", "what was tried", "jobs", "tries", "rows lost", "rows extra",
                                 "runs with a problem", "time to recover (median / max)"), rows))
    lost = sum(s["rows_lost"] + s["rows_extra"] for s in result["summary"])
    section.caption = (
        f"Every writing job started as a process and SIGKILLed at fault points drawn at random "
        f"({result.get('repeats')} per job), then rerun; and writers racing for the same table. "
        f"Rows lost or extra against an uninterrupted run: {lost}. Time to recover is the rerun's wall time "
        f"(for a race, both writers'). From `{result.get('command')}` at {result.get('generated')}."
    )
    if result.get("partial"):
        section.caption += (f" Partial: {result.get('runs_done')} of the {result.get('runs_expected')} runs asked for "
                            "so far (the bench resumes where it stopped).")
    if int(result.get("parallel") or 1) > 1:
        section.caption += (f" {result['parallel']} kill-and-rerun repeats ran at once, so each recovery took longer "
                            "than it would alone.")
    return section
