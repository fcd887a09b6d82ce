"""The data and pipeline sections of the configuration (searchrel.core.config assembles them).

Each section forbids unknown keys, so a typo in a config file names the key instead of
being ignored; `validate_assignment` keeps `--set`-style changes made in code checked too.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def check_ds(value: str) -> str:
    """A ds is exactly yyyy-MM-dd: `date.fromisoformat` alone also takes 20261123."""
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected a date yyyy-MM-dd, got {value!r}") from exc
    if len(value) != 10:
        raise ValueError(f"expected a date yyyy-MM-dd, got {value!r}")
    return value


class SparkConfig(Section):
    master: str = "local[*]"
    app_name: str = "searchrel"
    # None sizes shuffles to the cores (2 x cores): Spark's default of 200 makes
    # tiny local jobs spend their time scheduling empty tasks.
    shuffle_partitions: int | None = Field(default=None, ge=1)
    driver_memory: str = "4g"
    ui_enabled: bool = False
    log_level: str = "WARN"
    # A folder of Delta jars fetched beforehand (mvn dependency:copy); when set,
    # Spark uses them instead of resolving --packages from Maven Central.
    jars_dir: str | None = None
    conf: dict[str, str] = Field(default_factory=dict)
    # Tries of a Delta write that loses the commit race to a concurrent writer
    # (searchrel.core.tables.Tables.commit); 1 makes the loser fail at once, in one line.
    commit_attempts: int = Field(default=5, ge=1)


class SimulationConfig(Section):
    seed: int = 7
    # The last simulated day; events reach back `history_days` before it.
    end_ds: str = "2026-11-23"
    history_days: int = Field(default=800, ge=1)
    # Days at the end of the history whose impressions are left for the teacher.
    impression_days: int = Field(default=3, ge=1)
    # Side of the square PNG written per pin in raw/pin_images.
    image_size: int = Field(default=32, ge=8, le=512)
    # Raters per labelled pair; raw/human_labels keeps their median.
    raters_per_pair: int = Field(default=3, ge=1, le=9)

    @field_validator("end_ds")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        return check_ds(value)


class QueryTokensConfig(Section):
    window_days: int = Field(default=730, ge=1)
    top_k: int = Field(default=20, ge=1)
    # Engagement weights: saves and long clicks say more about relevance than clicks.
    weights: dict[str, float] = Field(
        default_factory=lambda: {"click": 1.0, "closeup": 0.5, "save": 3.0, "long_click": 3.0}
    )
    long_click_dwell_s: float = Field(default=10.0, ge=0)


class BoardTokensConfig(Section):
    top_k: int = Field(default=20, ge=1)


class LinkTextConfig(Section):
    min_dwell_s: float = Field(default=10.0, ge=0)
    # Trailing window of link visits per snapshot (as_of and the 729 days before it).
    window_days: int = Field(default=730, ge=1)
    max_items: int = Field(default=3, ge=1)
    max_chars: int = Field(default=200, ge=1)


class TextConfig(Section):
    template_version: str = "v1"
    # Token budget per part, so that no part crowds out the others.
    budgets: dict[str, int] = Field(
        default_factory=lambda: {
            "title": 32,
            "description": 64,
            "caption": 24,
            "query_tokens": 24,
            "board_tokens": 16,
            "link_text": 32,
        }
    )


class FeaturesConfig(Section):
    min_token_len: int = Field(default=2, ge=1)
    max_text_chars: int = Field(default=10_000, ge=1)
    query_tokens: QueryTokensConfig = Field(default_factory=QueryTokensConfig)
    board_tokens: BoardTokensConfig = Field(default_factory=BoardTokensConfig)
    link_text: LinkTextConfig = Field(default_factory=LinkTextConfig)
    text: TextConfig = Field(default_factory=TextConfig)


class CaptionsConfig(Section):
    # Local path or hub id of a BLIP captioning model; None = captioning off.
    model: str | None = None
    batch_size: int = Field(default=16, ge=1)
    max_new_tokens: int = Field(default=24, ge=1)


class ImportLabelsConfig(Section):
    # Bins that map an averaged score to the 1..5 scale: a score s gets label i+1
    # for the first edge with s <= edge (Home Depot's 1..3 means by default).
    score_bins: list[float] = Field(default_factory=lambda: [1.5, 2.0, 2.5, 2.84, 3.0])


class ValidationConfig(Section):
    # A partition may differ from the previous one by at most this fraction.
    row_count_tolerance: float = Field(default=0.5, ge=0)
    # The same for a day of raw/search_events, tighter: a day's traffic moves little from the
    # day before, and a day with half its events missing (a lost upload) must fail, which the
    # general 0.5 lets through exactly at the bound.
    search_events_row_count_tolerance: float = Field(default=0.4, ge=0)
    # The fewest relevance levels a teacher version may give a day's impressions (checked on
    # days with at least 30 rows of the version): a collapsed teacher that answers one level
    # fails even when that level's human share keeps it under the distribution tolerances.
    min_teacher_levels: int = Field(default=2, ge=1, le=5)
    # The largest share of a pin-text snapshot quarantined as empty text (no title,
    # description or enrichment); the rest of the pins must have text.
    max_empty_pin_text_share: float = Field(default=0.05, ge=0, le=1)
    prob_sum_tolerance: float = Field(default=1e-3, gt=0)
    # Largest allowed total-variation distance between the teacher's soft label distribution
    # (mean of its probabilities) and the human label shares.
    label_distribution_tolerance: float = Field(default=0.35, ge=0, le=1)
    # The same for its argmax labels: looser, since a calibrated teacher's argmax seldom
    # lands on the noisy middle levels; a one-class teacher still fails it.
    argmax_distribution_tolerance: float = Field(default=0.6, ge=0, le=1)
    # Largest allowed change of a teacher's mean expected relevance from the previous day.
    expected_relevance_drift: float = Field(default=0.5, ge=0)
    # True: `gate` raises JobFailed on a failed suite (stops what depends on the table);
    # False: it logs the failure and lets the pipeline go on (report-only mode).
    fail_fast: bool = True
    # How far back to look for the previous partition that row counts are compared with.
    previous_lookback_days: int = Field(default=7, ge=1)
    # Unit-length embeddings may deviate from norm 1 by this much.
    embedding_norm_tolerance: float = Field(default=0.01, gt=0)
    max_query_chars: int = Field(default=256, ge=1)
    max_raw_text_chars: int = Field(default=20_000, ge=1)
    # Failing values shown per expectation in the report and the log.
    sample_size: int = Field(default=5, ge=1, le=100)
    # Local folder for Data Docs and summaries; None = <warehouse>/reports (must be local).
    reports_dir: str | None = None
