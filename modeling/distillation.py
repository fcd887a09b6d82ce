"""Distillation loss and the streaming training loop of the student over a student_examples snapshot.

The rows come from `student_reader` (filtered Arrow batches through a bounded
shuffle buffer, so memory stays bounded whatever the table size; `peak_rss_mb`
in the result lets you check) after one `student_statistics` pass has built the
feature spec.

Loss: T^2 * KL(teacher_T || student_T) on rows with teacher probabilities, plus
alpha * cross-entropy on rows with a human label (source `human_label`). The
teacher's probabilities are softened with the same temperature as the student's
logits (log p / T, renormalised). The `human` mode is the baseline: the same
model trained with cross-entropy on human labels only.

Schedule: `epochs` passes at least, more when they hold under `min_steps` optimiser steps
(the planned passes), then more while validation cross-entropy improved within the last
`patience` passes (early stopping), at most `max_epochs`; the epoch with the best validation
cross-entropy is kept. A fixed three passes left a point of a few thousand rows with a few
dozen steps: on the scaling bench's medium world, its 1x students and the human-only
baseline (12 steps) were far from trained. A step floor alone still stopped its 190k-row
point at three passes while validation loss was falling (94.9 % of the teacher's QWK), so a
large set trains on until it stops improving rather than for a step count tuned to one world
(7-11 passes there, 98.2 %). The rate stays constant by default (`lr_schedule:
cosine` decays it to 0 over the planned steps, which then end the run: on the medium world
that cost 0.009 QWK at 190k rows). A training or validation set that fits the shuffle
buffer is read and encoded once and kept in memory, so the extra passes of a small set cost
no more file reads.
"""

from __future__ import annotations

import logging
import math
import resource
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow.dataset as pads
import torch
from torch import nn
from tqdm.auto import tqdm

from features.student_examples import CATEGORICAL, DENSE, SOURCE_IMPRESSION
from modeling.student import StudentModel
from modeling.student_reader import (
    TARGET_COLUMNS,
    Mode,
    ShuffleBuffer,
    count_rows,
    encode_targets,
    iter_batches,
    key_bound,
    row_filter,
)
from modeling.student_statistics import scan_feature_spec

log = logging.getLogger(__name__)



@dataclass
class TrainSettings:
    """Typed training arguments, saved beside the model."""

    mode: Mode = "distill"
    temperature: float = 2.0
    alpha: float = 0.5
    hidden: list[int] = field(default_factory=lambda: [128, 64])
    dropout: float = 0.1
    categorical_dim: int = 8
    epochs: int = 3
    min_steps: int = 1000
    patience: int = 3
    max_epochs: int = 30
    lr_schedule: str = "constant"
    batch_size: int = 512
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    shuffle_buffer: int = 20_000
    arrow_batch_rows: int = 8192
    seed: int = 17
    # Caps on teacher-labelled (impression) and human-labelled training rows: exactly that many,
    # the rows with the smallest sample_key (stable, and nested across caps).
    max_teacher_rows: int | None = None
    max_human_rows: int | None = None
    torch_threads: int | None = None
    progress: bool = True

    @classmethod
    def from_config(cls, student: Any, **overrides: Any) -> "TrainSettings":
        """Settings from the `student` config section: every field of the same name is taken from it.

        `student.max_rows` is the one renamed field (it caps teacher-labelled rows only);
        `overrides` are the job's command-line choices.
        """
        taken = {f.name: getattr(student, f.name) for f in fields(cls) if hasattr(student, f.name)}
        taken["max_teacher_rows"] = student.max_rows
        return cls(**{**taken, **overrides})


# -- loss ------------------------------------------------------------------------


