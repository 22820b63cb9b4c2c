"""The candidates sheet: one row per sentence, its candidates' images side by side, each with its
number, seed (or, in a race, where it stopped and which iteration its image is from: Race.label) and judge
score; the kept one framed
in green (and named, with how it was picked)."""
from __future__ import annotations

import io
from dataclasses import dataclass

from ..files import atomic_write_bytes
from ..film.captions import load_font, wrap_text
from ..latents import Candidates, Race

KEPT = (30, 160, 60)


@dataclass(frozen=True)
class CandidateRow:
    """One sentence of the sheet."""

    index: int
    sentence: str
    images: list  # candidate k's image file, in order
    choice: Candidates  # which was kept, every candidate's seed and judge score
    race: Race | None = None  # search.race: who stopped when


def candidates_sheet(rows: list[CandidateRow], path, *, thumb: int = 160, font: str | None = None) -> None:
    from PIL import Image, ImageDraw

    # 1. the layout: a label column with the sentence, then one column per candidate
    pad, frame = 8, 4
    font_pixels = max(10, thumb // 12)
    small = load_font(font, font_pixels)
    line = round(font_pixels * 1.25)
    label_width = 2 * thumb
    columns = max(len(row.images) for row in rows)
    cell_height = thumb + 2 * frame + 3 * line + pad  # the image, then three caption lines
    width = pad + label_width + columns * (thumb + pad + 2 * frame) + pad
    sheet = Image.new("RGB", (width, pad + len(rows) * cell_height), "white")
    draw = ImageDraw.Draw(sheet)
    # 2. one row per sentence
    for r, row in enumerate(rows):
        y = pad + r * cell_height
        label = f"{row.index}. {row.sentence}"
        for n, text in enumerate(wrap_text(draw, label, small, label_width - pad)[: thumb // line]):
            draw.text((pad, y + n * line), text, font=small, fill=(20, 20, 20))
        for k, image in enumerate(row.images):
            x = pad + label_width + k * (thumb + pad + 2 * frame)
            kept = k == row.choice.kept
            if kept:
                draw.rectangle([x, y, x + thumb + 2 * frame - 1, y + thumb + 2 * frame - 1], fill=KEPT)
            picture = Image.open(image).convert("RGB").resize((thumb, thumb), Image.LANCZOS)
            sheet.paste(picture, (x + frame, y + frame))
            raced = row.race.label(k) if row.race else None
            caption = [f"{k}{' kept (' + row.choice.picked_by + ')' if kept else ''}",
                       raced or f"seed {row.choice.seeds[k]}",
                       f"judge {row.choice.scores[k]:.3f}"]  # each fits under its image
            for n, text in enumerate(caption):
                draw.text((x + frame, y + thumb + 2 * frame + 2 + n * line), text, font=small,
                          fill=KEPT if kept and n == 0 else (20, 20, 20))
    # 3. the file
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
