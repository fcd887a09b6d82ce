"""The teacher, as the rest of the pipeline imports it: one name for each piece, each kept in its own module.

The teacher is a Hugging Face backbone + pooling + an MLP head to the 5
relevance levels (Pinterest's cross-encoder, for encoders and decoder LLMs
alike). Its pieces, one idea each:

- `teacher_model`: the network (`CrossEncoder`, pooling, head);
- `teacher_build`: a fresh teacher from its config (backbone, LoRA, 4-bit QLoRA, tokenizer);
- `teacher_tokens`: (query, text) pairs to token ids, the decoder prompt, dynamic padding;
- `teacher_inference`: the one batched inference loop (also under the Spark labelling UDF);
- `teacher_store`: save / load (safetensors + teacher.json), versions and the `current`
  pointer through `modeling.registry`, the same format as the student's.

Jobs, suites, benches and tests import from here, so moving code between those
modules never touches them.
"""

from __future__ import annotations

from modeling.registry import new_version
from modeling.teacher_build import (
    build_teacher,
    default_backbone,
    effective_pooling,
    is_decoder_config,
    lora_targets,
)
from modeling.teacher_inference import predict_proba, score_encoded
from modeling.teacher_model import NUM_LABELS, CrossEncoder, build_head, first_token_index, last_token_index, pool
from modeling.teacher_store import (
    FORMAT_VERSION,
    HEAD_FILE,
    LABEL_SCHEME,
    POINTER_FILE,
    TEACHER_JSON,
    list_versions,
    load_teacher,
    resolve_teacher_dir,
    save_teacher,
    set_current,
    teacher_root,
)
from modeling.teacher_tokens import DECODER_PROMPT, PROMPT_VERSION, encode_pairs, pad_batch, pad_token_id

# The name teacher_fit.py and teacher_training.py (the recipe, edited elsewhere) still use.
_pad_id = pad_token_id

__all__ = [
    "DECODER_PROMPT", "FORMAT_VERSION", "HEAD_FILE", "LABEL_SCHEME", "NUM_LABELS", "POINTER_FILE",
    "PROMPT_VERSION", "TEACHER_JSON", "CrossEncoder", "build_head", "build_teacher", "default_backbone",
    "effective_pooling", "encode_pairs", "first_token_index", "is_decoder_config", "last_token_index",
    "list_versions", "load_teacher", "lora_targets", "new_version", "pad_batch", "pad_token_id", "pool",
    "predict_proba", "resolve_teacher_dir", "save_teacher", "score_encoded", "set_current", "teacher_root",
]
