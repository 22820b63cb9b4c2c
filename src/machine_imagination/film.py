"""The film: captions burned into frames, H.264 segments streamed to ffmpeg, the joined film and its .srt.

Each segment (one sentence's held image + its transition to the next) is encoded on its own with the
same settings, so a changed sentence re-renders only the segments it touches; the film is then joined
with ffmpeg's concat demuxer without re-encoding. Frames go to ffmpeg through a pipe as raw RGB, never
through image files.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


class FilmError(RuntimeError):
    """The film cannot be made; the message says why."""


def ffmpeg_exe() -> str:
    """The ffmpeg binary: $FFMPEG_BINARY if set, else the static build shipped by imageio-ffmpeg."""
    import imageio_ffmpeg

    return os.environ.get("FFMPEG_BINARY") or imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class CaptionStyle:
    font: str | None = None  # a TrueType file; None: DejaVu Sans if installed, else Pillow's own font
    size: float = 0.045  # text height as a fraction of the frame height
    margin: float = 0.04  # safe margin from the frame's edges, as a fraction of its height
    color: str = "#ffffff"
    box: bool = True  # a translucent band behind the text
    box_color: str = "#000000"
    box_opacity: float = 0.67
    outline: float = 0.0  # outline width as a fraction of the text height (0: none)
    outline_color: str = "#000000"
    position: str = "bottom"  # bottom, top or middle

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


def burn_caption(frame: np.ndarray, text: str, style: CaptionStyle) -> np.ndarray:
    """Draw `text`, wrapped to fit inside the safe margins, on `frame` (a [H, W, 3] uint8 array)."""
    from PIL import Image, ImageDraw

    height, width = frame.shape[:2]
    pixels = max(8, round(style.size * height))
    margin = round(style.margin * height)
    font = load_font(style.font, pixels)
    image = Image.fromarray(frame).convert("RGBA")
    draw = ImageDraw.Draw(image)
    lines = wrap_text(draw, text, font, width - 2 * margin)
    line_height = round(pixels * 1.25)
    block = line_height * len(lines)
    if style.position == "top":
        top = margin
    elif style.position == "middle":
        top = (height - block) // 2
    else:
        top = height - margin - block
    if style.box:
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


@dataclass(frozen=True)
class Encoding:
    fps: int = 30
    crf: int = 18
    preset: str = "medium"

    @classmethod
    def from_config(cls, config: dict) -> "Encoding":
        f = config["film"]
        return cls(fps=f["fps"], crf=f["crf"], preset=f["preset"])


class SegmentWriter:
    """Streams raw RGB frames into ffmpeg, which encodes H.264 (yuv420p) to `path` (atomically)."""

    def __init__(self, path: str | Path, width: int, height: int, encoding: Encoding):
        import ffmpeg

        if width % 2 or height % 2:
            raise FilmError(f"yuv420p needs an even frame size, got {width}x{height}; choose an even film.size")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{os.getpid()}{self.path.suffix}")
        self.frames = 0
        stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}",
                              framerate=encoding.fps)
        stream = ffmpeg.output(
            stream, str(self.tmp), vcodec="libx264", pix_fmt="yuv420p", crf=encoding.crf,
            preset=encoding.preset, r=encoding.fps, video_track_timescale=encoding.fps * 1000,
            map_metadata=-1, fflags="+bitexact", **{"flags:v": "+bitexact"},
        )
        args = ffmpeg.compile(stream, cmd=ffmpeg_exe(), overwrite_output=True)
        self.process = subprocess.Popen(args[:1] + ["-loglevel", "error"] + args[1:], stdin=subprocess.PIPE,
                                        stderr=subprocess.PIPE)

    def write(self, frames: np.ndarray) -> None:
        """`frames`: [N, H, W, 3] or [H, W, 3] uint8."""
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        self.frames += 1 if frames.ndim == 3 else frames.shape[0]
        self.process.stdin.write(frames.tobytes())

    def close(self) -> None:
        self.process.stdin.close()
        err = self.process.stderr.read().decode(errors="replace")
        if self.process.wait() != 0:
            self.tmp.unlink(missing_ok=True)
            raise FilmError(f"ffmpeg failed writing {self.path}: {err.strip()}")
        os.replace(self.tmp, self.path)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:
            self.process.kill()
            self.process.wait()
            self.tmp.unlink(missing_ok=True)


def render_segment(generator, latents: dict, next_latents: dict | None, caption: str, path, *, hold: int,
                   steps: int, size: int | None, batch: int, style: CaptionStyle | None, encoding: Encoding,
                   easing: str = "linear") -> int:
    """Encode one segment: `hold` frames of `latents`' image (captioned unless `style` is None), then
    the transition towards `next_latents` (none if it is None). Returns the number of frames written."""
    from .walk import render_still, render_transition

    still = render_still(generator, latents, size)
    if style is not None:
        still = burn_caption(still, caption, style)
    height, width = still.shape[:2]
    with SegmentWriter(path, width, height, encoding) as writer:
        writer.write(np.broadcast_to(still, (hold, *still.shape)))
        if next_latents is not None:
            for frames in render_transition(generator, latents, next_latents, steps, size, batch, easing):
                writer.write(frames)
    return writer.frames


def render_card_segment(text: str, path, *, frames: int, width: int, height: int, style: CaptionStyle,
                        encoding: Encoding) -> int:
    card = render_card(text, width, height, style)
    with SegmentWriter(path, width, height, encoding) as writer:
        writer.write(np.broadcast_to(card, (frames, *card.shape)))
    return writer.frames


def concat_segments(segments, path, subtitles=None) -> None:
    """Join segments encoded with identical settings into one mp4 without re-encoding; with
    `subtitles` (an .srt), add them as a soft subtitle track."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    listing = path.with_name(f".{path.stem}.segments.txt")
    listing.write_text("".join(f"file '{Path(s).resolve()}'\n" for s in segments))
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    args = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing)]
    if subtitles:
        args += ["-i", str(subtitles), "-map", "0:v", "-map", "1:s", "-c:s", "mov_text",
                 "-metadata:s:s:0", "language=und"]
    args += ["-c:v", "copy", "-map_metadata", "-1", "-fflags", "+bitexact", "-movflags", "+faststart", str(tmp)]
    result = subprocess.run(args, capture_output=True, text=True)
    listing.unlink(missing_ok=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise FilmError(f"ffmpeg could not join the segments into {path}: {result.stderr.strip()}")
    os.replace(tmp, path)


def srt_time(frame: int, fps: int) -> str:
    """Start time of `frame` in SRT notation, rounded down to the millisecond, so that the caption
    starts on exactly that frame and ends before the first frame after it."""
    ms = frame * 1000 // fps
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(captions: list[str], plan, path) -> None:
    """One cue per sentence, shown exactly while its image holds (see walk.FramePlan)."""
    cues = []
    for i, text in enumerate(captions):
        frames = plan.caption_frames(i)
        cues.append(f"{i + 1}\n{srt_time(frames.start, plan.fps)} --> {srt_time(frames.stop, plan.fps)}\n{text}\n")
    Path(path).write_text("\n".join(cues), encoding="utf-8")
