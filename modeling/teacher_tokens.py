"""The teacher's input: (query, pin text) pairs to token ids, and micro-batches padded to their own longest row.

Encoders get the tokenizer's own pair encoding (`[CLS] q [SEP] text [SEP]` with
token types for BERT). Decoders get the prompt `DECODER_PROMPT` (version
`PROMPT_VERSION`) ending in EOS, so the pooled last token is the same special
token for every example. Training, the reference inference and the Spark
labelling UDF all tokenise here, so the teacher is trained on exactly the input
it labels.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

# Decoder prompt: the query, then the item, then a cue; EOS is appended after it.
PROMPT_VERSION = "p1"
DECODER_PROMPT = "Query: {query}\nItem: {text}\nRelevant:"
_PROMPT_PREFIX, _PROMPT_MIDDLE = "Query: ", "\nItem: "
_PROMPT_SUFFIX = "\nRelevant:"


def encode_pairs(
    tokenizer: Any,
    queries: Sequence[str],
    texts: Sequence[str],
    max_length: int,
    is_decoder: bool,
) -> dict[str, list[list[int]]]:
    """Unpadded token ids (+ attention_mask, + token_type_ids when the tokenizer makes them).

    Encoders: the tokenizer's pair encoding, truncating only the pin text
    (`only_second`); a batch where some query alone overflows the budget is
    redone row by row, those rows with `longest_first`.
    Decoders: `DECODER_PROMPT` with the text truncated to fit, then EOS.
    Cheap on lists: one batched call into the Rust tokenizer per piece.
    """
    queries = ["" if q is None else str(q) for q in queries]
    texts = ["" if t is None else str(t) for t in texts]
    if len(queries) != len(texts):
        raise ValueError(f"{len(queries)} queries but {len(texts)} texts")
    if not queries:
        return {"input_ids": [], "attention_mask": []}
    if not is_decoder:
        keys = ["input_ids", "attention_mask"]
        if "token_type_ids" in tokenizer.model_input_names:
            keys.append("token_type_ids")
        try:
            enc = _pair_encode(tokenizer, queries, texts, max_length, "only_second")
            return {k: enc[k] for k in keys if k in enc}
        except Exception:  # noqa: BLE001 - tokenizers raises a bare Exception when a query overflows
            rows = []
            for q, t in zip(queries, texts):
                try:
                    rows.append(_pair_encode(tokenizer, [q], [t], max_length, "only_second"))
                except Exception:  # noqa: BLE001
                    rows.append(_pair_encode(tokenizer, [q], [t], max_length, "longest_first"))
            return {k: [r[k][0] for r in rows] for k in keys if k in rows[0]}
    heads = tokenizer([_PROMPT_PREFIX + q + _PROMPT_MIDDLE for q in queries], add_special_tokens=True)["input_ids"]
    bodies = tokenizer(texts, add_special_tokens=False)["input_ids"]
    tail = tokenizer(_PROMPT_SUFFIX, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids: list[list[int]] = []
    for head, body in zip(heads, bodies):
        room = max_length - len(head) - len(tail)
        if room < 0:  # the query alone overflows: keep its start, always end with the cue and EOS
            head, body = head[: max(max_length - len(tail), 0)], []
        else:
            body = body[:room]
        ids.append(head + body + tail)
    return {"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids]}


def _pair_encode(tokenizer: Any, queries: list[str], texts: list[str], max_length: int, truncation: str) -> Any:
    return tokenizer(
        queries, texts, truncation=truncation, max_length=max_length, padding=False, return_attention_mask=True
    )


def pad_batch(
    encoded: dict[str, list[list[int]]],
    pad_token_id: int,
    padding_side: str = "right",
) -> dict[str, torch.Tensor]:
    """Pad one micro-batch of `encode_pairs` output to its longest row (dynamic padding)."""
    longest = max(len(x) for x in encoded["input_ids"])
    out: dict[str, torch.Tensor] = {}
    for key, rows in encoded.items():
        fill = pad_token_id if key == "input_ids" else 0
        padded = []
        for row in rows:
            pad = [fill] * (longest - len(row))
            padded.append(pad + list(row) if padding_side == "left" else list(row) + pad)
        out[key] = torch.tensor(padded, dtype=torch.long)
    return out


def pad_token_id(tokenizer: Any) -> int:
    """Decoder tokenizers without a pad token pad with EOS (masked out, so any id would do)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
