"""Run a suite as a great-expectations 1.x checkpoint on a Spark DataFrame.

Everything great-expectations-specific about running lives here: the suite,
validation definition and checkpoint objects, the UpdateDataDocsAction that
refreshes the HTML site, and finding the result's Data Docs page. The runner
above it only sees a list of expectation results and a link.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame

from expectations.spec import TableSuite
from expectations.summary import SNAPSHOT
from searchrel.core.config import Config

log = logging.getLogger(__name__)


def result_format(config: Config) -> dict[str, Any]:
    """SUMMARY results with a few more failing rows than samples shown, so the distinct samples are not all one value."""
    return {"result_format": "SUMMARY", "partial_unexpected_count": max(20, config.validation.sample_size)}


def run_checkpoint(
    reports: Path | None, spec: TableSuite, ds: str | None, df: DataFrame, expectations: list, result_format: dict,
    publish: bool = True,
) -> tuple[list, str | None]:
    """Suite, validation definition and checkpoint (with the Data Docs action), then run it on `df`.

    Returns the expectation results and the file:// URL of the result's Data
    Docs page (None unless published). Without `publish` the context is
    in-memory and nothing is written.
    """
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
