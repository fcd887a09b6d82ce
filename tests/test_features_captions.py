"""BLIP captions through the real iterator pandas UDF into Delta, with a tiny random BLIP."""

from __future__ import annotations

import io
import json
import logging

import pytest
from pyspark.sql import functions as F


D = "2026-11-23"
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "red", "chair", "blue", "lamp", "on", "the"]


def _tiny_blip(folder) -> str:
    """A randomly initialised BLIP (one layer each side, 32x32 images) with a WordPiece tokenizer."""
    import torch
    from transformers import BertTokenizerFast, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    folder.mkdir(parents=True, exist_ok=True)
    # transformers 5 builds the WordPiece model from a vocab mapping (a vocab_file alone is not read).
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(WORDS)}, do_lower_case=True, bos_token="[DEC]")
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer)
    config = BlipConfig(
        text_config=dict(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=64, encoder_hidden_size=32,
                         bos_token_id=WORDS.index("[DEC]"), pad_token_id=0, sep_token_id=3, eos_token_id=3),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=16),
        projection_dim=32,
    )
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(config).eval()
    with torch.no_grad():  # make the random decoder say "red" whatever it sees: a caption we can assert
        head = model.text_decoder.cls.predictions
        for bias in {id(b): b for b in (head.bias, head.decoder.bias) if b is not None}.values():
            bias[WORDS.index("red")] = 50.0
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def _png(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_captioning_off_says_so_once_and_writes_nothing(tmp_path, caplog, test_config_file):
    from spark_jobs import caption_pins

    with caplog.at_level(logging.INFO):
        code = caption_pins.main(["--warehouse", str(tmp_path / "wh"), "--config", str(test_config_file)])
    assert code == 0
    assert [r.getMessage() for r in caplog.records if "captioning is off" in r.getMessage()] == [
        "captioning is off (captions.model is null): features/pin_captions not written"
    ]
    assert not (tmp_path / "wh" / "features").exists()


@pytest.mark.spark
def test_images_to_caption_skips_unchanged_images_of_the_same_model(spark):
    from features.pin_captions import images_to_caption, sha256_hex

    a, b = _png((1, 2, 3)), _png((4, 5, 6))
    images = spark.createDataFrame([("p1", a), ("p2", b), ("p3", a)], "pin_id string, image binary")
    existing = spark.createDataFrame(
        [("p1", "x", "m1", sha256_hex(a)), ("p2", "y", "m1", sha256_hex(a)), ("p3", "z", "m0", sha256_hex(a))],
        "pin_id string, caption string, captioner string, image_sha256 string",
    )
    todo = images_to_caption(images, existing, "m1")
    # p1 unchanged; p2's image changed; p3 was captioned by another model.
    assert sorted((r["pin_id"], r["image_sha256"]) for r in todo.collect()) == [("p2", sha256_hex(b)), ("p3", sha256_hex(a))]


@pytest.mark.spark
@pytest.mark.slow
def test_caption_job_runs_the_udf_into_delta_and_quarantines_bad_images(spark, tables, tmp_path, capsys):
    from features.pin_captions import sha256_hex
    from spark_jobs import caption_pins

    model = _tiny_blip(tmp_path / "blip")
    red, blue = _png((200, 0, 0)), _png((0, 0, 200))
    tables.overwrite(
        "raw/pin_images",
        spark.createDataFrame(
            [("p1", red), ("p2", blue), ("p3", b"\x89PNG but not really"), (None, red)], "pin_id string, image binary"
        ),
    )
    empty = tmp_path / "empty.yaml"  # the code's defaults plus the overrides, whatever conf/ holds right now
    empty.write_text("")
    args = ["--warehouse", tables.root, "--config", str(empty), "--ds", D, "--json", "--set", f"captions.model={model}",
            "--set", "captions.batch_size=2", "--set", "captions.max_new_tokens=3",
            "--set", "spark.master=local[2]", "--set", "spark.shuffle_partitions=2"]
    assert caption_pins.main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first == {"status": "captioned", "captioned": 2, "quarantined": 2, "model": model}
    rows = sorted(tables.read("features/pin_captions").collect())
    assert [(r["pin_id"], r["caption"], r["captioner"], r["image_sha256"]) for r in rows] == [
        ("p1", "red red red", model, sha256_hex(red)),
        ("p2", "red red red", model, sha256_hex(blue)),
    ]
    reasons = sorted(r["reason"] for r in tables.read("quarantine/raw_pin_images").where(F.col("ds") == D).collect())
    assert reasons == ["null pin_id", "undecodable image (UnidentifiedImageError)"]

    # Nothing new or changed: the model is not run again and the table is unchanged.
    version = tables.version("features/pin_captions")
    assert caption_pins.main(args) == 0
    assert json.loads(capsys.readouterr().out)["captioned"] == 0
    assert tables.version("features/pin_captions") == version
