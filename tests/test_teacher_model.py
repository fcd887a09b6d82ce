"""The cross-encoder on tiny random BERT and Llama backbones: pooling, padding, LoRA, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from modeling.cross_encoder import (
    CrossEncoder,
    build_teacher,
    encode_pairs,
    load_teacher,
    pad_batch,
    predict_proba,
    resolve_teacher_dir,
    save_teacher,
    set_current,
)
from modeling.tiny_models import make_tiny_bert, make_tiny_llama
from searchrel.core.config import LoraConfig, TeacherConfig
from searchrel.core.errors import ConfigError

QUERIES = ["red sofa", "cordless drill", "wedding dress with lace"]
TEXTS = ["a red velvet sofa for a small living room", "drill", "summer wedding dress with lace sleeves and more"]


@pytest.fixture(scope="module")
def tiny_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {"bert": make_tiny_bert(root / "bert"), "llama": make_tiny_llama(root / "llama")}


def _teacher(path, **kw) -> tuple[CrossEncoder, object]:
    cfg = TeacherConfig(backbone=path, head_hidden=[16], max_length=48, **kw)
    torch.manual_seed(0)
    model, tok = build_teacher(cfg)
    model.eval()
    return model, tok


def test_bert_pair_encoding_is_cls_query_sep_text_sep(tiny_paths):
    model, tok = _teacher(tiny_paths["bert"])
    enc = encode_pairs(tok, ["cordless drill"], ["drill with battery"], max_length=48, is_decoder=False)
    assert tok.convert_ids_to_tokens(enc["input_ids"][0]) == [
        "[CLS]", "cord", "##less", "drill", "[SEP]", "drill", "with", "battery", "[SEP]"
    ]
    assert enc["token_type_ids"][0] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    # Truncation cuts the item text, never the query, and keeps the final [SEP].
    short = encode_pairs(tok, ["cordless drill"], ["drill with battery"], max_length=7, is_decoder=False)
    assert tok.convert_ids_to_tokens(short["input_ids"][0]) == ["[CLS]", "cord", "##less", "drill", "[SEP]", "drill", "[SEP]"]
    # A query that alone overflows still encodes (both sides cut) instead of failing the batch.
    both = encode_pairs(tok, ["cordless drill", "a very long query indeed"], ["drill", "x y"], 7, is_decoder=False)
    assert tok.convert_ids_to_tokens(both["input_ids"][0])[-2:] == ["drill", "[SEP]"]
    assert tok.convert_ids_to_tokens(both["input_ids"][1]) == ["[CLS]", "a", "very", "[SEP]", "x", "y", "[SEP]"]


def test_decoder_prompt_ends_in_eos_and_truncates_the_text(tiny_paths):
    model, tok = _teacher(tiny_paths["llama"])
    assert model.is_decoder and model.pooling == "last_token"  # cls from the config is overridden
    full = encode_pairs(tok, ["red sofa"], ["a red velvet sofa"], max_length=200, is_decoder=True)["input_ids"][0]
    assert full[0] == tok.bos_token_id and full[-1] == tok.eos_token_id
    assert tok.decode(full, skip_special_tokens=True) == "Query: red sofa\nItem: a red velvet sofa\nRelevant:"
    cut = encode_pairs(tok, ["red sofa"], ["a red velvet sofa " * 20], max_length=30, is_decoder=True)["input_ids"][0]
    assert len(cut) == 30 and cut[-1] == tok.eos_token_id
    assert tok.decode(cut, skip_special_tokens=True).endswith("\nRelevant:")


@pytest.mark.parametrize("arch", ["bert", "llama"])
@pytest.mark.parametrize("pooling", ["cls", "last_token", "mean"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pooling_picks_the_right_tokens(tiny_paths, arch, pooling, side):
    model, tok = _teacher(tiny_paths[arch], pooling=pooling)
    if arch == "llama" and pooling == "cls":
        pytest.skip("decoders never pool the first token")
    enc = encode_pairs(tok, QUERIES, TEXTS, 48, model.is_decoder)
    lengths = [len(x) for x in enc["input_ids"]]
    assert len(set(lengths)) > 1  # padding really happens
    batch = pad_batch(enc, tok.pad_token_id, side)
    with torch.no_grad():
        pooled = model.pooled(**batch)
        for i, n in enumerate(lengths):
            # The same row alone, unpadded: its hidden states are the reference.
            alone = {k: torch.tensor([v[i]]) for k, v in enc.items()}
            hidden = model.backbone(**alone).last_hidden_state[0]
            expected = {"cls": hidden[0], "last_token": hidden[n - 1], "mean": hidden.mean(dim=0)}[pooling]
            torch.testing.assert_close(pooled[i], expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ["bert", "llama"])
def test_lora_trains_only_adapter_and_head(tiny_paths, arch):
    model, tok = _teacher(tiny_paths[arch], lora=LoraConfig(enabled=True, r=4, alpha=8))
    names = model.trainable_parameter_names()
    assert names and all("lora_" in n or n.startswith("head.") for n in names)
    assert any(n.startswith("head.") for n in names) and any("lora_A" in n for n in names)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = pad_batch(encode_pairs(tok, QUERIES, TEXTS, 48, model.is_decoder), tok.pad_token_id)
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(model(**batch), torch.tensor([4, 0, 2]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert changed and changed <= set(names)
    assert any("lora_B" in n for n in changed)  # B starts at zero, so a moved B proves the adapter trained


def test_qlora_without_cuda_is_a_one_line_config_error(tiny_paths):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: QLoRA is tested by test_qlora_trains_on_cuda")
    cfg = TeacherConfig(backbone=tiny_paths["llama"], quantization="4bit")
    with pytest.raises(ConfigError, match="needs a CUDA GPU") as err:
        build_teacher(cfg)
    assert "\n" not in str(err.value)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="QLoRA needs CUDA")
def test_qlora_trains_on_cuda(tiny_paths):
    cfg = TeacherConfig(backbone=tiny_paths["llama"], quantization="4bit", head_hidden=[16], max_length=48,
                        lora=LoraConfig(enabled=True, r=4, alpha=8))
    model, tok = build_teacher(cfg)
    assert all("lora_" in n or n.startswith("head.") for n in model.trainable_parameter_names())
    batch = {k: v.cuda() for k, v in pad_batch(encode_pairs(tok, QUERIES, TEXTS, 48, True), tok.pad_token_id).items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    target = torch.tensor([4, 0, 2], device="cuda")
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.cross_entropy(model(**batch).float(), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("arch, lora", [("bert", False), ("llama", True)])
def test_save_load_gives_the_same_probabilities(tiny_paths, tmp_path, arch, lora):
    model, tok = _teacher(tiny_paths[arch], lora=LoraConfig(enabled=lora, r=4, alpha=8))
    with torch.no_grad():  # move the head and adapter off their initial values
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01 * torch.randn_like(p))
    meta = {"version": "v1", "metrics": {"test": {"accuracy": 0.5}}}
    models = tmp_path / "models"
    path = save_teacher(model, tok, meta, models / "teacher" / "v1")
    files = {p.name for p in path.rglob("*") if p.is_file()}
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    assert ("adapter_model.safetensors" in files) == lora and ("model.safetensors" in files) != lora
    set_current(models, "v1")
    assert resolve_teacher_dir(models) == path
    loaded, tok2, meta2 = load_teacher(resolve_teacher_dir(models, "current"))
    assert meta2["metrics"] == meta["metrics"] and meta2["weights"] == ("lora" if lora else "full")
    assert json.loads((path / "teacher.json").read_text())["label_scheme"]["labels"] == [1, 2, 3, 4, 5]
    before = predict_proba(model, tok, meta2, QUERIES, TEXTS, batch_size=2)
    after = predict_proba(loaded, tok2, meta2, QUERIES, TEXTS, batch_size=2)
    assert before.shape == (3, 5)
    np.testing.assert_allclose(before.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_resolve_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="teacher-train"):
        resolve_teacher_dir(tmp_path)
    with pytest.raises(FileNotFoundError, match="v9"):
        resolve_teacher_dir(tmp_path, "v9")