def distillation_loss(
    logits: torch.Tensor,
    teacher_probs: torch.Tensor,
    has_teacher: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """T^2 * mean KL over rows with a teacher + alpha * mean CE over rows with a label (label >= 0)."""
    zero = logits.sum() * 0.0
    kl = zero
    if bool(has_teacher.any()):
        t = temperature
        student_log = torch.log_softmax(logits[has_teacher] / t, dim=1)
        teacher_log = torch.log_softmax(torch.log(teacher_probs[has_teacher].clamp(min=1e-8)) / t, dim=1)
        kl = (teacher_log.exp() * (teacher_log - student_log)).sum(dim=1).mean() * (t * t)
    ce = zero
    labelled = labels >= 0
    if bool(labelled.any()):
        ce = nn.functional.cross_entropy(logits[labelled], labels[labelled])
    loss = kl + alpha * ce
    return loss, {"kl": float(kl.detach()), "ce": float(ce.detach())}


# -- training ----------------------------------------------------------------------


def planned_epochs(steps_per_epoch: int, epochs: int, min_steps: int, max_epochs: int) -> int:
    """`epochs`, raised until the passes hold `min_steps` steps, but never past `max_epochs` (nor below `epochs`)."""
    wanted = max(epochs, math.ceil(min_steps / max(1, steps_per_epoch)))
    return min(wanted, max(epochs, max_epochs))


def keep_training(done: int, planned: int, best_epoch: int, patience: int, max_epochs: int,
                  schedule: str = "constant") -> bool:
    """Whether to start pass `done + 1`: always within the planned passes; past them, while the best
    validation epoch is among the last `patience` passes (and the cosine rate, spent at the plan's end,
    stops the run there); never past `max_epochs` (unless the plan itself is longer).
    """
    if done < planned:
        return True
    if schedule != "constant" or done >= max_epochs:
        return False
    return done - best_epoch < patience


def lr_factor(schedule: str, step: int, total_steps: int) -> float:
    """The learning rate's multiplier after `step` optimiser steps: cosine from 1 to 0 over total_steps, or 1."""
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"student.lr_schedule must be cosine or constant, not {schedule!r}")
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / max(1, total_steps))))


def _encoded_if_small(files: Sequence[str], expression: pads.Expression, columns: Sequence[str],
                      spec: Any, settings: TrainSettings) -> list[dict[str, np.ndarray]] | None:
    """The matching rows, encoded, when they fit the shuffle buffer (which would hold them all anyway); else None."""
    kept: list[dict[str, np.ndarray]] = []
    rows = 0
    for batch in iter_batches(files, expression, columns, settings.arrow_batch_rows):
        rows += batch.num_rows
        if rows > settings.shuffle_buffer:
            return None
        kept.append(encode_targets(batch, spec))
    return kept


def _tensors(mb: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in mb.items()}


