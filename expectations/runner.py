"""Run a table's suite on one partition, publish Data Docs and a summary, and gate on it.

`validate_table` reads only the partition asked for (Delta prunes the rest),
works out the thresholds that depend on other data (the previous partition's
row count, the human label distribution, …) with Spark, and runs the suite as
a great-expectations 1.x checkpoint on the cached Spark DataFrame. The
checkpoint's UpdateDataDocsAction refreshes the HTML site under
`<reports>/data_docs/`; a JSON summary per table and day goes to
`<reports>/validation/`, with an `index.json` over all of them for the demo
report. `gate` is what jobs call after a write: a failed suite raises
`JobFailed` with a message naming each failed expectation and sample failing
values, so nothing that depends on the table runs on bad data.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from expectations.describe import ExpectationOutcome, outcome_from_result
from expectations.registry import SUITES, suite_for
from expectations.spec import SuiteInputs, TableSuite
from searchrel.core.config import Config
from searchrel.core.dates import ds_predicate
from searchrel.core.errors import ConfigError, JobFailed, TableNotFound, UsageError
from searchrel.core.tables import Tables

log = logging.getLogger(__name__)

SNAPSHOT = "snapshot"  # the summary key of an unpartitioned table validated without --ds


class UnknownTable(UsageError):
    """No suite exists for the table name (exit code 2: a bad argument)."""


@dataclass
class ValidationSummary:
    """The outcome of one suite on one batch; `to_dict` is what the summary JSON holds."""

    table: str
    ds: str | None
    partition: str | None
    suite: str
    success: bool
    rows: int
    evaluated: int
    failed: int
    results: list[ExpectationOutcome]
    data_docs_index: str
    data_docs_page: str | None
    summary_path: str
    validated_at: str
    seconds: float
    reference: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def message(self) -> str:
        """Several lines a data engineer can act on: what failed, by how much, examples, where to look."""
        where = f"{self.table} {self.partition}={self.ds}" if self.partition else self.table
        if self.success:
            head = f"{where}: all {self.evaluated} expectations passed on {self.rows:,} rows"
        else:
            head = f"{where}: {self.failed} of {self.evaluated} expectations FAILED on {self.rows:,} rows"
        lines = [head]
        for outcome in self.failures:
            line = f"  - {outcome.text}"
            if outcome.notes:
                line += f"  [{outcome.notes}]"
            lines.append(line)
        lines.append(f"  report: {self.data_docs_page or self.data_docs_index}")
        lines.append(f"  summary: {self.summary_path}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "ds": self.ds,
            "partition": self.partition,
            "suite": self.suite,
            "success": self.success,
            "rows": self.rows,
            "evaluated": self.evaluated,
            "failed": self.failed,
            "failures": [r.text for r in self.failures],
            "results": [r.to_dict() for r in self.results],
            "reference": self.reference,
            "data_docs_index": self.data_docs_index,
            "data_docs_page": self.data_docs_page,
            "summary_path": self.summary_path,
            "validated_at": self.validated_at,
            "seconds": round(self.seconds, 2),
        }


# -- paths ----------------------------------------------------------------------


def reports_dir(config: Config) -> Path:
    """Local folder for Data Docs and summaries (great-expectations writes local files)."""
    chosen = config.validation.reports_dir or config.reports_path
    if "://" in chosen:
        raise ConfigError(
            f"validation reports need a local folder, but {chosen!r} is a URI: set validation.reports_dir"
        )
    return Path(chosen).expanduser().resolve()


def summary_path(reports: Path, table: str, ds: str | None) -> Path:
    return reports / "validation" / f"{table.replace('/', '__')}__{ds or SNAPSHOT}.json"


def data_docs_index(reports: Path) -> Path:
    return reports / "data_docs" / "index.html"


# -- thresholds from other data ---------------------------------------------------


def latest_partition(tables: Tables, table: str, col: str) -> str | None:
    row = tables.read(table).agg(F.max(F.col(col).cast("string")).alias("m")).first()
    return row["m"] if row else None


def previous_partition(
    tables: Tables, table: str, col: str, ds: str, lookback_days: int, comparable_rows: str | None = None
) -> tuple[str, int] | None:
    """(partition, rows) of the newest partition before `ds` within the lookback window.

    Bounded by the window so that Delta reads only those partitions' metadata,
    however long the table's history.
    """
    first = (dt.date.fromisoformat(ds) - dt.timedelta(days=lookback_days)).isoformat()
    last = (dt.date.fromisoformat(ds) - dt.timedelta(days=1)).isoformat()
    window = tables.read(table).where(ds_predicate(first, last, col))
    if comparable_rows:
        window = window.where(comparable_rows)
    rows = (
        window
        .groupBy(F.col(col).cast("string").alias("p")).count()
        .orderBy(F.col("p").desc()).limit(1).collect()
    )
    return (rows[0]["p"], int(rows[0]["count"])) if rows else None


def previous_version_rows(tables: Tables, table: str) -> tuple[int, int] | None:
    """(version, rows) of the Delta version before the current one, for unpartitioned tables."""
    version = tables.version(table)
    if not version:
        return None
    df = tables.spark.read.format("delta").option("versionAsOf", version - 1).load(tables.path(table))
    return version - 1, df.count()


def row_count_bounds(
    tables: Tables, config: Config, spec: TableSuite, ds: str | None
) -> tuple[tuple[int, int | None], str, dict[str, Any]]:
    """Bounds for this batch's row count and a note that says where they come from."""
    tol = config.validation.row_count_tolerance
    if spec.partition and ds:
        prev = previous_partition(
            tables, spec.table, spec.partition, ds, config.validation.previous_lookback_days, spec.comparable_rows
        )
        if prev is None:
            note = (
                f"No earlier partition within {config.validation.previous_lookback_days} days "
                f"(validation.previous_lookback_days): the partition only has to be non-empty."
            )
            return (1, None), note, {"previous_partition": None}
        p, n = prev
        low, high = max(1, math.floor(n * (1 - tol))), math.ceil(n * (1 + tol))
        note = (
            f"The previous partition {spec.partition}={p} had {n:,} rows; validation.row_count_tolerance="
            f"{tol:g} allows {low:,} to {high:,}."
        )
        return (low, high), note, {"previous_partition": p, "previous_rows": n}
    prev_v = previous_version_rows(tables, spec.table)
    if prev_v is None or prev_v[1] == 0:
        return (1, None), "First version of the table: it only has to be non-empty.", {"previous_version": None}
    version, n = prev_v
    low = max(1, math.floor(n * (1 - tol)))
    note = (
        f"The previous table version {version} had {n:,} rows; it may grow, but shrink by at most "
        f"validation.row_count_tolerance={tol:g} (at least {low:,} rows)."
    )
    return (low, None), note, {"previous_version": version, "previous_rows": n}


