"""Small encoded pin images: the concept's colour as background, a shape per object.

Real enough for the captioning step to decode, hash and run a model over, and
with a few deliberately undecodable files so that its error handling is
exercised. Each image depends only on its pin's concept and index.
"""

from __future__ import annotations

import io
import pandas as pd

COLOUR_RGB: list[tuple[int, int, int]] = [
    (200, 30, 40), (40, 70, 200), (40, 160, 60), (235, 210, 40), (20, 20, 20),
    (245, 245, 245), (240, 150, 190), (128, 128, 128), (120, 72, 30), (225, 205, 170),
]
IMAGE_SCHEMA = "pin_id string, image binary"


def render_png(colour: int, obj: int, detail: int, variant: int, size: int = 32) -> bytes:
    """PNG of a shape (chosen by object) on the colour's background; `variant` shifts it a little."""
    from PIL import Image, ImageDraw

    bg = COLOUR_RGB[colour % len(COLOUR_RGB)]
    fg = COLOUR_RGB[(colour + 3 + detail) % len(COLOUR_RGB)]
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    m = size // 6 + variant % 3
    box = (m, m, size - 1 - m, size - 1 - m)
    shape = obj % 6
    if shape == 0:
        draw.ellipse(box, fill=fg)
    elif shape == 1:
        draw.rectangle(box, fill=fg)
    elif shape == 2:
        draw.polygon([(size // 2, m), (size - 1 - m, size - 1 - m), (m, size - 1 - m)], fill=fg)
    elif shape == 3:
        draw.polygon([(size // 2, m), (size - 1 - m, size // 2), (size // 2, size - 1 - m), (m, size // 2)], fill=fg)
    elif shape == 4:
        for y in range(m, size - m, 4):
            draw.line([(m, y), (size - 1 - m, y)], fill=fg, width=2)
    else:
        draw.ellipse(box, outline=fg, width=3)
    # a small mark per object, so that objects sharing a shape still differ
    mark = (obj // 6) * 3 % (size - 4)
    draw.rectangle((mark, size - 4, mark + 3, size - 1), fill=fg)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def corrupt(png: bytes, variant: int) -> bytes:
    """Bytes no decoder accepts: a PNG cut off in its header, or plain garbage."""
    if variant % 2 == 0:
        return png[:24]
    return b"\x00\x00not-an-image\xff" + png[::-1][:40]


def render_images(pins: pd.DataFrame, size: int) -> pd.DataFrame:
    """(pin_id, image) for pins with an image; corrupt ones get undecodable bytes.

    Rendered on the driver: a 32x32 PNG is ~100-200 bytes, so even the large
    world's images are a few tens of MB, and Python workers are not needed.
    """
    frame = pins[pins["image_status"] != "missing"]
    images = []
    for pin_idx, colour, obj, detail, status in zip(
        frame["pin_idx"], frame["a0"], frame["object"], frame["a1"], frame["image_status"]
    ):
        png = render_png(int(colour), int(obj), int(detail), int(pin_idx), size)
        images.append(corrupt(png, int(pin_idx)) if status == "corrupt" else png)
    return pd.DataFrame({"pin_id": frame["pin_id"].to_numpy(), "image": images})