def evaluate_loss(
    model: StudentModel, files: Sequence[str], expression: pads.Expression, settings: TrainSettings,
    encoded: list[dict[str, np.ndarray]] | None = None,
) -> dict[str, float] | None:
    """Cross-entropy and accuracy on human-labelled rows (the validation split): `encoded` when given, else streamed."""
    columns = [*CATEGORICAL, *DENSE, *model.spec.embeddings, *TARGET_COLUMNS]
    model.eval()
    total, correct, ce_sum = 0, 0, 0.0
    if encoded is None:
        encoded_rows = (encode_targets(b, model.spec) for b in iter_batches(files, expression, columns,
                                                                           settings.arrow_batch_rows))
    else:
        encoded_rows = iter(encoded)
    with torch.inference_mode():
        for arrays in encoded_rows:
            t = _tensors(arrays)
            keep = t["label"] >= 0
            if not bool(keep.any()):
                continue
            logits = model(t["categorical"], t["dense"], t["embeddings"])[keep]
            ce_sum += float(nn.functional.cross_entropy(logits, t["label"][keep], reduction="sum"))
            correct += int((logits.argmax(dim=1) == t["label"][keep]).sum())
            total += int(keep.sum())
    if total == 0:
        return None
    return {"val_ce": ce_sum / total, "val_accuracy": correct / total, "val_rows": total}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train_student(
    files: Sequence[str], settings: TrainSettings, checkpoint_dir: str | Path | None = None,
) -> tuple[StudentModel, dict[str, Any]]:
    """Train on the snapshot's files; returns the best model (by validation CE) and a summary."""
    started = time.time()
    torch.manual_seed(settings.seed)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    teacher_rows = row_filter("distill", "train") & (pads.field("source") == SOURCE_IMPRESSION)
    available_teacher = count_rows(files, teacher_rows)
    teacher_bound = human_bound = None
    if settings.mode == "distill" and settings.max_teacher_rows is not None:
        teacher_bound = key_bound(files, teacher_rows, settings.max_teacher_rows)
    if settings.max_human_rows is not None:
        human_bound = key_bound(files, row_filter("human", "train"), settings.max_human_rows)
    train_expr = row_filter(settings.mode, "train", teacher_bound, human_bound)
    val_expr = row_filter(settings.mode, "validation")
    spec, counts = scan_feature_spec(files, train_expr, settings.arrow_batch_rows, categorical_dim=settings.categorical_dim,
                                     hidden=settings.hidden, dropout=settings.dropout)
    for cap, got, what in ((settings.max_teacher_rows if teacher_bound is not None else None, counts["impression_rows"],
                            "teacher-labelled"),
                           (settings.max_human_rows if human_bound is not None else None, counts["human_rows"],
                            "human-labelled")):
        if cap is not None and got != cap:  # only two rows sharing a sample_key can do this
            raise ValueError(f"the {what} row cap {cap} kept {got} rows: sample_key is not unique in {files[:1]}…")
    model = StudentModel(spec)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    columns = [*CATEGORICAL, *DENSE, *spec.embeddings, *TARGET_COLUMNS]
    alpha = 1.0 if settings.mode == "human" else settings.alpha
    history: list[dict[str, Any]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    steps_per_epoch = max(1, math.ceil(counts["rows"] / settings.batch_size))
    epochs = planned_epochs(steps_per_epoch, settings.epochs, settings.min_steps, settings.max_epochs)
    total_steps = epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda done: lr_factor(settings.lr_schedule, done, total_steps))
    small = counts["rows"] <= settings.shuffle_buffer
    train_rows = _encoded_if_small(files, train_expr, columns, spec, settings) if small else None
    val_rows = _encoded_if_small(files, val_expr, columns, spec, settings)
    epoch, patience = 0, settings.patience  # without validation rows there is nothing to stop early on
    while keep_training(epoch, epochs, best[1] if best else 0, patience, settings.max_epochs, settings.lr_schedule):
        rng = np.random.default_rng(settings.seed + epoch)
        buffer = ShuffleBuffer(settings.shuffle_buffer, settings.batch_size, rng)
        model.train()
        seen, loss_sum, kl_sum, ce_sum, steps = 0, 0.0, 0.0, 0.0, 0
        bar = tqdm(total=steps_per_epoch, desc=f"student[{settings.mode}] epoch {epoch + 1}/{max(epochs, epoch + 1)}",
                   disable=not settings.progress, leave=False)

        def step(mb: dict[str, np.ndarray]) -> None:
            nonlocal seen, loss_sum, kl_sum, ce_sum, steps
            t = _tensors(mb)
            has_teacher = t["has_teacher"] if settings.mode == "distill" else torch.zeros_like(t["has_teacher"])
            logits = model(t["categorical"], t["dense"], t["embeddings"])
            loss, parts = distillation_loss(logits, t["teacher"], has_teacher, t["label"], settings.temperature, alpha)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            seen += len(mb["label"])
            loss_sum += float(loss.detach())
            kl_sum += parts["kl"]
            ce_sum += parts["ce"]
            steps += 1
            bar.update(1)

        if train_rows is None:
            encoded_batches = (encode_targets(b, spec) for b in iter_batches(files, train_expr, columns,
                                                                             settings.arrow_batch_rows, rng))
        else:
            encoded_batches = (train_rows[i] for i in rng.permutation(len(train_rows)))
        for arrays in encoded_batches:
            for mb in buffer.push(arrays):
                step(mb)
        for mb in buffer.flush():
            step(mb)
        bar.close()
        record: dict[str, Any] = {
            "epoch": epoch + 1, "rows": seen, "loss": loss_sum / max(steps, 1), "kl": kl_sum / max(steps, 1),
            "ce": ce_sum / max(steps, 1), "lr": optimiser.param_groups[0]["lr"],
        }
        val = evaluate_loss(model, files, val_expr, settings, val_rows)
        if val:
            record.update(val)
        if ckpt is not None:
            from safetensors.torch import save_file

            ckpt.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
                      str(ckpt / f"epoch-{epoch + 1}.safetensors"))
        score = val["val_ce"] if val else -float(epoch)  # without validation rows the last epoch wins
        if not val:
            patience = 0
        if best is None or score < best[0]:
            best = (score, epoch + 1, {k: v.detach().clone() for k, v in model.state_dict().items()})
        record["peak_rss_mb"] = round(peak_rss_mb(), 1)
        history.append(record)
        log.info("student[%s] %s", settings.mode, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()})
        epoch += 1
    assert best is not None
    model.load_state_dict(best[2])
    model.eval()
    summary = {
        "settings": asdict(settings),
        "train_rows": counts["rows"],
        "train_teacher_rows": counts["teacher_rows"],
        "train_impression_rows": counts["impression_rows"],
        "train_human_rows": counts["human_rows"],
        "available_teacher_rows": available_teacher,
        "teacher_key_bound": teacher_bound,
        "human_key_bound": human_bound,
        "best_epoch": best[1],
        "planned_epochs": epochs,
        "epochs": len(history),
        "in_memory": {"train": train_rows is not None, "validation": val_rows is not None},
        "history": history,
        "seconds": round(time.time() - started, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    return model, summary