# -- running ---------------------------------------------------------------------


def _batch(tables: Tables, spec: TableSuite, ds: str | None) -> tuple[DataFrame, str | None]:
    if not tables.exists(spec.table):
        raise TableNotFound(f"table {spec.table} does not exist under {tables.root} (has its job run?)")
    if not spec.partition:
        return tables.read(spec.table), ds
    if ds is None:
        ds = latest_partition(tables, spec.table, spec.partition)
        if ds is None:
            raise JobFailed(f"{spec.table} is empty: no partition to validate")
        log.info("%s: no --ds given, validating the latest partition %s=%s", spec.table, spec.partition, ds)
    return tables.read_range(spec.table, ds, ds, col=spec.partition), ds


def _result_format(config: Config) -> dict[str, Any]:
    # A few more failing rows than samples shown, so that the distinct samples are not all one value.
    return {"result_format": "SUMMARY", "partial_unexpected_count": max(20, config.validation.sample_size)}


def validate_table(
    tables: Tables, config: Config, table: str, ds: str | None = None, publish: bool = True
) -> ValidationSummary:
    """Validate one table (one partition of a partitioned table) and publish the reports.

    Raises UnknownTable for a table without a suite and TableNotFound when the
    table was never written; a failing suite is not an exception here (see `gate`).
    `publish=False` validates in an in-memory great-expectations context and
    writes no Data Docs or summary (seconds cheaper; for checks inside tests or notebooks).
    """
    spec = suite_for(table)
    if spec is None:
        raise UnknownTable(f"no expectation suite for table {table!r}; known: {', '.join(sorted(SUITES))}")
    t0 = time.perf_counter()
    reports = reports_dir(config) if publish else None
    batch, ds = _batch(tables, spec, ds)
    bounds, note, counts = row_count_bounds(tables, config, spec, ds)
    reference = {**counts, **spec.reference(tables, ds, batch, config)}
    inputs = SuiteInputs(table, ds, config, bounds, note, reference)
    derived = spec.derive(batch, inputs).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rows = derived.count()
        expectations = spec.build(inputs)
        for expectation in expectations:
            expectation.catch_exceptions = True  # a broken column fails its check instead of the run
        log.info("validating %s%s: %d rows, %d expectations", table, f" {spec.partition}={ds}" if spec.partition else "",
                 rows, len(expectations))
        results, page = _run_checkpoint(reports, spec, ds, derived, expectations, _result_format(config), publish)
    finally:
        derived.unpersist()
    outcomes = [outcome_from_result(r, config.validation.sample_size) for r in results]
    summary = ValidationSummary(
        table=table, ds=ds, partition=spec.partition, suite=spec.suite_name,
        success=all(o.success for o in outcomes), rows=rows, evaluated=len(outcomes),
        failed=sum(not o.success for o in outcomes), results=outcomes,
        data_docs_index=str(data_docs_index(reports)) if reports else "", data_docs_page=page,
        summary_path=str(summary_path(reports, table, ds)) if reports else "",
        validated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        seconds=time.perf_counter() - t0, reference=_json_safe(reference),
    )
    if reports:
        _write_summary(reports, summary)
    log.info(
        "%s%s: %s (%d/%d expectations passed, %.1f s); report %s", table, f" {spec.partition}={ds}" if spec.partition else "",
        "passed" if summary.success else "FAILED", summary.evaluated - summary.failed, summary.evaluated,
        summary.seconds, summary.data_docs_page or summary.data_docs_index,
    )
    return summary


