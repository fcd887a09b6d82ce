"""The great-expectations project that holds suites, results and the Data Docs site.

A file-backed context under `<reports>/gx/` so that validation results of
earlier runs stay in its store and the Data Docs index lists every table and
day validated so far, not only the last run. The HTML site itself is written
to `<reports>/data_docs/` (configured here, overriding GE's default folder
under `uncommitted/`). great-expectations keeps its own configuration in
`gx/great_expectations.yml`; concurrent validate jobs (parallel Airflow
tasks) serialise on a file lock while they touch it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage statistics phoning home

SITE_NAME = "local_site"
DATASOURCE = "searchrel"
BATCH_DEFINITION = "batch"


def site_config(docs_dir: Path) -> dict:
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }


@contextmanager
def locked(reports_dir: Path) -> Iterator[None]:
    """Hold the project's lock (other processes validating into the same reports folder wait)."""
    from filelock import FileLock

    reports_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(reports_dir / ".gx.lock"), timeout=600):
        yield


def open_context(reports_dir: Path):
    """The file context rooted at `reports_dir` with its Data Docs site in `reports_dir/data_docs`."""
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=str(reports_dir))
    wanted = site_config(reports_dir / "data_docs")
    sites = context.list_data_docs_sites()
    if sites.get(SITE_NAME) != wanted:
        if SITE_NAME in sites:
            context.update_data_docs_site(SITE_NAME, wanted)
        else:
            context.add_data_docs_site(SITE_NAME, wanted)
    for other in [name for name in sites if name != SITE_NAME]:
        context.delete_data_docs_site(other)
    return context


def batch_definition(context, asset_name: str):
    """The whole-DataFrame batch definition of the asset named for a table (created once)."""
    try:
        source = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError, LookupError):
        source = context.data_sources.add_spark(name=DATASOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=asset_name)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except (KeyError, LookupError, ValueError):
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
