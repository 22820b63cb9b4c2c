"""The film stage's jobs (workflow/rules/film.smk): each film segment, the title and end cards, the
subtitles, and the film joined from its segments. Each takes the validated config and explicit paths
and writes its outputs atomically."""
from __future__ import annotations

import numpy as np

from ..files import write_json
from ..latents import Latents
from ..models.device import deterministic, select_device
from ..project import provenance
from ..video import Encoding, VideoWriter, concat_videos
from .captions import CaptionStyle, render_card, write_srt
from .plan import frame_plan
from .walk import render_segment


def segment_job(config: dict, *, latents_path, next_latents_path, caption: str, hold: int, segment_path,
                threads: int = 1) -> int:
    """Render and encode one film segment: the sentence's image held (with its caption, if burned in),
    then the walk to the next image."""
    from ..models.generator import load_generator

    film = config["film"]
    with deterministic(threads):
        generator = load_generator(config["generator"]["model"], select_device(film["device"]))
        current = Latents.load(latents_path)
        following = Latents.load(next_latents_path) if next_latents_path else None
        style = CaptionStyle.from_config(config) if film["captions"] in ("burned", "both") else None
        return render_segment(generator, current, following, caption, segment_path, hold=hold, steps=film["steps"],
                              size=film["size"], batch=film["render_batch"], style=style,
                              encoding=Encoding.from_config(config), easing=film["easing"])


def card_job(config: dict, *, text: str, frames: int, segment_path) -> int:
    """Encode a title or end card with the same settings as the sentence segments."""
    from ..models.generator import generator_resolution

    side = config["film"]["size"] or generator_resolution(config["generator"]["model"])
    card = render_card(text, side, side, CaptionStyle.from_config(config))
    with VideoWriter(segment_path, side, side, Encoding.from_config(config)) as writer:
        writer.write(np.broadcast_to(card, (frames, *card.shape)))
    return writer.frames


def subtitles_job(config: dict, captions: list[str], path) -> None:
    write_srt(captions, frame_plan(config["film"], captions), path)


def film_job(config: dict, segments: list, captions: list[str], film_path, record_path, subtitles=None) -> None:
    """Join the segments into `film.mp4` (with a soft subtitle track if asked) and record what made it."""
    concat_videos(segments, film_path, subtitles if config["film"]["captions"] in ("soft", "both") else None)
    plan = frame_plan(config["film"], captions)
    write_json(record_path, {
        "frames": plan.total_frames,
        "fps": plan.fps,
        "seconds": plan.total_frames / plan.fps,
        "caption_frames": [[r.start, r.stop] for r in map(plan.caption_frames, range(plan.sentences))],
        "film": config["film"],
        **provenance(config),
    })
