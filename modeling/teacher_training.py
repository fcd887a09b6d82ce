"""Fine-tuning the cross-encoder teacher on human labels: the PyTorch side, no Spark.

Pointwise cross-entropy over the 5 levels (as in the paper). The loop is
written out rather than delegated to `transformers.Trainer` because the model
is a custom module (backbone + pooling + head) and the needs are few: dynamic
padding on length-grouped batches (most of the CPU speed-up), AdamW with
linear warmup and decay (the optimizer and the weight average are in
`modeling/teacher_optim.py`), gradient accumulation, early stopping and weight
selection on validation QWK (or loss), optional class weights and an ordinal
loss term, and bf16/fp16 autocast on GPU.
What a trained teacher is judged by lives in `modeling/teacher_evaluation.py`.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F_nn

from modeling.cross_encoder import CrossEncoder, _pad_id, encode_pairs, pad_batch
from modeling.metrics import expected_relevance
from modeling.teacher_inference import score_encoded
from modeling.teacher_optim import WeightAverage, build_optimizer
from searchrel.core.config import TeacherConfig

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Examples:
    """Tokenized pairs with their labels (1..5), unpadded."""

    encoded: dict[str, list[list[int]]]
    labels: np.ndarray
    queries: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


def make_examples(tokenizer: Any, queries: Sequence[str], texts: Sequence[str], labels: Sequence[int],
                  max_length: int, is_decoder: bool) -> Examples:
    return Examples(encode_pairs(tokenizer, queries, texts, max_length, is_decoder),
                    np.asarray(labels, dtype=np.int64), list(queries))


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator,
                           group: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort within chunks of `group` batches, shuffle batches.

    Padding to the batch's longest row then wastes little compute, while the
    order stays random enough for SGD.
    """
    order = rng.permutation(len(lengths))
    lengths_arr = np.asarray(lengths)
    chunk = batch_size * group
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths_arr[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def _batch(examples: Examples, idx: np.ndarray, pad_id: int, device: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    enc = pad_batch({k: [v[i] for i in idx] for k, v in examples.encoded.items()}, pad_id)
    inputs = {k: v.to(device) for k, v in enc.items()}
    target = torch.as_tensor(examples.labels[idx] - 1, dtype=torch.long, device=device)
    return inputs, target


def _autocast(device: str):
    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype), dtype
    return torch.autocast("cpu", enabled=False), torch.float32


def predict_examples(model: CrossEncoder, examples: Examples, pad_id: int, batch_size: int, device: str) -> np.ndarray:
    """Softmax [N, 5] in the examples' order, from already tokenized rows: the teacher's one inference loop,
    under the autocast training uses on a GPU; the model is left in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        _, dtype = _autocast(device)
        return score_encoded(model, examples.encoded, pad_id, batch_size, device,
                             autocast_dtype=dtype if device.startswith("cuda") else None)
    finally:
        model.train(was_training)


def evaluate_loss(model: CrossEncoder, examples: Examples, pad_id: int, batch_size: int, device: str) -> dict[str, float]:
    """Mean cross-entropy and argmax accuracy on a split."""
    if len(examples) == 0:
        return {"loss": float("nan"), "accuracy": float("nan")}
    probs = predict_examples(model, examples, pad_id, batch_size, device)
    picked = probs[np.arange(len(examples)), examples.labels - 1]
    return {"loss": float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()),
            "accuracy": float(((probs.argmax(axis=1) + 1) == examples.labels).mean())}


def validation_scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """What selection reads after each evaluation: loss, argmax accuracy and QWK, and QWK under fitted cut-points."""
    from modeling.ordinal import decode_probs, fit_cutpoints, quadratic_kappa

    if len(labels) == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "qwk": float("nan"), "cutpoints": None}
    argmax = probs.argmax(axis=1) + 1
    cuts = fit_cutpoints(expected_relevance(probs), labels)
    decoded = decode_probs(probs, cuts)
    picked = probs[np.arange(len(labels)), labels - 1]
    return {
        "loss": float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()),
        "accuracy": float((argmax == labels).mean()),
        "qwk_argmax": quadratic_kappa(labels, argmax),
        "qwk": quadratic_kappa(labels, decoded),
        "accuracy_decoded": float((decoded == labels).mean()),
        "cutpoints": cuts,
    }


def class_weights(labels: np.ndarray, how: str) -> torch.Tensor | None:
    """Per-level loss weights from the training labels: none, or (square root of) inverse frequency, mean 1."""
    if how == "none":
        return None
    counts = np.bincount(np.asarray(labels, dtype=np.int64) - 1, minlength=5).astype(np.float64)
    inverse = np.where(counts > 0, counts.sum() / np.maximum(counts, 1.0), 0.0)
    weights = np.sqrt(inverse) if how == "sqrt_inverse" else inverse
    weights = weights / (weights[counts > 0].mean() if (counts > 0).any() else 1.0)
    return torch.as_tensor(weights, dtype=torch.float32)


def teacher_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
                 ordinal_weight: float) -> torch.Tensor:
    """Cross-entropy over the levels, plus (optionally) the squared error of the expected relevance.

    The second term is what makes the loss ordinal: mass on L4 for an L5 pair
    costs less than mass on L1, which plain cross-entropy cannot tell apart.
    """
    logits = logits.float()
    loss = F_nn.cross_entropy(logits, target, weight=weight)
    if ordinal_weight > 0:
        levels = torch.arange(logits.shape[1], device=logits.device, dtype=logits.dtype)
        expected = (torch.softmax(logits, dim=-1) * levels).sum(dim=-1)
        loss = loss + ordinal_weight * ((expected - target.to(logits.dtype)) ** 2).mean()
    return loss


def _selection_value(scores: dict[str, Any], metric: str, decoding: str = "argmax") -> float:
    """Higher is better: validation QWK of the levels this teacher will write (its decoding) or minus the loss."""
    if metric == "qwk":
        value = scores["qwk"] if decoding == "cutpoints" else scores["qwk_argmax"]
    else:
        value = -scores["loss"]
    return float("-inf") if value is None or math.isnan(value) else float(value)


def train(
    model: CrossEncoder,
    tokenizer: Any,
    cfg: TeacherConfig,
    train_set: Examples,
    val_set: Examples,
    device: str = "cpu",
    progress: bool = True,
    on_eval: Callable[[CrossEncoder, dict[str, Any]], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Fine-tune in place; returns one history entry per evaluation. The best evaluation's weights are restored.

    The validation split is scored `cfg.evals_per_epoch` times an epoch and the
    best point by `cfg.selection_metric` wins, so a run of one or two epochs
    still keeps its best weights rather than whatever the last step left.
    `on_eval(model, validation_scores)` may add to each history entry (the
    quality bench scores its test split there, for learning curves).
    """
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    if len(train_set) == 0:
        raise ValueError("no training rows")
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    pad_id = _pad_id(tokenizer)
    model.to(device)
    model.train()
    lengths = [len(x) for x in train_set.encoded["input_ids"]]
    batches_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.grad_accum_steps)
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = build_optimizer(model, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    autocast, amp_dtype = _autocast(device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    trainable = [p for p in model.parameters() if p.requires_grad]
    weight = class_weights(train_set.labels, cfg.class_weighting)
    weight = None if weight is None else weight.to(device)
    ema = WeightAverage(trainable, cfg.ema_decay) if cfg.ema_decay > 0 else None
    evals = min(max(cfg.evals_per_epoch, 1), batches_per_epoch)
    eval_points = {round(batches_per_epoch * k / evals) for k in range(1, evals + 1)}
    history: list[dict[str, Any]] = []
    best_value, best_state, bad_evals, stop = float("-inf"), None, 0, False
    log.info("teacher: %d train / %d validation rows, %d optimizer steps, %d evaluation(s) an epoch, device %s",
             len(train_set), len(val_set), total_steps, evals, device)
    for epoch in range(1, cfg.epochs + 1):
        batches = length_grouped_batches(lengths, cfg.batch_size, rng)
        started, seen, running, eval_seconds = time.perf_counter(), 0, 0.0, 0.0
        bar = tqdm(batches, desc=f"teacher epoch {epoch}/{cfg.epochs}", unit="batch", disable=not progress,
                   mininterval=2.0)
        optimizer.zero_grad(set_to_none=True)
        for i, idx in enumerate(bar, start=1):
            inputs, target = _batch(train_set, idx, pad_id, device)
            with autocast:
                logits = model(**inputs)
            loss = teacher_loss(logits, target, weight, cfg.ordinal_loss_weight)
            scaler.scale(loss / cfg.grad_accum_steps).backward()
            if i % cfg.grad_accum_steps == 0 or i == len(batches):
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                if ema is not None:
                    ema.update()
            seen += len(idx)
            running = 0.98 * running + 0.02 * loss.item() if i > 1 else loss.item()
            bar.set_postfix(loss=f"{running:.3f}", ex_s=f"{seen / max(time.perf_counter() - started - eval_seconds, 1e-9):.1f}")
            if i not in eval_points:
                continue
            eval_started = time.perf_counter()
            if ema is not None:
                ema.swap()  # score (and keep, if best) the average; swapped back below
            scores = validation_scores(
                predict_examples(model, val_set, pad_id, cfg.batch_size * 2, device), val_set.labels
            )
            eval_seconds += time.perf_counter() - eval_started
            entry = {"epoch": round(epoch - 1 + i / batches_per_epoch, 3), "train_loss": running,
                     "val_loss": scores["loss"], "val_accuracy": scores["accuracy"],
                     "val_qwk": scores["qwk"], "val_qwk_argmax": scores.get("qwk_argmax"),
                     "examples_per_s": seen / max(time.perf_counter() - started - eval_seconds, 1e-9),
                     "seconds": time.perf_counter() - started - eval_seconds, "eval_seconds": eval_seconds}
            if on_eval is not None:
                entry.update(on_eval(model, scores))
                model.train()
            history.append(entry)
            log.info("teacher epoch %.2f: train loss %.4f, validation loss %.4f, accuracy %.4f, QWK %.4f, %.1f ex/s",
                     entry["epoch"], running, scores["loss"], scores["accuracy"], scores["qwk"],
                     entry["examples_per_s"])
            value = _selection_value(scores, cfg.selection_metric, cfg.decoding) if len(val_set) else -running
            improved = value > best_value + 1e-4
            if improved:
                best_value, bad_evals = value, 0
                best_state = {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters()
                              if p.requires_grad}
            if ema is not None:
                ema.swap()
            if not improved:
                bad_evals += 1
                if bad_evals >= cfg.patience * evals:  # patience is in epochs: half-epoch scores are noisy
                    log.info("teacher: early stop at epoch %.2f (no validation improvement in %d evaluations)",
                             entry["epoch"], bad_evals)
                    stop = True
                    break
        bar.close()
        if stop:
            break
    if best_state is not None:
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in best_state.items():
                params[name].copy_(value.to(params[name].device))
    model.eval()
    return history
