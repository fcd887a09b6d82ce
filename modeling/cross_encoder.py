"""The teacher: a Hugging Face backbone + pooling + an MLP head to the 5 relevance levels.

One class covers encoders (BERT family, DeBERTa, the T5 encoder) and decoder
LLMs (Llama, Qwen, Mistral class), as in Pinterest's paper: encoders pool the
[CLS] token, decoders the last real (non-padding) token, which is the only
position that has attended to the whole input under causal attention.

Input text is the (query, pin text) pair. Encoders get the tokenizer's own pair
encoding (`[CLS] q [SEP] text [SEP]` with token types for BERT). Decoders get the
prompt `DECODER_PROMPT` (version `PROMPT_VERSION`) ending in EOS, so the pooled
last token is the same special token for every example.

Models are stored as safetensors + `teacher.json` only (nothing is unpickled):
full backbone weights, or the LoRA adapter alone when LoRA was used, plus
`head.safetensors`. Versions live under `<models_path>/teacher/<version>/` with
a `current` pointer file (a file, not a symlink, so it works on object stores).
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from modeling import backbones
from searchrel.core.config import TeacherConfig
from searchrel.core.errors import ConfigError

log = logging.getLogger(__name__)

NUM_LABELS = 5
LABEL_SCHEME = {"labels": [1, 2, 3, 4, 5], "class_index": "label - 1", "name": "relevance_1to5"}
FORMAT_VERSION = 1
# Decoder prompt: the query, then the item, then a cue; EOS is appended after it.
PROMPT_VERSION = "p1"
DECODER_PROMPT = "Query: {query}\nItem: {text}\nRelevant:"
_PROMPT_PREFIX, _PROMPT_MIDDLE = "Query: ", "\nItem: "
_PROMPT_SUFFIX = "\nRelevant:"

POINTER_FILE = "current"
TEACHER_JSON = "teacher.json"
HEAD_FILE = "head.safetensors"

# Architectures whose AutoModel is an encoder; T5-style models are used through their encoder alone.
_ENCODER_TYPES = {
    "bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "mpnet", "deberta", "deberta-v2",
    "camembert", "ernie", "modernbert", "nomic_bert", "t5", "mt5", "umt5", "longformer", "xlnet",
}
_T5_TYPES = {"t5", "mt5", "umt5"}
# LoRA target modules per architecture (peft's own table is the fallback).
_LORA_TARGETS = {
    "bert": ["query", "key", "value", "dense"],
    "roberta": ["query", "key", "value", "dense"],
    "xlm-roberta": ["query", "key", "value", "dense"],
    "distilbert": ["q_lin", "k_lin", "v_lin", "out_lin"],
    "deberta-v2": ["query_proj", "key_proj", "value_proj", "dense"],
    "t5": ["q", "k", "v", "o"],
    "mt5": ["q", "k", "v", "o"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi3": ["qkv_proj", "o_proj"],
}


def default_backbone() -> str:
    return backbones.resolve(backbones.DEFAULT)


def is_decoder_config(config: Any) -> bool:
    """Decoder LLMs pool the last token and use the prompt format; everything else is an encoder."""
    if config.model_type in _ENCODER_TYPES:
        return False
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return True
    # AutoModel of any other type in transformers' causal-LM table is a decoder.
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


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


# -- building -------------------------------------------------------------------


def _load_backbone(path: str, quantization_config: Any = None, device_map: Any = None) -> tuple[nn.Module, Any]:
    from transformers import AutoConfig, AutoModel, T5EncoderModel

    config = AutoConfig.from_pretrained(path)
    kwargs: dict[str, Any] = {}
    if quantization_config is not None:
        kwargs.update(quantization_config=quantization_config, device_map=device_map)
    cls = T5EncoderModel if config.model_type in _T5_TYPES else AutoModel
    return cls.from_pretrained(path, **kwargs), config


def _prepare_tokenizer(path: str, is_decoder: bool):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if is_decoder:
        if tokenizer.pad_token is None:
            # Llama-class tokenizers ship without a pad token; padding is masked, so EOS will do.
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer.eos_token is None:
            raise ConfigError(f"decoder backbone {path} has a tokenizer without an EOS token")
    return tokenizer


def lora_targets(model_type: str, configured: list[str] | None) -> list[str]:
    if configured:
        return list(configured)
    if model_type in _LORA_TARGETS:
        return _LORA_TARGETS[model_type]
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    if model_type in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
        return list(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING[model_type])
    raise ConfigError(f"no known LoRA target modules for {model_type!r}: set teacher.lora.target_modules")


def _wrap_lora(backbone: nn.Module, model_type: str, cfg: TeacherConfig) -> nn.Module:
    from peft import LoraConfig as PeftLoraConfig
    from peft import TaskType, get_peft_model

    peft_cfg = PeftLoraConfig(
        task_type=TaskType.FEATURE_EXTRACTION,
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=lora_targets(model_type, cfg.lora.target_modules),
        bias="none",
    )
    return get_peft_model(backbone, peft_cfg)


def effective_pooling(cfg_pooling: str, is_decoder: bool) -> str:
    # A decoder's first token has seen nothing but itself: [CLS] pooling is meaningless there.
    if is_decoder and cfg_pooling == "cls":
        return "last_token"
    return cfg_pooling


def build_teacher(cfg: TeacherConfig):
    """A fresh teacher (pretrained backbone, new head) and its tokenizer, as the config says.

    QLoRA (`quantization: 4bit`) loads the backbone in 4-bit NF4 through
    bitsandbytes and implies LoRA; it needs CUDA and says so in one line otherwise.
    """
    # A name (modeling/backbones.py) is what teacher.json records, so a saved teacher
    # resolves it again on another machine; a folder is recorded as given.
    backbone_ref = cfg.backbone or backbones.DEFAULT
    path = backbones.resolve(backbone_ref)
    from transformers import AutoConfig

    try:
        hf_config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"teacher.backbone {path!r} cannot be loaded (not a folder, and the names are "
            f"{', '.join(backbones.names())}): {str(exc).splitlines()[0]}"
        ) from None
    is_decoder = is_decoder_config(hf_config)
    pooling = effective_pooling(cfg.pooling, is_decoder)
    if pooling != cfg.pooling:
        log.info("decoder backbone %s: pooling %s -> %s", hf_config.model_type, cfg.pooling, pooling)
    use_lora = cfg.lora.enabled
    if cfg.quantization == "4bit":
        if not torch.cuda.is_available():
            raise ConfigError("teacher.quantization=4bit (QLoRA) needs a CUDA GPU and none is available")
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        bnb = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
        )
        backbone, _ = _load_backbone(path, quantization_config=bnb, device_map={"": torch.cuda.current_device()})
        backbone = prepare_model_for_kbit_training(
            backbone,
            use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
        if not use_lora:
            log.info("QLoRA: 4-bit weights are frozen, so LoRA is switched on")
            use_lora = True
    else:
        backbone, _ = _load_backbone(path)
        if cfg.gradient_checkpointing:
            backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if use_lora:
        backbone = _wrap_lora(backbone, hf_config.model_type, cfg)
    tokenizer = _prepare_tokenizer(path, is_decoder)
    model = CrossEncoder(backbone, pooling, cfg.head_hidden, cfg.head_dropout, is_decoder=is_decoder)
    if cfg.quantization == "4bit":
        model.head.to(torch.cuda.current_device())
    model.meta_defaults = {  # type: ignore[attr-defined]
        "backbone": backbone_ref if backbones.is_name(backbone_ref) else path,
        "backbone_path": path,
        "arch": hf_config.model_type,
        "is_decoder": is_decoder,
        "pooling": pooling,
        "max_length": cfg.max_length,
        "head_hidden": list(cfg.head_hidden),
        "head_dropout": cfg.head_dropout,
        "weights": "lora" if use_lora else "full",
        "lora": cfg.lora.model_dump() | {"enabled": use_lora} if use_lora else None,
        "quantization": cfg.quantization,
        "prompt_version": PROMPT_VERSION if is_decoder else None,
    }
    return model, tokenizer


# -- tokenization -----------------------------------------------------------------


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


def _pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


# -- inference --------------------------------------------------------------------


@torch.inference_mode()
def predict_proba(
    model: CrossEncoder,
    tokenizer: Any,
    meta: dict,
    queries: Sequence[str],
    texts: Sequence[str],
    batch_size: int = 32,
    device: str = "cpu",
) -> np.ndarray:
    """Softmax over the 5 levels, [N, 5], in input order: the plain reference inference."""
    n = len(queries)
    if n == 0:
        return np.zeros((0, NUM_LABELS), dtype=np.float32)
    enc = encode_pairs(tokenizer, queries, texts, int(meta["max_length"]), bool(meta["is_decoder"]))
    order = np.argsort([len(x) for x in enc["input_ids"]], kind="stable")
    was_training = model.training
    model.eval()
    out = np.zeros((n, NUM_LABELS), dtype=np.float32)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        batch = pad_batch({k: [v[i] for i in idx] for k, v in enc.items()}, _pad_id(tokenizer))
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(**batch)
        out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    model.train(was_training)
    return out


# -- save / load / versions -----------------------------------------------------------


def _is_lora(model: CrossEncoder) -> bool:
    return hasattr(model.backbone, "peft_config")


def save_teacher(model: CrossEncoder, tokenizer: Any, meta: dict, directory: str | os.PathLike[str]) -> Path:
    """Write safetensors + teacher.json into `directory` atomically (a killed save leaves nothing half-written)."""
    from safetensors.torch import save_file

    final = Path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        lora = _is_lora(model)
        info = dict(getattr(model, "meta_defaults", {}))
        info.update(meta)
        info.update(
            format_version=FORMAT_VERSION,
            pooling=model.pooling,
            is_decoder=model.is_decoder,
            head_hidden=model.head_hidden,
            head_dropout=model.head_dropout,
            hidden_size=model.hidden_size,
            weights="lora" if lora else "full",
            label_scheme=LABEL_SCHEME,
            saved_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        )
        if model.is_decoder:
            info.setdefault("prompt_version", PROMPT_VERSION)
            info["prompt"] = DECODER_PROMPT + "<eos>"
        info.setdefault("max_length", 128)
        head_state = {k: v.detach().float().cpu().contiguous() for k, v in model.head.state_dict().items()}
        save_file(head_state, str(tmp / HEAD_FILE))
        if lora:
            model.backbone.save_pretrained(str(tmp / "adapter"), safe_serialization=True)
        else:
            model.backbone.save_pretrained(str(tmp / "backbone"), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp / "tokenizer"))
        (tmp / TEACHER_JSON).write_text(json.dumps(info, indent=2, sort_keys=True, default=str), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("saved teacher (%s weights) to %s", info["weights"], final)
    return final


def load_teacher(directory: str | os.PathLike[str], device: str = "cpu"):
    """(model in eval mode, tokenizer, meta) from a directory `save_teacher` wrote; never unpickles."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    root = Path(directory)
    meta_file = root / TEACHER_JSON
    if not meta_file.exists():
        raise FileNotFoundError(f"no {TEACHER_JSON} in {root}: not a saved teacher")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta["weights"] == "lora":
        from peft import PeftModel

        base, _ = _load_backbone(backbones.resolve(meta["backbone"]))
        backbone = PeftModel.from_pretrained(base, str(root / "adapter"), is_trainable=False)
    else:
        backbone, _ = _load_backbone(str(root / "backbone"))
    tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    if meta["is_decoder"] and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = CrossEncoder(
        backbone, meta["pooling"], meta["head_hidden"], meta["head_dropout"], is_decoder=meta["is_decoder"]
    )
    model.head.load_state_dict(load_file(str(root / HEAD_FILE)))
    model.meta_defaults = {k: meta[k] for k in ("backbone", "arch", "max_length", "lora", "quantization") if k in meta}  # type: ignore[attr-defined]
    model.to(device)
    model.eval()
    return model, tokenizer, meta


