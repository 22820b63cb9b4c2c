"""Video through ffmpeg: raw RGB frames streamed into an H.264 encoder (never through image files),
and videos encoded with identical settings joined without re-encoding. Every file is written
atomically and bit-exactly (no dates or encoder versions in it). The film's segments, the search's
progress video and the CLI's walks all go through here."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import AtomicFile
from .schema import defaults

_FILM = defaults("film")


class FilmError(RuntimeError):
    """A film or video cannot be made; the message says why."""


def ffmpeg_exe() -> str:
    """The ffmpeg binary: $FFMPEG_BINARY if set, else the static build shipped by imageio-ffmpeg."""
    import imageio_ffmpeg

    return os.environ.get("FFMPEG_BINARY") or imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Encoding:
    fps: int = _FILM["fps"]
    crf: int = _FILM["crf"]
    preset: str = _FILM["preset"]

    @classmethod
    def from_config(cls, config: dict) -> "Encoding":
        f = config["film"]
        return cls(fps=f["fps"], crf=f["crf"], preset=f["preset"])


class VideoWriter:
    """Streams raw RGB frames into ffmpeg, which encodes H.264 (yuv420p) to `path` (atomically)."""

    def __init__(self, path: str | Path, width: int, height: int, encoding: Encoding):
        import ffmpeg

        if width % 2 or height % 2:
            raise FilmError(f"yuv420p needs an even frame size, got {width}x{height}; choose an even film.size")
        self.path = Path(path)
        self.file = AtomicFile(path)
        self.frames = 0
        stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}",
                              framerate=encoding.fps)
        stream = ffmpeg.output(
            stream, str(self.file.tmp), vcodec="libx264", pix_fmt="yuv420p", crf=encoding.crf,
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
            self.file.discard()
            raise FilmError(f"ffmpeg failed writing {self.path}: {err.strip()}")
        self.file.commit()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:
            self.process.kill()
            self.process.wait()
            self.file.discard()


@dataclass(frozen=True)
class AudioTrack:
    """An audio track for `concat_videos`: ffmpeg input arguments per input, and a filter graph from
    those inputs (named {0}, {1}, … in the order given) to one stream labelled [audio]."""
    inputs: tuple  # e.g. (("-i", "reading.wav"), ("-stream_loop", "-1", "-i", "music.mp3"))
    graph: str  # e.g. "[{0}:a]apad,atrim=duration=12[audio]"
    bitrate: str = "192k"


def concat_videos(videos, path, subtitles=None, audio: AudioTrack | None = None) -> None:
    """Join videos encoded with identical settings into one mp4 without re-encoding; with `subtitles`
    (an .srt), add them as a soft subtitle track; with `audio`, an AAC audio track."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    listing = path.with_name(f".{path.stem}.segments.txt")
    listing.write_text("".join(f"file '{Path(v).resolve()}'\n" for v in videos))
    with AtomicFile(path) as tmp:
        args = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing)]
        if subtitles:
            args += ["-i", str(subtitles)]
        for item in audio.inputs if audio else ():
            args += list(item)
        if subtitles or audio:
            args += ["-map", "0:v"]
        if subtitles:
            args += ["-map", "1:s", "-c:s", "mov_text", "-metadata:s:s:0", "language=und"]
        if audio:
            first = 2 if subtitles else 1
            graph = audio.graph.format(*range(first, first + len(audio.inputs)))
            args += ["-filter_complex", graph, "-map", "[audio]", "-c:a", "aac", "-b:a", audio.bitrate,
                     "-flags:a", "+bitexact"]
        args += ["-c:v", "copy", "-map_metadata", "-1", "-fflags", "+bitexact", "-movflags", "+faststart", str(tmp)]
        result = subprocess.run(args, capture_output=True, text=True)
        listing.unlink(missing_ok=True)
        if result.returncode != 0:
            raise FilmError(f"ffmpeg could not join the segments into {path}: {result.stderr.strip()}")
