"""features/pin_captions: image captions from an off-the-shelf BLIP captioner.

The paper adds a caption of the pin's image to the teacher's text. Captioning
is the most expensive feature, so:

- only images whose sha256 is new or changed since the last run (or captioned
  by another model) are sent to the model (`images_to_caption`);
- the model runs inside a Spark pandas UDF of the iterator form, so each Python
  worker loads it once (cached in the worker process, reused across tasks) and
  captions Arrow batches in micro-batches, on the GPU in half precision when
  the worker has one and on the CPU in fp32 otherwise;
- an image Pillow cannot decode (or one the model says nothing about) gets an
  error instead of a caption, and the job sends that row to quarantine rather
  than failing the run.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from typing import Iterator

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

log = logging.getLogger(__name__)

CAPTION_SCHEMA = StructType([StructField("caption", StringType()), StructField("error", StringType())])

_MODELS: dict[str, "Captioner"] = {}
_LOCK = threading.Lock()


def image_rules() -> list[tuple[str, Column]]:
    """Rules that send a raw/pin_images row to quarantine before any decoding."""
    return [("null pin_id", F.col("pin_id").isNull()), ("null image", F.col("image").isNull())]


def images_to_caption(images: DataFrame, existing: DataFrame | None, captioner: str) -> DataFrame:
    """Images (pin_id, image) whose (sha256, captioner) differs from the stored caption of the pin.

    Adds `image_sha256`; a pin whose image bytes are unchanged and that the same
    model already captioned is skipped.
    """
    hashed = images.withColumn("image_sha256", F.sha2(F.col("image"), 256))
    if existing is None:
        return hashed
    done = existing.where(F.col("captioner") == captioner).select("pin_id", "image_sha256")
    return hashed.join(done, ["pin_id", "image_sha256"], "left_anti")


class Captioner:
    """A BLIP model and its processor on one device; `caption(list of bytes)` -> [(caption, error)]."""

    def __init__(self, model: str, max_new_tokens: int, batch_size: int) -> None:
        import torch
        from transformers import BlipForConditionalGeneration, BlipProcessor

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.processor = BlipProcessor.from_pretrained(model)
        # use_safetensors: never transformers' fallback to a pickled pytorch_model.bin (modeling.safe_weights).
        self.model = BlipForConditionalGeneration.from_pretrained(
            model, dtype=self.dtype, use_safetensors=True
        ).to(self.device).eval()
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        log.info("BLIP captioner %s loaded on %s (%s)", model, self.device, self.dtype)

    @staticmethod
    def decode(data: bytes | None):
        from PIL import Image

        if data is None:
            raise ValueError("no image bytes")
        with Image.open(io.BytesIO(bytes(data))) as img:
            img.load()
            return img.convert("RGB")

    def caption(self, images: list[bytes | None]) -> list[tuple[str | None, str | None]]:
        import torch

        out: list[tuple[str | None, str | None]] = [(None, None)] * len(images)
        decoded = []
        for i, data in enumerate(images):
            try:
                decoded.append((i, self.decode(data)))
            except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad bytes
                out[i] = (None, f"undecodable image ({type(exc).__name__})")
        for lo in range(0, len(decoded), self.batch_size):
            chunk = decoded[lo : lo + self.batch_size]
            inputs = self.processor(images=[img for _, img in chunk], return_tensors="pt")
            pixel_values = inputs["pixel_values"].to(self.device, self.dtype)
            with torch.inference_mode():
                ids = self.model.generate(pixel_values=pixel_values, max_new_tokens=self.max_new_tokens)
            texts = self.processor.batch_decode(ids, skip_special_tokens=True)
            for (i, _), text in zip(chunk, texts):
                caption = " ".join(text.split())
                out[i] = (caption, None) if caption else (None, "empty caption")
        return out


def get_captioner(model: str, max_new_tokens: int, batch_size: int) -> Captioner:
    """The worker process's captioner for `model`, loaded on first use."""
    key = f"{model}|{max_new_tokens}|{batch_size}"
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = Captioner(model, max_new_tokens, batch_size)
        return _MODELS[key]


def caption_column(image: Column | str, model: str, max_new_tokens: int, batch_size: int) -> Column:
    """struct<caption, error> per image, computed by `model` in an iterator pandas UDF."""

    @F.pandas_udf(CAPTION_SCHEMA)
    def _caption(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        captioner = get_captioner(model, max_new_tokens, batch_size)
        for batch in batches:
            result = captioner.caption(list(batch))
            yield pd.DataFrame(result, columns=["caption", "error"])

    return _caption(F.col(image) if isinstance(image, str) else image)


def sha256_hex(data: bytes) -> str:
    """The same digest as Spark's sha2(image, 256), for tests and tools."""
    return hashlib.sha256(data).hexdigest()
