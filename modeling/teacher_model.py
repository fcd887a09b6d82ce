"""The teacher's network: a Hugging Face backbone, pooling, and an MLP head to the 5 relevance levels.

One class covers encoders (BERT family, DeBERTa, the T5 encoder) and decoder
LLMs (Llama, Qwen, Mistral class), as in Pinterest's paper: encoders pool the
[CLS] token, decoders the last real (non-padding) token, which is the only
position that has attended to the whole input under causal attention.
Building one from a config is `teacher_build`; its input ids come from
`teacher_tokens`; `modeling.cross_encoder` is the import home of the whole teacher.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch
from torch import nn

NUM_LABELS = 5


def _accepts(module: nn.Module, name: str) -> bool:
    return name in inspect.signature(module.forward).parameters


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token per row, for right padding, left padding, or none."""
    seq_len = attention_mask.shape[1]
    # The last 1 is the first 1 of the flipped mask, counted from the end.
    from_end = torch.flip(attention_mask, dims=[1]).to(torch.long).argmax(dim=1)
    return (seq_len - 1) - from_end


def first_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    return attention_mask.to(torch.long).argmax(dim=1)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, T, H] -> [B, H]."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if pooling == "cls":
        # The first real token: position 0 under right padding, after the pads under left padding.
        return hidden[rows, first_token_index(attention_mask).to(hidden.device)]
    if pooling == "last_token":
        return hidden[rows, last_token_index(attention_mask).to(hidden.device)]
    if pooling == "mean":
        mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    raise ValueError(f"unknown pooling {pooling!r}")


def build_head(in_dim: int, hidden: Sequence[int], dropout: float, num_labels: int = NUM_LABELS) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    width = in_dim
    for size in hidden:
        layers += [nn.Linear(width, size), nn.GELU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, num_labels))
    return nn.Sequential(*layers)


class CrossEncoder(nn.Module):
    """Backbone + pooling + MLP head; `forward` returns logits [B, 5] (class index = label - 1)."""

    def __init__(
        self,
        backbone: nn.Module,
        pooling: str = "cls",
        head_hidden: Sequence[int] = (256,),
        head_dropout: float = 0.1,
        is_decoder: bool = False,
        num_labels: int = NUM_LABELS,
    ) -> None:
        super().__init__()
        if pooling not in ("cls", "last_token", "mean"):
            raise ValueError(f"unknown pooling {pooling!r}")
        self.backbone = backbone
        self.pooling = pooling
        self.is_decoder = is_decoder
        self.head_hidden = list(head_hidden)
        self.head_dropout = head_dropout
        base = backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone
        self.hidden_size = int(base.config.hidden_size if hasattr(base.config, "hidden_size") else base.config.d_model)
        self.head = build_head(self.hidden_size, self.head_hidden, head_dropout, num_labels)
        self._takes_token_types = _accepts(base, "token_type_ids")
        self._takes_positions = _accepts(base, "position_ids")
        self._takes_use_cache = _accepts(base, "use_cache")

    def pooled(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The pooled backbone vector [B, H] the head reads (exposed for tests and embeddings)."""
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self._takes_token_types:
            kwargs["token_type_ids"] = token_type_ids
        if self._takes_positions:
            # Positions count real tokens only, so left- and right-padded rows encode alike.
            kwargs["position_ids"] = (attention_mask.to(torch.long).cumsum(dim=1) - 1).clamp(min=0)
        if self._takes_use_cache:
            kwargs["use_cache"] = False
        hidden = self.backbone(**kwargs).last_hidden_state
        return pool(hidden, attention_mask, self.pooling)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        vector = self.pooled(input_ids, attention_mask, token_type_ids)
        return self.head(vector.to(self.head[-1].weight.dtype))

    def trainable_parameter_names(self) -> list[str]:
        return [name for name, p in self.named_parameters() if p.requires_grad]