def _run_checkpoint(
    reports: Path | None, spec: TableSuite, ds: str | None, df: DataFrame, expectations: list, result_format: dict,
    publish: bool = True,
) -> tuple[list, str | None]:
    """Suite, validation definition and checkpoint (with the Data Docs action), then run it on `df`."""
    import great_expectations as gx

    from expectations.context import SITE_NAME, batch_definition, locked, open_context

    publish = publish and reports is not None
    with locked(reports) if publish else nullcontext():
        context = open_context(reports) if publish else gx.get_context(mode="ephemeral")
        suite = gx.ExpectationSuite(name=spec.suite_name, expectations=expectations,
                                    meta={"table": spec.table, "description": spec.description})
        suite = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=spec.suite_name, data=batch_definition(context, spec.suite_name), suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=spec.suite_name,
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs", site_names=[SITE_NAME])]
                if publish else [],
                result_format=result_format,
            )
        )
        run_id = gx.RunIdentifier(run_name=ds or SNAPSHOT, run_time=dt.datetime.now(dt.timezone.utc))
        result = checkpoint.run(batch_parameters={"dataframe": df}, run_id=run_id)
        (identifier, validation), = result.run_results.items()
        page = _docs_page(context, identifier) if publish else None
    return list(validation.results), page


def _docs_page(context, identifier) -> str | None:
    """file:// URL of this result's Data Docs page."""
    from expectations.context import SITE_NAME

    try:
        urls = context.get_docs_sites_urls(resource_identifier=identifier, site_name=SITE_NAME)
    except Exception as exc:  # noqa: BLE001 - the link is a convenience; the result matters
        log.debug("no Data Docs link for %s: %s", identifier, exc)
        return None
    return urls[0]["site_url"] if urls else None


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write_summary(reports: Path, summary: ValidationSummary) -> None:
    path = Path(summary.summary_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, json.dumps(summary.to_dict(), indent=2, default=str))
    write_index(reports)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_index(reports: Path) -> Path:
    """`validation/index.json`: the latest result per table and every day's result, rebuilt from the summaries.

    Rebuilt by scanning rather than updated in place, so concurrent validate
    jobs cannot lose each other's entries.
    """
    tables: dict[str, dict[str, Any]] = {}
    for file in sorted(glob.glob(str(reports / "validation" / "*__*__*.json"))):
        try:
            data = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        brief = {k: data.get(k) for k in ("ds", "success", "rows", "evaluated", "failed", "failures",
                                          "validated_at", "data_docs_page", "summary_path")}
        entry = tables.setdefault(data["table"], {"runs": {}})
        entry["runs"][data.get("ds") or SNAPSHOT] = brief
    for entry in tables.values():
        entry["latest"] = max(entry["runs"].values(), key=lambda b: b.get("validated_at") or "")
    index = {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data_docs_index": str(data_docs_index(reports)),
        "all_passed": all(e["latest"]["success"] for e in tables.values()),
        "tables": dict(sorted(tables.items())),
    }
    path = reports / "validation" / "index.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, json.dumps(index, indent=2))
    _atomic_write(path.with_suffix(".html"), _index_html(index))
    return path


