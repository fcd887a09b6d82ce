"""Every table of the warehouse, in one place: name, partition column, keys, fixed schema, gating suite.

A table is addressed `<layer>/<name>` under the warehouse root (see
`searchrel.core.tables`). Jobs, suites, the simulator and the report read the
names from here rather than spelling them out; `expectations.registry` holds one
suite per gated table and `tests/test_layers.py` checks that the two agree.

- `partition` is the date column a batch of the table is addressed by (what
  `--ds` selects and what jobs replace with `replaceWhere`): `ds` for daily
  tables, `as_of` for snapshots, None for tables written whole or by MERGE.
- `stored_by` is the Delta partitioning on disk when it differs from
  `partition` (the daily partials keep one file per month).
- `keys` are the columns that identify a row (empty: an event log, rows may repeat).
- `schema` is a Spark DDL string where the contract is fixed in code (the table
  is created from it before the first write); elsewhere the columns are those of
  DESIGN.md's table list and the suite's `schema(...)` expectation.
- `suite` is the name of the great-expectations suite that gates the table
  (`layer__name`), None for internal tables no suite checks.

Rejected rows of a table go to `quarantine/<layer>_<name>` (`quarantine.quarantine_name`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    partition: str | None
    keys: tuple[str, ...]
    description: str
    written_by: str  # the job (spark_jobs/<module>.py) or other writer
    gated: bool = True
    stored_by: tuple[str, ...] | None = None
    schema: str | None = None

    @property
    def layer(self) -> str:
        return self.name.split("/")[0]

    @property
    def suite(self) -> str | None:
        """The name of the expectation suite that gates the table."""
        return self.name.replace("/", "__") if self.gated else None


# -- raw/: written by the simulator (or the real logging system), labels also by import-labels -----

PINS = Table("raw/pins", None, ("pin_id",), "the pin catalogue", "simulation.world, import_labels")
PIN_IMAGES = Table("raw/pin_images", None, ("pin_id",), "encoded pin images", "simulation.world")
SEARCH_EVENTS = Table("raw/search_events", "ds", (), "one day of search logs", "simulation.world")
BOARD_PINS = Table("raw/board_pins", None, ("board_id", "pin_id"), "pins saved to boards", "simulation.world")
LINK_VISITS = Table("raw/link_visits", "ds", (), "one day of visits to linked pages", "simulation.world")
HUMAN_LABELS = Table("raw/human_labels", None, ("query", "pin_id"), "human relevance labels",
                     "simulation.world, import_labels")
HUMAN_LABEL_RATINGS = Table("raw/human_label_ratings", None, ("query", "pin_id", "rater_id"),
                            "every rater's label (raw/human_labels holds their median)", "simulation.world")
IMPRESSIONS = Table("raw/impressions", "ds", ("query", "pin_id", "ds"), "one day of impressions to label",
                    "simulation.world")

# -- eval/: the simulator's ground truth, never read by the pipeline ------------------------------

TRUE_RELEVANCE = Table("eval/true_relevance", None, ("query", "pin_id"), "the simulated world's true relevance",
                       "simulation.world", gated=False)
PIN_CONCEPTS = Table("eval/pin_concepts", None, ("pin_id",), "the concepts each simulated pin shows",
                     "simulation.world", gated=False)
QUERY_CONCEPTS = Table("eval/query_concepts", None, ("query",), "the concepts each simulated query asks for",
                       "simulation.world", gated=False)

# -- features/ ----------------------------------------------------------------------------------------

PIN_QUERY_TOKEN_DAILY = Table("features/pin_query_token_daily", "ds", ("pin_id", "token", "ds"),
                              "daily partial sums of query-token weights per pin", "aggregate_features",
                              stored_by=("month",))
# Texts that differ only in case share a text_key and are counted apart (the snapshot shows the commonest).
PIN_LINK_TEXT_DAILY = Table("features/pin_link_text_daily", "ds", ("pin_id", "ds", "field", "text_key", "text"),
                            "daily long-click link text counts per pin",
                            "aggregate_features", stored_by=("month",))
PIN_FEATURE_DAYS = Table("features/pin_feature_days", "ds", ("ds",), "the days whose partials are computed",
                         "aggregate_features", stored_by=())
PIN_QUERY_TOKENS = Table("features/pin_query_tokens", "as_of", ("pin_id", "as_of"),
                         "top query tokens per pin, as of a day", "aggregate_features")
PIN_BOARD_TOKENS = Table("features/pin_board_tokens", "as_of", ("pin_id", "as_of"),
                         "top board-title tokens per pin, as of a day", "aggregate_features")
PIN_LINK_TEXT = Table("features/pin_link_text", "as_of", ("pin_id", "as_of"),
                      "linked-page titles and descriptions per pin, as of a day", "aggregate_features")
PIN_CAPTIONS = Table("features/pin_captions", None, ("pin_id",), "BLIP captions per pin image", "caption_pins")
PIN_TEXT = Table("features/pin_text", "as_of", ("pin_id", "as_of"), "assembled pin text", "assemble_pin_text")
QUERY_FEATURES = Table("features/query_features", None, ("query",), "query embeddings and categoricals",
                       "build_student_examples")
PIN_EMBEDDINGS = Table("features/pin_embeddings", "as_of", ("pin_id", "as_of"), "pin text and graph embeddings",
                       "build_student_examples")
STUDENT_EXAMPLES = Table("features/student_examples", "ds", ("query", "pin_id", "ds", "source"),
                         "the student's training rows", "build_student_examples")

# -- labels/ ------------------------------------------------------------------------------------------

TEACHER_SCORES = Table(
    "labels/teacher_scores", "ds", ("query", "pin_id", "ds", "teacher_version"),
    "teacher soft labels for one day of impressions", "label_impressions",
    schema=(
        "query string, pin_id string, ds string, teacher_version string, probs array<float>, "
        "label int, expected_relevance float, scored_at timestamp, backend string"
    ),
)

TABLES: dict[str, Table] = {
    t.name: t for t in (
        PINS, PIN_IMAGES, SEARCH_EVENTS, BOARD_PINS, LINK_VISITS, HUMAN_LABELS, HUMAN_LABEL_RATINGS, IMPRESSIONS,
        TRUE_RELEVANCE, PIN_CONCEPTS, QUERY_CONCEPTS,
        PIN_QUERY_TOKEN_DAILY, PIN_LINK_TEXT_DAILY, PIN_FEATURE_DAYS,
        PIN_QUERY_TOKENS, PIN_BOARD_TOKENS, PIN_LINK_TEXT, PIN_CAPTIONS, PIN_TEXT,
        QUERY_FEATURES, PIN_EMBEDDINGS, STUDENT_EXAMPLES, TEACHER_SCORES,
    )
}


def table(name: str) -> Table:
    """The catalog entry of `layer/name`; KeyError names the table when there is none."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the catalog (searchrel/core/catalog.py)") from None


def gated() -> list[Table]:
    """The tables an expectation suite gates, in pipeline order."""
    return [t for t in TABLES.values() if t.gated]
