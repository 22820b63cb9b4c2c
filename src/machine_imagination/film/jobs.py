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
from ..files import package_versions, sha256_file, write_json
from ..latents import Latents
from ..models.device import deterministic, select_device
from ..receipts import stage_receipts
from ..status import job_progress, record_time, text_status
from ..video import VideoWriter, concat_videos
from .captions import render_card, write_srt
from .plan import frame_plan
from .screen import Screen
from .settings import FilmSettings
from .walk import render_segment


def reading_job(config: dict, sentences: list[str], *, wav_path, timing_path, recording=None, timing=None) -> Reading:
    """The reading a film with `film.pacing: audio` follows: the artist's recording and its timing
    file, or (without one) the sentences narrated by espeak-ng, each followed by a pause long enough
    for the walk to the next image."""
    if recording is not None:
        return prepare_reading(recording, timing, wav_path, timing_path)
    narration = FilmSettings.from_config(config).narration_identity()
    return narrate(sentences, voice=narration["voice"], words_per_minute=narration["words_per_minute"],
                   pause=narration["pause"], tail=narration["pause"], out_wav=wav_path, out_timing=timing_path)


@dataclass(frozen=True)
class SegmentRender:
    """One segment of a render job: sentence `index`'s latents held with its caption (for `hold` frames,
    or as the reading's cues say), then the walk to `next_latents` (none for the film's last one);
    `identity`: the digest of what it depends on (machine_imagination.pipeline), by which a segment
    rendered before is found."""

    index: int
    latents: Path
    next_latents: Path | None
    caption: str
    hold: int | None
    segment: Path
    identity: str = ""


def rendered_before(text_dir) -> dict[str, str]:
    """segment path -> SHA-256 of each segment the text's render receipts list with its identity, keyed
    '<identity>:<path>'."""
    found = {}
    for receipt in stage_receipts(text_dir, "render"):
        for item in receipt.identity.values():
            if isinstance(item, dict) and "identity" in item:
                name = f"segments/{item['index']:04d}.mp4"
                if name in receipt.products:
                    found[f"{item['identity']}:{name}"] = receipt.products[name]["sha256"]
    return found


def segment_block_job(config: dict, segments: list[SegmentRender], *, threads: int = 1, timing_path=None,
                      text_dir=None, receipt=None, log=print) -> list[int]:
    """Render and encode a block of consecutive segments (film.segments_per_job of them) with the
    generator loaded once; each segment is the same file a job of its own would write, and one that an
    earlier job rendered from the same identity (its receipt says so, and the file is unchanged) is kept
    as it is. With a reading (`timing_path`), its cues say how long each image holds and each walk takes.
    With the text's results directory (`text_dir`), each segment's time is recorded there and the log
    says after each segment how far the whole text has come."""
    from ..models.generator import load_generator

    film = FilmSettings.from_config(config)
    plan = frame_plan(config["film"], [], Reading.load(timing_path)) if timing_path is not None else None
    earlier = rendered_before(text_dir) if text_dir is not None else {}
    with deterministic(threads):
        # 1. what every segment shares: the generator, the caption style, the encoder, the frame
        generator = None
        written, started = [], time.monotonic()
        for segment in segments:
            # 2. a segment rendered before from the same identity is kept
            name = Path(segment.segment).relative_to(text_dir).as_posix() if text_dir is not None else None
            key = f"{segment.identity}:{name}"
            if segment.identity and key in earlier and Path(segment.segment).is_file() \
                    and sha256_file(segment.segment) == earlier[key]:
                log(f"segment {segment.index}: rendered before from the same latents and settings, kept as it is")
                written.append(0)
                continue
            if generator is None:
                generator = load_generator(config["generator"]["model"], select_device(film.device))
                screen = Screen.from_config(config["film"], generator.resolution)
            # 3. each segment: its hold and walk (from the plan with a reading), its frames, encoded
            hold, steps, lead = segment.hold, film.steps, 0
            if plan is not None:
                index = segment.index
                hold, steps, lead = plan.holds[index], plan.transition_frames(index), plan.lead if index == 0 else 0
            log(f"rendering segment {segment.index} ({segment.latents} -> {segment.next_latents or 'the end'})")
            segment_started = time.monotonic()
            current = Latents.load(segment.latents)
            following = Latents.load(segment.next_latents) if segment.next_latents else None
            written.append(render_segment(generator, current, following, segment.caption, segment.segment,
                                          hold=hold, steps=steps, size=film.size, batch=film.render_batch,
                                          style=film.caption if film.burned else None, encoding=film.encoding,
                                          easing=film.easing, screen=screen, lead=lead))
            log(f"segment {segment.index}: {written[-1]} frames written to {segment.segment}; "
                + job_progress(len(written), len(segments), time.monotonic() - started, "segments"))
            if text_dir is not None:
                record_time(text_dir, "segments", segment.index, time.monotonic() - segment_started,
                            frames=written[-1])
                log(text_status(text_dir).describe())
        if receipt is not None:
            receipt.write(text_dir, [segment.segment for segment in segments])
        return written


def card_job(config: dict, *, text: str, frames: int, segment_path) -> int:
    """Encode a title or end card with the same settings as the sentence segments."""
    from ..models.generator import generator_resolution

    film = FilmSettings.from_config(config)
    screen = Screen.from_config(config["film"], generator_resolution(config["generator"]["model"]))
    card = render_card(text, screen.width, screen.height, film.caption)
    with VideoWriter(segment_path, screen.width, screen.height, film.encoding) as writer:
        writer.write(np.broadcast_to(card, (frames, *card.shape)))
    return writer.frames


def subtitles_job(config: dict, captions: list[str], path, timing_path=None) -> None:
    reading = Reading.load(timing_path) if timing_path else None
    write_srt(captions, frame_plan(config["film"], captions, reading), path)


def film_job(config: dict, segments: list, captions: list[str], film_path, record_path, subtitles=None, *,
             reading_wav=None, timing_path=None, sound: dict | None = None) -> None:
    """Join the segments into `film.mp4` (with a soft subtitle track if asked, and the soundtrack: the
    reading from the end of the title card on, music under it) and record what made it."""
    film, sound = FilmSettings.from_config(config), sound or {}
    music = sound.get("music")
    music_settings = {k: v for k, v in sound.items() if k.startswith("music_")}  # the schema's defaults filled in
    reading = Reading.load(timing_path) if timing_path else None
    plan = frame_plan(config["film"], captions, reading)
    track = soundtrack(plan.total_frames / plan.fps, reading=reading_wav, delay=plan.title / plan.fps, music=music,
                       **music_settings)
    concat_videos(segments, film_path, subtitles if film.soft else None, track)
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
        "film": film.record(),
        **audio,
        "generator": config["generator"]["model"],
        "packages": package_versions(),
    })