def _index_html(index: dict[str, Any]) -> str:
    """A plain HTML page of every table's results, readable without network access.

    great-expectations' own index page draws its table with JavaScript from
    public CDNs, which an air-gapped cluster cannot reach; this page is static
    and links each run to its (static) Data Docs result page.
    """
    from html import escape

    rows = []
    for table, entry in index["tables"].items():
        for ds, run in sorted(entry["runs"].items(), reverse=True):
            status = "passed" if run.get("success") else "FAILED"
            link = run.get("data_docs_page") or ""
            what = "<br>".join(escape(f) for f in run.get("failures") or []) or "&nbsp;"
            anchor = f'<a href="{escape(link)}">Data Docs</a>' if link else ""
            rows.append(
                f"<tr class='{status.lower()}'><td>{escape(table)}</td><td>{escape(ds)}</td>"
                f"<td>{status}</td><td>{run.get('evaluated', 0) - run.get('failed', 0)}/{run.get('evaluated', 0)}</td>"
                f"<td>{run.get('rows', 0):,}</td><td>{what}</td>"
                f"<td>{anchor}</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>searchrel data quality</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px 8px;vertical-align:top}tr.failed td{background:#fde2e2}tr.passed td:nth-child(3){color:#176b2c}"
        "</style></head><body><h1>searchrel data quality</h1>"
        f"<p>Generated {escape(index['generated_at'])}. Full great-expectations Data Docs: "
        f"<a href='{escape(index['data_docs_index'])}'>{escape(index['data_docs_index'])}</a></p>"
        "<table><tr><th>table</th><th>partition</th><th>status</th><th>passed</th><th>rows</th>"
        "<th>what failed</th><th>report</th></tr>" + "".join(rows) + "</table></body></html>"
    )


def gate(tables: Tables, config: Config, table: str, ds: str | None = None) -> ValidationSummary:
    """Validate and stop the pipeline on failure: raises JobFailed naming what failed.

    With `validation.fail_fast: false` a failure is logged and the summary
    returned, for report-only runs (e.g. a backfill that is being investigated).
    """
    try:
        summary = validate_table(tables, config, table, ds)
    except TableNotFound as exc:
        raise JobFailed(str(exc)) from None
    if not summary.success:
        if config.validation.fail_fast:
            raise JobFailed("data quality gate: " + summary.message())
        log.warning("validation.fail_fast is off: continuing although %s failed its suite", table)
    return summary
