"""Reading the teacher's labelled rows from the warehouse (shared by teacher-train and evaluate).

Training records the Delta versions it read; evaluation reads the same
versions back (Delta time travel), so a teacher's test split is exactly the
rows it was held out on even after new labels arrive.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.query_features import query_languages

from modeling.teacher_data import assign_split, labelled_pin_text, labelled_raw_pins, render_texts
from searchrel.core import catalog
from searchrel.core.tables import Tables

log = logging.getLogger(__name__)

LABELS, PIN_TEXT, PINS = catalog.HUMAN_LABELS.name, catalog.PIN_TEXT.name, catalog.PINS.name
IMPRESSIONS = catalog.IMPRESSIONS.name


def _read_at(tables: Tables, name: str, version: int | None) -> DataFrame:
    if version is None:
        return tables.read(name)
    try:
        return tables.spark.read.format("delta").option("versionAsOf", version).load(tables.path(name))
    except Exception as exc:  # noqa: BLE001 - vacuumed history: fall back to the latest, and say so
        log.warning("%s version %s is no longer readable (%s); using the latest", name, version,
                    str(exc).splitlines()[0])
        return tables.read(name)


def load_labelled(
    tables: Tables,
    split: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    snapshot: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(rows with query, pin_id, label, split, lang, part_* columns, …; the snapshot that was read).

    Uses features/pin_text when it exists, else title + description from raw/pins
    (logged: the enriched-text parts are then empty).
    """
    versions = dict((snapshot or {}).get("versions", {}))
    source = (snapshot or {}).get("text_source")
    if source is None:
        source = PIN_TEXT if tables.exists(PIN_TEXT) else PINS
    if source == PINS:
        log.info("features/pin_text not found: pin text is title + description from raw/pins")
    for name in (LABELS, source):
        versions.setdefault(name, tables.version(name))
    labels = _read_at(tables, LABELS, versions[LABELS])
    text = _read_at(tables, source, versions[source])
    joined = labelled_pin_text(labels, text) if source == PIN_TEXT else labelled_raw_pins(labels, text)
    if tables.exists(IMPRESSIONS):
        # The query's language, as served (per-language metrics); imported label sets have none.
        joined = joined.join(query_languages(tables.read(IMPRESSIONS)), "query", "left")
    else:
        joined = joined.withColumn("lang", F.lit(None).cast("string"))
    rows = assign_split(joined, split, val_fraction, test_fraction, seed)
    frame = rows.orderBy("query", "pin_id").toPandas()
    n_labels = labels.count()
    after = int(frame["text_as_of_after_label"].sum()) if len(frame) else 0
    if len(frame) < n_labels:
        log.warning("%d of %d labelled pairs have no pin text and are left out", n_labels - len(frame), n_labels)
    if after:
        log.info("%d labelled pairs predate every pin_text snapshot and use the earliest one after their label date",
                 after)
    info = {
        "versions": versions,
        "text_source": source,
        "labels_total": int(n_labels),
        "rows_with_text": int(len(frame)),
        "text_after_label_date": after,
        "template_versions": sorted(set(frame["template_version"].dropna())) if len(frame) else [],
    }
    return frame, info


def texts_for(frame: pd.DataFrame, parts: list[str], budgets: dict[str, int] | None, source: str) -> list[str]:
    """Render each row's text from the chosen parts (raw/pins text is cut to the template budgets first)."""
    return render_texts(frame, parts, budgets if source == PINS else None)


def label_distribution(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, part in frame.groupby("split"):
        out[str(name)] = {str(k): int(v) for k, v in part["label"].value_counts().sort_index().items()}
    return out

