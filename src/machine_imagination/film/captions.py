"""Words on the film: captions burned into frames (wrapped inside safe margins, over a band or
outlined), the title and end cards, and the same captions as SRT subtitles."""
from __future__ import annotations

import functools
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


# A burned caption covers at most this share of the frame's height (over the image), or its band (below
# it, at the smallest font): a longer one is cut at a line's end with an ellipsis, and the main process
# warns of it before any job (`caption_warnings`). film.srt and the soft subtitles keep it whole.
MAX_CAPTION_SHARE = 0.5
SMALLEST_FONT = 8  # pixels: a caption in the band below the image shrinks to fit, down to this
ELLIPSIS = "…"


@dataclass(frozen=True)
class CaptionLayout:
    """How a caption is set: its font (and size), the lines it wraps to, and whether it was cut."""

    font: object
    pixels: int
    lines: tuple
    line_height: int
    cut: bool = False


def layout_caption(text: str, style: CaptionStyle, width: int, height: int, band: tuple | None = None,
                   draw=None) -> CaptionLayout:
    """The lines `text` wraps to inside the safe margins of a `width` x `height` frame (in `band`, in a
    smaller font if it needs more lines than fit), cut with an ellipsis to the lines that fit in
    MAX_CAPTION_SHARE of the frame (or in the band)."""
    from PIL import Image, ImageDraw

    draw = draw or ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pixels = max(SMALLEST_FONT, round(style.size * height))
    margin = round(style.margin * height)
    room = band[1] - band[0] - margin if band is not None else MAX_CAPTION_SHARE * height
    while True:
        font = load_font(style.font, pixels)
        lines = wrap_text(draw, text, font, width - 2 * margin)
        line_height = round(pixels * 1.25)
        if band is None or line_height * len(lines) <= room or pixels <= SMALLEST_FONT:
            break
        pixels -= 1
    fit = max(1, int(room // line_height))
    if len(lines) <= fit:
        return CaptionLayout(font, pixels, tuple(lines), line_height)
    last = lines[fit - 1].split()
    while len(last) > 1 and draw.textlength(" ".join(last) + ELLIPSIS, font=font) > width - 2 * margin:
        last.pop()
    return CaptionLayout(font, pixels, (*lines[:fit - 1], " ".join(last) + ELLIPSIS), line_height, cut=True)


def burn_caption(frame: np.ndarray, text: str, style: CaptionStyle, band: tuple | None = None) -> np.ndarray:
    """Draw `text` (as `layout_caption` sets it) on `frame` (a [H, W, 3] uint8 array): over it at
    `style.position`, or with `band` (first row, row after the last) centred in that band."""
    from PIL import Image, ImageDraw

    height, width = frame.shape[:2]
    margin = round(style.margin * height)
    image = Image.fromarray(frame).convert("RGBA")
    draw = ImageDraw.Draw(image)
    layout = layout_caption(text, style, width, height, band, draw)
    font, lines, line_height = layout.font, layout.lines, layout.line_height
    pixels = layout.pixels
    block = line_height * len(lines)
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


def card_style(style: CaptionStyle, scale: float = 1.6) -> CaptionStyle:
    """The style of a title or end card's text: the caption's, larger, centred, without a box."""
    return replace(style, size=style.size * scale, position="middle", box=False)


def render_card(text: str, width: int, height: int, style: CaptionStyle) -> np.ndarray:
    """A title or end card: the text centred on black."""
    return burn_caption(np.zeros((height, width, 3), np.uint8), text, card_style(style))


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


# ---------------------------------------------------------------------------------------------- before any job

def film_title(config: dict, text: str) -> str:
    """The title card's text: `titles.<text>`, or the text's name capitalised."""
    return config["titles"].get(text) or text.replace("-", " ").replace("_", " ").title()


def missing_glyphs(text: str, font) -> list[str]:
    """The characters of `text` that `font` has no glyph for (it draws its 'missing' box), in order of
    first appearance; spaces, marks and format characters (joiners, variation selectors) are not looked
    at. Each distinct character is drawn once."""
    import unicodedata

    notdef = _glyph(font, "\uffff")  # a noncharacter: no font maps it
    return [char for char in dict.fromkeys(text) if not char.isspace()
            and unicodedata.category(char) not in ("Mn", "Me", "Cf", "Cc") and _glyph(font, char) == notdef]


def _glyph(font, char: str) -> tuple:
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(char)
    image = Image.new("L", (max(1, right - min(left, 0)) + 2, max(1, bottom - min(top, 0)) + 2))
    ImageDraw.Draw(image).text((-min(left, 0), -min(top, 0)), char, font=font, fill=255)
    return image.size, image.tobytes()


def caption_warnings(config: dict, prompts: dict) -> list[str]:
    """What the burned captions and the cards will look like, said once before any job (the main
    process: the cost grows with the text): per text, the sentences (and cards) with characters the
    caption font draws as boxes (film.caption.font can name one that has them), and those whose
    caption is cut to the lines that fit (when the frame's size is known: the tiny offline generator's
    is known once the workflow has made it). Raises FilmError when the font cannot be loaded."""
    from ..models.generator import BIGGAN_FILES, generator_files, generator_resolution
    from .screen import Screen

    film, style = config["film"], CaptionStyle.from_config(config)
    font = load_font(style.font, 32)
    font_name = style.font or getattr(font, "path", None) or "Pillow's built-in font"
    model = config["generator"]["model"]
    made = not generator_files(model) or Path(model, BIGGAN_FILES[0]).is_file()  # not a model a rule makes later
    resolution = film["size"] or (generator_resolution(model) if made and not film["frame"] else None)
    screen = Screen.from_config(film, resolution) if resolution or film["frame"] else None
    warnings = []
    for name, text_prompts in prompts.items():
        captions = [(f"sentence {p.index}", p.sentence, False) for p in text_prompts
                    if film["captions"] in ("burned", "both")]
        captions += [("the title card", film_title(config, name), True)] if film["title_card"] else []
        captions += [("the end card (film.credits)", film["credits"], True)] if film["end_card"] else []
        # 1. characters the font has no glyph for
        chars = missing_glyphs("".join(text for _, text, _ in captions), font)
        boxed = [what for what, text, _ in captions if set(chars) & set(text)]
        if boxed:
            warnings.append(f"texts.{name}: the caption font ({font_name}) has no glyph for {_few(chars, '')} "
                            f"({_few([f'U+{ord(c):04X}' for c in chars], ', ', 4)}), which it draws as boxes, in "
                            f"{_few(boxed, ', ', 6)}; set film.caption.font to a TrueType or OpenType font that "
                            "has them (e.g. Noto Sans CJK for Chinese, Japanese or Korean)")
        # 2. captions cut to the lines that fit
        if screen is None:
            continue
        cut = []
        for what, text, card in captions:
            own, band = (card_style(style), None) if card else (style, screen.band)
            if not fits_surely(text, own, screen.width, screen.height, band) and \
                    layout_caption(text, own, screen.width, screen.height, band).cut:
                cut.append(f"{what} ({len(text)} characters)")
        if cut:
            where = "the band below the image" if screen.band else f"{MAX_CAPTION_SHARE:.0%} of the frame's height"
            warnings.append(f"texts.{name}: the burned captions of {_few(cut, ', ', 6)} need more lines than fit in "
                            f"{where}: each is cut with {ELLIPSIS} (film.srt and soft subtitles keep it whole)")
    return warnings


def fits_surely(text: str, style: CaptionStyle, width: int, height: int, band: tuple | None = None) -> bool:
    """A quick bound, from one measurement of the whole text, that `layout_caption` does not cut it:
    greedy wrapping fills every line but the last to more than the line's width less a space and the
    next word, so n lines of a text of width L need n - 1 < 2 L / (width - space) (with 10 % for
    kerning). A caption in the band is bounded at the smallest font it may shrink to."""
    from PIL import Image, ImageDraw

    pixels = SMALLEST_FONT if band is not None else max(SMALLEST_FONT, round(style.size * height))
    font, margin = _font(style.font, pixels), round(style.margin * height)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    usable = width - 2 * margin - draw.textlength(" ", font=font)
    room = band[1] - band[0] - margin if band is not None else MAX_CAPTION_SHARE * height
    lines = max(1, int(room // round(pixels * 1.25)))
    return usable > 0 and 1 + 2.2 * draw.textlength(text, font=font) / usable <= lines


@functools.lru_cache(maxsize=16)
def _font(path: str | None, pixels: int):
    return load_font(path, pixels)


def _few(items: list, sep: str, n: int = 12) -> str:
    return sep.join(items[:n]) + (f"{sep}… ({len(items) - n} more)" if len(items) > n else "")
