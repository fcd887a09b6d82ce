"""Where validation results are published: the summary JSON per table and day, `index.json` and its HTML page.

great-expectations writes its own Data Docs site (see `checkpoint`); what is
here is ours: a summary per run that jobs, Airflow and the demo report read
without great-expectations, an index over all of them rebuilt from those
files, and a static page of that index that works without network access.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
from pathlib import Path
from typing import Any

from expectations.summary import SNAPSHOT, ValidationSummary
from searchrel.core.config import Config
from searchrel.core.errors import ConfigError
from searchrel.core.files import write_json_atomic, write_text_atomic
from searchrel.core.templates import environment

_TEMPLATES = environment("expectations", "templates")


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


def json_safe(value: Any) -> Any:
    """`value` as it will read back from JSON (dates and other objects as strings)."""
    return json.loads(json.dumps(value, default=str))


def write_summary(reports: Path, summary: ValidationSummary) -> None:
    """The run's summary JSON, then the index rebuilt to include it."""
    write_json_atomic(summary.summary_path, summary.to_dict())
    write_index(reports)


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
    write_json_atomic(path, index, default=None)
    write_text_atomic(path.with_suffix(".html"), index_html(index))
    return path


def index_html(index: dict[str, Any]) -> str:
    """A plain HTML page of every table's results, readable without network access.

    great-expectations' own index page draws its table with JavaScript from
    public CDNs, which an air-gapped cluster cannot reach; this page is static
    and links each run to its (static) Data Docs result page.
    """
    runs = [
        {"table": table, "ds": ds, "run": run, "passed": bool(run.get("success"))}
        for table, entry in index["tables"].items()
        for ds, run in sorted(entry["runs"].items(), reverse=True)
    ]
    return _TEMPLATES.get_template("validation_index.html.j2").render(index=index, runs=runs)
