"""The contact sheet: every sentence's image in reading order, each with its index and sentence."""
from __future__ import annotations

import io

import numpy as np

from ..files import atomic_write_bytes
from ..film.captions import load_font, wrap_text


def contact_sheet(images: list, captions: list[str], path, *, thumb: int = 256, columns: int = 4,
                  font: str | None = None, first: int = 0) -> None:
    """Every sentence's image in reading order, each with its index (from `first`: a page of a long
    text's sheet starts further on) and (wrapped) sentence below it."""
    from PIL import Image, ImageDraw

    font_pixels = max(10, thumb // 18)
    small = load_font(font, font_pixels)
    line = round(font_pixels * 1.25)
    draw_probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = [wrap_text(draw_probe, f"{i}. {c}", small, thumb - 8)[:4] for i, c in enumerate(captions, first)]
    text_height = line * max(len(w) for w in wrapped) + 8
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    pad = 8
    sheet = Image.new("RGB", (columns * (thumb + pad) + pad, rows * (thumb + text_height + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, image in enumerate(images):
        x = pad + (i % columns) * (thumb + pad)
        y = pad + (i // columns) * (thumb + text_height + pad)
        picture = Image.open(image).convert("RGB") if not isinstance(image, np.ndarray) else Image.fromarray(image)
        sheet.paste(picture.resize((thumb, thumb), Image.LANCZOS), (x, y))
        for k, text in enumerate(wrapped[i]):
            draw.text((x + 4, y + thumb + 4 + k * line), text, font=small, fill=(20, 20, 20))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
