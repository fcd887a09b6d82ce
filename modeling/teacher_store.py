"""Saved teachers: safetensors + teacher.json on disk, versions, and the `current` pointer.

Models are stored as safetensors + `teacher.json` only (nothing is unpickled):
full backbone weights, or the LoRA adapter alone when LoRA was used, plus
`head.safetensors`. Versions live under `<models_path>/teacher/<version>/`;
which one labelling uses is the `current` pointer, kept by `modeling.registry`
in the same format as the student's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from modeling import backbones, registry
from modeling.teacher_build import load_backbone
from modeling.teacher_model import CrossEncoder
from modeling.teacher_tokens import DECODER_PROMPT, PROMPT_VERSION

log = logging.getLogger(__name__)

LABEL_SCHEME = {"labels": [1, 2, 3, 4, 5], "class_index": "label - 1", "name": "relevance_1to5"}
FORMAT_VERSION = 1
POINTER_FILE = registry.POINTER_FILE
TEACHER_JSON = "teacher.json"
HEAD_FILE = "head.safetensors"


def _is_lora(model: CrossEncoder) -> bool:
    return hasattr(model.backbone, "peft_config")


def save_teacher(model: CrossEncoder, tokenizer: Any, meta: dict, directory: str | os.PathLike[str]) -> Path:
    """Write safetensors + teacher.json into `directory` atomically (a killed save leaves nothing half-written)."""
    from safetensors.torch import save_file

    final = Path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = registry.staging_dir(final)
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
        registry.publish_staged(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("saved teacher (%s weights) to %s", info["weights"], final)
    return final


def load_teacher(directory: str | os.PathLike[str], device: str = "cpu"):
    """(model in eval mode, tokenizer, meta) from a directory `save_teacher` wrote; never unpickles."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from modeling.safe_weights import refuse_pickles

    root = Path(directory)
    refuse_pickles(root, "teacher")  # save_teacher writes none: one found here was planted
    meta_file = root / TEACHER_JSON
    if not meta_file.exists():
        raise FileNotFoundError(f"no {TEACHER_JSON} in {root}: not a saved teacher")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta["weights"] == "lora":
        from peft import PeftModel

        base, _ = load_backbone(backbones.resolve(meta["backbone"]))
        backbone = PeftModel.from_pretrained(base, str(root / "adapter"), is_trainable=False)
    else:
        backbone, _ = load_backbone(str(root / "backbone"))
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


def set_current(models_path: str | os.PathLike[str], version: str) -> Path:
    """Publish a saved version: labelling's "current" teacher is this one from now on."""
    return registry.set_current(teacher_root(models_path), version, TEACHER_JSON, kind="teacher")


def resolve_teacher_dir(models_path: str | os.PathLike[str], version: str = "current") -> Path:
    """The directory of a teacher version; "current" follows the pointer file."""
    return registry.resolve(teacher_root(models_path), version, TEACHER_JSON, kind="teacher",
                            train_command="teacher-train")


def list_versions(models_path: str | os.PathLike[str]) -> list[str]:
    return registry.versions(teacher_root(models_path), TEACHER_JSON)
