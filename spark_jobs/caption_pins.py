"""`searchrel caption [--ds D]`: BLIP captions for new or changed pin images into features/pin_captions.

With `captions.model` null captioning is off: one log line, nothing written.
`--ds` only dates the quarantine partition of undecodable images (default: today, UTC).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

from pyspark.sql import functions as F

from searchrel.core import catalog
from spark_jobs import runner

log = logging.getLogger("searchrel.caption")

JOB = "caption"
OUTPUT = catalog.PIN_CAPTIONS.name


def run(ctx: runner.JobContext) -> dict[str, Any]:
    cap = ctx.config.captions
    if not cap.model:
        log.info("captioning is off (captions.model is null): features/pin_captions not written")
        return {"status": "off", "captioned": 0}
    from features.pin_captions import caption_column, image_rules, images_to_caption
    from searchrel.core.quarantine import reconcile, split_by_rules

    tables = ctx.tables
    ds = ctx.start if ctx.dates else dt.datetime.now(dt.timezone.utc).date().isoformat()
    images = tables.read(catalog.PIN_IMAGES.name)
    existing = tables.read(OUTPUT) if tables.exists(OUTPUT) else None
    todo = images_to_caption(images, existing, cap.model)
    rows_in = todo.count()
    log.info("%d image(s) new or changed since the last captioning with %s", rows_in, cap.model)
    if rows_in == 0:
        return {"status": "up to date", "captioned": 0}
    pre_good, pre_bad = split_by_rules(todo, image_rules())
    result = pre_good.withColumn("__c", caption_column("image", cap.model, cap.max_new_tokens, cap.batch_size))
    # Captioning is the expensive step: materialise it once, then split it.
    result = result.select("pin_id", "image_sha256", "image", "__c.caption", "__c.error").localCheckpoint()
    captions = result.where(F.col("error").isNull()).select(
        "pin_id", "caption", F.lit(cap.model).alias("captioner"), "image_sha256"
    )
    undecodable = result.where(F.col("error").isNotNull()).select(
        "pin_id", "image_sha256", F.col("error").alias("reason")
    )
    rejected = pre_bad.select("pin_id", "image_sha256", "reason").unionByName(undecodable)
    n_bad = tables.quarantine(catalog.PIN_IMAGES.name, rejected, JOB, ctx.run_id, ds, ds, ds_col=None)
    n_good = captions.count()
    reconcile(JOB, catalog.PIN_IMAGES.name, rows_in, n_good, n_bad)
    if n_good:
        tables.merge(OUTPUT, captions, keys=catalog.PIN_CAPTIONS.keys)
    return {"status": "captioned", "captioned": n_good, "quarantined": n_bad, "model": cap.model}


main = runner.entry_point(JOB, run, dates="optional", description=__doc__)

if __name__ == "__main__":
    sys.exit(main())
