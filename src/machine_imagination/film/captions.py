"""Words on the film: captions burned into frames (wrapped inside safe margins, over a band or
outlined), the title and end cards, and the same captions as SRT subtitles."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..files import atomic_write_text
from ..schema import defaults
from ..video import FilmError

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


_DEFAULTS = defaults("film", "caption")


@dataclass(frozen=True)
class CaptionStyle:
    font: str | None = _DEFAULTS["font"]  # a TrueType file; None: DejaVu Sans if installed, else Pillow's own font
    size: float = _DEFAULTS["size"]  # text height as a fraction of the frame height
    margin: float = _DEFAULTS["margin"]  # safe margin from the frame's edges, as a fraction of its height
    color: str = _DEFAULTS["color"]
    box: bool = _DEFAULTS["box"]  # a translucent band behind the text
    box_color: str = _DEFAULTS["box_color"]
    box_opacity: float = _DEFAULTS["box_opacity"]
    outline: float = _DEFAULTS["outline"]  # outline width as a fraction of the text height (0: none)
    outline_color: str = _DEFAULTS["outline_color"]
    position: str = _DEFAULTS["position"]  # over the image: bottom, top or middle; or below it (see film.screen)

    @classmethod
    def from_config(cls, config: dict) -> "CaptionStyle":
        c = config["film"]["caption"]
        return cls(**{k: c[k] for k in cls.__dataclass_fields__ if k in c})


def load_font(path: str | None, pixels: int):
    from PIL import ImageFont

    if path:
        try:
            return ImageFont.truetype(path, pixels)
        except OSError as err:
            raise FilmError(f"film.caption.font: cannot load font '{path}': {err}") from None
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return ImageFont.truetype(candidate, pixels)
    try:
        return ImageFont.load_default(size=pixels)  # Pillow's bundled TrueType font (needs FreeType)
    except (TypeError, ImportError, OSError):
        raise FilmError("no TrueType font found for captions: install DejaVu Sans (Debian: fonts-dejavu-core) "
                        "or set film.caption.font to a .ttf file") from None


def _rgb(color: str, what: str) -> tuple:
    from PIL import ImageColor

    try:
        return ImageColor.getrgb(color)[:3]
    except ValueError:
        raise FilmError(f"{what}: {color!r} is not a colour (use a name or #rrggbb)") from None


def burn_caption(frame: np.ndarray, text: str, style: CaptionStyle, band: tuple | None = None) -> np.ndarray:
    """Draw `text`, wrapped to fit inside the safe margins, on `frame` (a [H, W, 3] uint8 array): over
    it at `style.position`, or with `band` (first row, row after the last) centred in that band, in a
    smaller font if it needs more lines than fit."""
    from PIL import Image, ImageDraw

    height, width = frame.shape[:2]
    pixels = max(8, round(style.size * height))
    margin = round(style.margin * height)
    image = Image.fromarray(frame).convert("RGBA")
    draw = ImageDraw.Draw(image)
    while True:
        font = load_font(style.font, pixels)
        lines = wrap_text(draw, text, font, width - 2 * margin)
        line_height = round(pixels * 1.25)
        block = line_height * len(lines)
        if band is None or block <= band[1] - band[0] - margin or pixels <= 8:
            break
        pixels -= 1
    if band is not None:
        top = (band[0] + band[1] - block) // 2
    elif style.position == "top":
        top = margin
    elif style.position == "middle":
        top = (height - block) // 2
    else:
        top = height - margin - block
    if style.box and band is None:
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        pad = max(2, margin // 2)
        ImageDraw.Draw(overlay).rectangle([0, max(0, top - pad), width, min(height, top + block + pad)],
                                          fill=(*_rgb(style.box_color, "film.caption.box_color"),
                                                round(255 * style.box_opacity)))
        image = Image.alpha_composite(image, overlay)
        draw = ImageDraw.Draw(image)
    stroke = round(style.outline * pixels)
    fill = _rgb(style.color, "film.caption.color")
    outline = _rgb(style.outline_color, "film.caption.outline_color")
    for k, line in enumerate(lines):
        x = (width - draw.textlength(line, font=font)) / 2
        draw.text((x, top + k * line_height), line, font=font, fill=fill, stroke_width=stroke, stroke_fill=outline)
    return np.asarray(image.convert("RGB"))


def wrap_text(draw, text: str, font, max_width: float) -> list[str]:
    """Greedy word wrap by measured width (a word longer than the line gets a line of its own)."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=font) > max_width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + [line] if line else lines or [""]


def render_card(text: str, width: int, height: int, style: CaptionStyle, scale: float = 1.6) -> np.ndarray:
    """A title or end card: the text centred on black."""
    card = replace(style, size=style.size * scale, position="middle", box=False)
    return burn_caption(np.zeros((height, width, 3), np.uint8), text, card)


def srt_time(frame: int, fps: int) -> str:
    """Start time of `frame` in SRT notation, rounded down to the millisecond, so that the caption
    starts on exactly that frame and ends before the first frame after it."""
    ms = frame * 1000 // fps
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(captions: list[str], plan, path) -> None:
    """One cue per sentence, shown exactly while its image holds (see film.plan.FramePlan)."""
    cues = []
    for i, text in enumerate(captions):
        frames = plan.caption_frames(i)
        cues.append(f"{i + 1}\n{srt_time(frames.start, plan.fps)} --> {srt_time(frames.stop, plan.fps)}\n{text}\n")
    atomic_write_text(path, "\n".join(cues))
