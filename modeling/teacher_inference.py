"""The one batched inference loop of the teacher: token ids in, softmax over the 5 levels out.

The plain reference inference (`predict_proba`, used by training's
evaluation, the quality bench and the evaluate job), training's validation passes
(`teacher_training.predict_examples`) and the Spark labelling UDF
(`modeling.labelling`, which adds the Arrow batches, the per-worker model cache
and device/dtype handling around it) score through `score_encoded`, so the
labels written to labels/teacher_scores are the probabilities the teacher's
figures were measured on.

Rows are sorted by token length before they are cut into micro-batches, so a
micro-batch is padded to its own longest row rather than to max_length; the
results are written back to the rows' original positions.

torch is imported on first use: `modeling.labelling` imports this module on the
Spark driver, which only builds the query plan.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

N_LEVELS = 5
# What the model's forward takes; anything else a caller's encoding carries stays behind.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def micro_batches(lengths: Sequence[int], size: int, sort_by_length: bool = True) -> list[np.ndarray]:
    """Row positions grouped into micro-batches; by ascending length when sorting, else in order."""
    order = np.argsort(np.asarray(lengths), kind="stable") if sort_by_length else np.arange(len(lengths))
    return [order[i:i + size] for i in range(0, len(order), size)]


def score_encoded(
    model: Any,
    encoded: dict[str, list[list[int]]],
    pad_id: int,
    batch_size: int,
    device: Any = "cpu",
    sort_by_length: bool = True,
    autocast_dtype: Any = None,
) -> np.ndarray:
    """Softmax probabilities [N, 5] float32 for `encode_pairs` output, in the rows' original order.

    The caller puts the model in eval mode on `device`; rows move there one micro-batch at a time.
    `autocast_dtype` (bf16/fp16) runs the forward under autocast, as training does on a GPU,
    so its validation scores are those of the mixed precision it trains in.
    """
    import contextlib

    import torch

    from modeling.teacher_tokens import pad_batch

    keys = [k for k in MODEL_INPUTS if k in encoded]
    lengths = [len(row) for row in encoded["input_ids"]]
    out = np.empty((len(lengths), N_LEVELS), dtype=np.float32)
    autocast = (torch.autocast(torch.device(device).type, dtype=autocast_dtype) if autocast_dtype is not None
                else contextlib.nullcontext())
    with torch.inference_mode(), autocast:
        for idx in micro_batches(lengths, batch_size, sort_by_length):
            batch = pad_batch({k: [encoded[k][i] for i in idx] for k in keys}, pad_id)
            inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            logits = model(**inputs)
            out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return out


def predict_proba(
    model: Any,
    tokenizer: Any,
    meta: dict,
    queries: Sequence[str],
    texts: Sequence[str],
    batch_size: int = 32,
    device: str = "cpu",
) -> np.ndarray:
    """Softmax over the 5 levels, [N, 5], in input order: the plain reference inference.

    Tokenises with the saved teacher's max_length and prompt; leaves the model in
    the train/eval mode it was in, so training can call it between steps.
    """
    from modeling.teacher_tokens import encode_pairs, pad_token_id

    if len(queries) == 0:
        return np.zeros((0, N_LEVELS), dtype=np.float32)
    encoded = encode_pairs(tokenizer, queries, texts, int(meta["max_length"]), bool(meta["is_decoder"]))
    was_training = model.training
    model.eval()
    try:
        return score_encoded(model, encoded, pad_token_id(tokenizer), batch_size, device)
    finally:
        model.train(was_training)
