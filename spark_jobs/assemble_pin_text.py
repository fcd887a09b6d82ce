"""`searchrel assemble-text --ds D | --start S --end E`: features/pin_text for each as_of.

Reads raw/pins and whatever pin-text features exist (captions, query tokens,
board tokens, link text of the same as_of); a missing feature table is logged
and its part left empty rather than failing the run, so the teacher can train
on titles alone in a fresh warehouse. Pins with unusable text go to quarantine.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from searchrel.core import catalog
from spark_jobs import runner

log = logging.getLogger("searchrel.assemble_text")

JOB = "assemble-text"
OUTPUT = catalog.PIN_TEXT.name


def run(ctx: runner.JobContext) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from features.pin_text import EMPTY_TEXT_REASON, assemble_pin_text, pin_rules
    from features.text_template import TEMPLATE_VERSION
    from searchrel.core.errors import ConfigError
    from searchrel.core.quarantine import reconcile, split_by_rules

    cfg = ctx.config.features
    if cfg.text.template_version != TEMPLATE_VERSION:
        raise ConfigError(
            f"features.text.template_version {cfg.text.template_version!r}: this code renders template {TEMPLATE_VERSION!r}"
        )
    tables, start, end = ctx.tables, ctx.start, ctx.end

    pins = tables.read(catalog.PINS.name)
    good, bad = split_by_rules(pins, pin_rules(cfg.max_text_chars))
    rows_in, n_good = pins.count(), good.count()
    n_bad = tables.quarantine(catalog.PINS.name, bad, JOB, ctx.run_id, start, end, ds_col=None,
                              known_count=rows_in - n_good)
    reconcile(JOB, catalog.PINS.name, rows_in, n_good, n_bad)

    def optional(name: str, dated: bool = True):
        if not tables.exists(name):
            log.warning("%s does not exist yet: its part of the pin text stays empty", name)
            return None
        return tables.read_range(name, start, end, col="as_of") if dated else tables.read(name)

    out = assemble_pin_text(
        good, start, end, cfg.text.budgets, TEMPLATE_VERSION,
        captions=optional(catalog.PIN_CAPTIONS.name, dated=False),
        query_tokens=optional(catalog.PIN_QUERY_TOKENS.name),
        board_tokens=optional(catalog.PIN_BOARD_TOKENS.name),
        link_text=optional(catalog.PIN_LINK_TEXT.name),
    )
    # A pin with no title, description or enrichment at all has nothing for the
    # teacher to read: it is quarantined for that snapshot rather than stored empty.
    out = out.persist()
    usable, empty = split_by_rules(out, [(EMPTY_TEXT_REASON, F.trim("text") == "")])
    written = tables.replace_range(OUTPUT, usable, start, end, col="as_of")
    assembled = out.count()
    # Most days have no empty text: knowing that, the quarantine skips its commit.
    n_empty = tables.quarantine(OUTPUT, empty, JOB, ctx.run_id, start, end, ds_col="as_of",
                                known_count=assembled - written)
    reconcile(JOB, OUTPUT, assembled, written, n_empty)
    out.unpersist()
    log.info("%s: %d rows for %s .. %s, template %s", OUTPUT, written, start, end, TEMPLATE_VERSION)
    return {"start": start, "end": end, "pin_text_rows": written, "pins_quarantined": n_bad, "empty_text_quarantined": n_empty,
            "template_version": TEMPLATE_VERSION}


main = runner.entry_point(JOB, run, dates="required", description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
