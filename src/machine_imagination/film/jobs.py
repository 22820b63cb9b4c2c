"""The film stage's jobs (workflow/rules/film.smk): the reading the film follows (a recording or a
narration), each film segment, the title and end cards, the subtitles, and the film joined from its
segments with its soundtrack. Each takes the validated config and explicit paths and writes its
outputs atomically."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import Reading, narrate, prepare_reading, soundtrack
from ..files import sha256_file, write_json
from ..latents import Latents
from ..models.device import deterministic, select_device
from ..project import provenance
from ..status import job_progress, record_time, text_status
from ..video import Encoding, VideoWriter, concat_videos
from .captions import CaptionStyle, render_card, write_srt
from .plan import frame_plan
from .screen import Screen
from .walk import render_segment


def reading_job(config: dict, sentences: list[str], *, wav_path, timing_path, recording=None, timing=None) -> Reading:
    """The reading a film with `film.pacing: audio` follows: the artist's recording and its timing
    file, or (without one) the sentences narrated by espeak-ng, each followed by a pause long enough
    for the walk to the next image."""
    film = config["film"]
    if recording is not None:
        return prepare_reading(recording, timing, wav_path, timing_path)
    pause = max(film["narration_pause"], (film["steps"] + 2) / film["fps"])
    return narrate(sentences, voice=film["voice"], words_per_minute=film["words_per_minute"], pause=pause,
                   tail=pause, out_wav=wav_path, out_timing=timing_path)


@dataclass(frozen=True)
class SegmentRender:
    """One segment of a render job: sentence `index`'s latents held with its caption (for `hold` frames,
    or as the reading's cues say), then the walk to `next_latents` (none for the film's last one)."""

    index: int
    latents: Path
    next_latents: Path | None
    caption: str
    hold: int | None
    segment: Path


def segment_block_job(config: dict, segments: list[SegmentRender], *, threads: int = 1, timing_path=None,
                      text_dir=None, log=print) -> list[int]:
    """Render and encode a block of consecutive segments (film.segments_per_job of them) with the
    generator loaded once; each segment is the same file a job of its own would write. With a reading
    (`timing_path`), its cues say how long each image holds and each walk takes. With the text's results
    directory (`text_dir`), each segment's time is recorded there and the log says after each segment
    how far the whole text has come."""
    from ..models.generator import load_generator

    film = config["film"]
    plan = frame_plan(film, [], Reading.load(timing_path)) if timing_path is not None else None
    with deterministic(threads):
        # 1. what every segment shares: the generator, the caption style, the encoder, the frame
        generator = load_generator(config["generator"]["model"], select_device(film["device"]))
        style = CaptionStyle.from_config(config) if film["captions"] in ("burned", "both") else None
        encoding, screen = Encoding.from_config(config), Screen.from_config(film, generator.resolution)
        written, started = [], time.monotonic()
        for segment in segments:
            # 2. each segment: its hold and walk (from the plan with a reading), its frames, encoded
            hold, steps, lead = segment.hold, film["steps"], 0
            if plan is not None:
                index = segment.index
                hold, steps, lead = plan.holds[index], plan.transition_frames(index), plan.lead if index == 0 else 0
            log(f"rendering segment {segment.index} ({segment.latents} -> {segment.next_latents or 'the end'})")
            segment_started = time.monotonic()
            current = Latents.load(segment.latents)
            following = Latents.load(segment.next_latents) if segment.next_latents else None
            written.append(render_segment(generator, current, following, segment.caption, segment.segment,
                                          hold=hold, steps=steps, size=film["size"], batch=film["render_batch"],
                                          style=style, encoding=encoding, easing=film["easing"], screen=screen,
                                          lead=lead))
            log(f"segment {segment.index}: {written[-1]} frames written to {segment.segment}; "
                + job_progress(len(written), len(segments), time.monotonic() - started, "segments"))
            if text_dir is not None:
                record_time(text_dir, "segments", segment.index, time.monotonic() - segment_started,
                            frames=written[-1])
                log(text_status(text_dir).describe())
        return written


def card_job(config: dict, *, text: str, frames: int, segment_path) -> int:
    """Encode a title or end card with the same settings as the sentence segments."""
    from ..models.generator import generator_resolution

    screen = Screen.from_config(config["film"], generator_resolution(config["generator"]["model"]))
    card = render_card(text, screen.width, screen.height, CaptionStyle.from_config(config))
    with VideoWriter(segment_path, screen.width, screen.height, Encoding.from_config(config)) as writer:
        writer.write(np.broadcast_to(card, (frames, *card.shape)))
    return writer.frames


def subtitles_job(config: dict, captions: list[str], path, timing_path=None) -> None:
    reading = Reading.load(timing_path) if timing_path else None
    write_srt(captions, frame_plan(config["film"], captions, reading), path)


def film_job(config: dict, segments: list, captions: list[str], film_path, record_path, subtitles=None, *,
             reading_wav=None, timing_path=None, sound: dict | None = None) -> None:
    """Join the segments into `film.mp4` (with a soft subtitle track if asked, and the soundtrack: the
    reading from the end of the title card on, music under it) and record what made it."""
    film, sound = config["film"], sound or {}
    music = sound.get("music")
    music_settings = {k: v for k, v in sound.items() if k.startswith("music_")}  # the schema's defaults filled in
    reading = Reading.load(timing_path) if timing_path else None
    plan = frame_plan(film, captions, reading)
    track = soundtrack(plan.total_frames / plan.fps, reading=reading_wav, delay=plan.title / plan.fps, music=music,
                       **music_settings)
    concat_videos(segments, film_path, subtitles if film["captions"] in ("soft", "both") else None, track)
    audio = {}
    if track is not None:
        audio = {"audio": {
            "reading": {"cues": [[c.start, c.end] for c in reading.cues], "seconds": reading.duration,
                        "sha256": sha256_file(reading_wav), "source": reading.source} if reading is not None else None,
            "music": {"music": music, **music_settings, "sha256": sha256_file(music)} if music else None,
        }}
    write_json(record_path, {
        "frames": plan.total_frames,
        "fps": plan.fps,
        "seconds": plan.total_frames / plan.fps,
        "caption_frames": [[r.start, r.stop] for r in map(plan.caption_frames, range(plan.sentences))],
        "film": config["film"],
        **audio,
        **provenance(config),
    })