def teacher_root(models_path: str | os.PathLike[str]) -> Path:
    return Path(models_path) / "teacher"


def new_version() -> str:
    """Sortable by time: v20261125T133000."""
    return "v" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")


def set_current(models_path: str | os.PathLike[str], version: str) -> Path:
    """Point `current` at a saved version; written to a temp file then renamed, so readers never see half."""
    root = teacher_root(models_path)
    if not (root / version / TEACHER_JSON).exists():
        raise FileNotFoundError(f"teacher version {version!r} not found under {root}")
    pointer = root / POINTER_FILE
    tmp = root / f".{POINTER_FILE}.tmp"
    tmp.write_text(json.dumps({"version": version, "updated_at": dt.datetime.now(dt.timezone.utc).isoformat()}))
    os.replace(tmp, pointer)
    return pointer


def resolve_teacher_dir(models_path: str | os.PathLike[str], version: str = "current") -> Path:
    """The directory of a teacher version; "current" follows the pointer file."""
    root = teacher_root(models_path)
    if version == "current":
        pointer = root / POINTER_FILE
        if not pointer.exists():
            raise FileNotFoundError(f"no current teacher under {root}: run `searchrel teacher-train` first")
        version = json.loads(pointer.read_text())["version"]
    path = root / version
    if not (path / TEACHER_JSON).exists():
        raise FileNotFoundError(f"teacher version {version!r} not found under {root}")
    return path


def list_versions(models_path: str | os.PathLike[str]) -> list[str]:
    root = teacher_root(models_path)
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / TEACHER_JSON).exists())
