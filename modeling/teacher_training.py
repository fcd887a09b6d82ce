"""Fine-tuning the cross-encoder teacher on human labels: the PyTorch side, no Spark.

Pointwise cross-entropy over the 5 levels (as in the paper). The loop is
written out rather than delegated to `transformers.Trainer` because the model
is a custom module (backbone + pooling + head) and the needs are few: dynamic
padding on length-grouped batches (most of the CPU speed-up), AdamW with
linear warmup and decay, gradient accumulation, early stopping on validation
loss with the best weights restored, and bf16/fp16 autocast on GPU.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F_nn

from modeling.cross_encoder import CrossEncoder, _pad_id, encode_pairs, pad_batch, predict_proba
from modeling.metrics import classification_metrics, expected_relevance, expected_value, ndcg_at_k, rmse
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


@torch.no_grad()
def evaluate_loss(model: CrossEncoder, examples: Examples, pad_id: int, batch_size: int, device: str) -> dict[str, float]:
    """Mean cross-entropy and accuracy on a split (the early-stopping signal)."""
    if len(examples) == 0:
        return {"loss": float("nan"), "accuracy": float("nan")}
    model.eval()
    order = np.argsort([len(x) for x in examples.encoded["input_ids"]], kind="stable")
    total, correct = 0.0, 0
    ctx, _ = _autocast(device)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        inputs, target = _batch(examples, idx, pad_id, device)
        with ctx:
            logits = model(**inputs).float()
        total += F_nn.cross_entropy(logits, target, reduction="sum").item()
        correct += int((logits.argmax(dim=-1) == target).sum().item())
    model.train()
    return {"loss": total / len(examples), "accuracy": correct / len(examples)}


def _optimizer(model: CrossEncoder, cfg: TeacherConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # Biases and norms are not weights to shrink (the usual BERT recipe).
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate)


def train(
    model: CrossEncoder,
    tokenizer: Any,
    cfg: TeacherConfig,
    train_set: Examples,
    val_set: Examples,
    device: str = "cpu",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Fine-tune in place; returns per-epoch history. The best epoch by validation loss is restored."""
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
    steps_per_epoch = math.ceil(math.ceil(len(train_set) / cfg.batch_size) / cfg.grad_accum_steps)
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = _optimizer(model, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    autocast, amp_dtype = _autocast(device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    trainable = [p for p in model.parameters() if p.requires_grad]
    history: list[dict[str, Any]] = []
    best_loss, best_state, bad_epochs = float("inf"), None, 0
    log.info("teacher: %d train / %d validation rows, %d optimizer steps, device %s",
             len(train_set), len(val_set), total_steps, device)
    for epoch in range(1, cfg.epochs + 1):
        batches = length_grouped_batches(lengths, cfg.batch_size, rng)
        started, seen, running = time.perf_counter(), 0, 0.0
        bar = tqdm(batches, desc=f"teacher epoch {epoch}/{cfg.epochs}", unit="batch", disable=not progress,
                   mininterval=2.0)
        optimizer.zero_grad(set_to_none=True)
        for i, idx in enumerate(bar, start=1):
            inputs, target = _batch(train_set, idx, pad_id, device)
            with autocast:
                logits = model(**inputs)
            loss = F_nn.cross_entropy(logits.float(), target)
            scaler.scale(loss / cfg.grad_accum_steps).backward()
            if i % cfg.grad_accum_steps == 0 or i == len(batches):
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            seen += len(idx)
            running = 0.98 * running + 0.02 * loss.item() if i > 1 else loss.item()
            bar.set_postfix(loss=f"{running:.3f}", ex_s=f"{seen / (time.perf_counter() - started):.1f}")
        bar.close()
        train_seconds = time.perf_counter() - started
        val = evaluate_loss(model, val_set, pad_id, cfg.batch_size * 2, device)
        entry = {"epoch": epoch, "train_loss": running, "val_loss": val["loss"], "val_accuracy": val["accuracy"],
                 "examples_per_s": seen / train_seconds, "seconds": train_seconds}
        history.append(entry)
        log.info("teacher epoch %d: train loss %.4f, validation loss %.4f, accuracy %.4f, %.1f examples/s",
                 epoch, running, val["loss"], val["accuracy"], entry["examples_per_s"])
        current = val["loss"] if not math.isnan(val["loss"]) else running
        if current < best_loss - 1e-4:
            best_loss, bad_epochs = current, 0
            best_state = {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}
        else:
            bad_epochs += 1
            if bad_epochs >= cfg.patience:
                log.info("teacher: early stop after epoch %d (no validation improvement in %d)", epoch, bad_epochs)
                break
    if best_state is not None:
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in best_state.items():
                params[name].copy_(value.to(params[name].device))
    model.eval()
    return history


def score_scale_values(train_labels: Sequence[int], train_scores: Sequence[float]) -> list[float] | None:
    """Mean original score per level on train: maps 1..5 back to the dataset's scale (Home Depot's 1..3)."""
    labels = np.asarray(train_labels)
    scores = np.asarray(train_scores, dtype=np.float64)
    ok = ~np.isnan(scores)
    if not ok.any():
        return None
    overall = float(scores[ok].mean())
    return [float(scores[ok & (labels == k)].mean()) if (ok & (labels == k)).any() else overall for k in range(1, 6)]


def evaluation_report(
    queries: Sequence[str],
    labels: Sequence[int],
    probs: np.ndarray,
    raw_scores: Sequence[float] | None = None,
    scale_values: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Classification metrics + nDCG@10 by expected relevance (+ RMSE on the original scale when known)."""
    report = classification_metrics(labels, probs)
    if len(labels) == 0:
        return report
    report["ndcg_at_10"] = ndcg_at_k(queries, labels, expected_relevance(probs), k=10)
    if raw_scores is not None and scale_values is not None:
        scores = np.asarray(raw_scores, dtype=np.float64)
        ok = ~np.isnan(scores)
        if ok.any():
            report["rmse_original_scale"] = rmse(scores[ok], expected_value(probs[ok], scale_values))
            report["scale_values"] = [round(v, 4) for v in scale_values]
    return report


def predict(model: CrossEncoder, tokenizer: Any, meta: dict, queries: Sequence[str], texts: Sequence[str],
            batch_size: int, device: str) -> np.ndarray:
    return predict_proba(model, tokenizer, meta, list(queries), list(texts), batch_size=batch_size, device=device)
