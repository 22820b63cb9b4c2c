"""The film: captions burned into frames, H.264 segments streamed to ffmpeg, the joined film and its .srt.

Each segment (one sentence's held image + its transition to the next) is encoded on its own with the
same settings, so a changed sentence re-renders only the segments it touches; the film is then joined
with ffmpeg's concat demuxer without re-encoding. Frames go to ffmpeg through a pipe as raw RGB, never
through image files.
"""
from __future__ import annotations

import os
import subprocess
import textwrap
from dataclasses import dataclass
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
    margin: float = 0.04  # distance from the frame's edges, as a fraction of its height

    @classmethod
    def from_config(cls, config: dict) -> "CaptionStyle":
        c = config["film"]["caption"]
        return cls(font=c["font"], size=c["size"], margin=c["margin"])


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
    return ImageFont.load_default(size=pixels)  # Pillow's bundled TrueType font


def burn_caption(frame: np.ndarray, text: str, style: CaptionStyle) -> np.ndarray:
    """Draw `text`, wrapped to the frame's width, in white on a dark band at the bottom of `frame`."""
    from PIL import Image, ImageDraw

    height, width = frame.shape[:2]
    pixels = max(8, round(style.size * height))
    margin = round(style.margin * height)
    font = load_font(style.font, pixels)
    image = Image.fromarray(frame).convert("RGBA")
    draw = ImageDraw.Draw(image)
    average = max(1.0, draw.textlength("abcdefghijklmnopqrstuvwxyz", font=font) / 26)
    lines = textwrap.wrap(text, width=max(8, int((width - 2 * margin) / average))) or [""]
    line_height = round(pixels * 1.25)
    band_top = height - margin - line_height * len(lines) - margin // 2
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(overlay).rectangle([0, max(0, band_top - margin // 2), width, height], fill=(0, 0, 0, 170))
    image = Image.alpha_composite(image, overlay)
    draw = ImageDraw.Draw(image)
    for k, line in enumerate(lines):
        x = (width - draw.textlength(line, font=font)) / 2
        draw.text((x, band_top + k * line_height), line, font=font, fill=(255, 255, 255, 255))
    return np.asarray(image.convert("RGB"))


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
                   steps: int, size: int | None, batch: int, style: CaptionStyle, encoding: Encoding) -> int:
    """Encode one segment: `hold` captioned frames of `latents`' image, then the transition towards
    `next_latents` (none if it is None). Returns the number of frames written."""
    from .walk import render_still, render_transition

    still = burn_caption(render_still(generator, latents, size), caption, style)
    height, width = still.shape[:2]
    with SegmentWriter(path, width, height, encoding) as writer:
        writer.write(np.broadcast_to(still, (hold, *still.shape)))
        if next_latents is not None:
            for frames in render_transition(generator, latents, next_latents, steps, size, batch):
                writer.write(frames)
    return writer.frames


def concat_segments(segments, path) -> None:
    """Join segments encoded with identical settings into one mp4 without re-encoding."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    listing = path.with_name(f".{path.stem}.segments.txt")
    listing.write_text("".join(f"file '{Path(s).resolve()}'\n" for s in segments))
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    args = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
            "-c", "copy", "-map_metadata", "-1", "-fflags", "+bitexact", "-movflags", "+faststart", str(tmp)]
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
