"""Building a fresh teacher from its config: backbone loading, LoRA, 4-bit QLoRA, the tokenizer.

Everything here decides *which* network `teacher_model.CrossEncoder` wraps
and records those decisions in `meta_defaults`, which `teacher_store` writes
into teacher.json, so a saved teacher is rebuilt the same way on another machine.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from modeling import backbones
from modeling.teacher_model import CrossEncoder
from modeling.teacher_tokens import PROMPT_VERSION
from searchrel.core.config import TeacherConfig
from searchrel.core.errors import ConfigError

log = logging.getLogger(__name__)

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


def load_backbone(path: str, quantization_config: Any = None, device_map: Any = None) -> tuple[nn.Module, Any]:
    """(backbone, its config) from a folder or hub id; safetensors only (modeling.safe_weights)."""
    from transformers import AutoConfig, AutoModel, T5EncoderModel

    from modeling.safe_weights import refuse_pickle_only

    refuse_pickle_only(path, "backbone folder")
    config = AutoConfig.from_pretrained(path)
    kwargs: dict[str, Any] = {"use_safetensors": True}
    if quantization_config is not None:
        kwargs.update(quantization_config=quantization_config, device_map=device_map)
    cls = T5EncoderModel if config.model_type in _T5_TYPES else AutoModel
    return cls.from_pretrained(path, **kwargs), config


def prepare_tokenizer(path: str, is_decoder: bool):
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
        backbone, _ = load_backbone(path, quantization_config=bnb, device_map={"": torch.cuda.current_device()})
        backbone = prepare_model_for_kbit_training(
            backbone,
            use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
        if not use_lora:
            log.info("QLoRA: 4-bit weights are frozen, so LoRA is switched on")
            use_lora = True
    else:
        backbone, _ = load_backbone(path)
        if cfg.gradient_checkpointing:
            backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if use_lora:
        backbone = _wrap_lora(backbone, hf_config.model_type, cfg)
    tokenizer = prepare_tokenizer(path, is_decoder)
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
