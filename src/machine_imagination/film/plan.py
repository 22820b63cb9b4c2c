"""The film's frame plan: which frame shows what.

An optional title card, then for each sentence i its image held for hold_i frames (with its caption)
followed by `steps` frames moving to image i+1 (none after the last image, unless the film loops back
to the first), then an optional end card. hold_i is `film.hold` frames, or with `film.pacing:
reading` the sentence's reading time at `film.words_per_minute`, kept between `film.hold_min` and
`film.hold_max` seconds. So the film has
    title + sum(hold_i) + steps * (n - 1 + loop) + end
frames.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FramePlan:
    holds: tuple  # frames each sentence's image holds
    steps: int  # transition frames between consecutive images
    fps: int
    loop: bool = False  # a last transition from the last image back to the first
    title: int = 0  # frames of the title card
    end: int = 0  # frames of the end card

    @property
    def sentences(self) -> int:
        return len(self.holds)

    def transition_frames(self, index: int) -> int:
        return self.steps if (index < self.sentences - 1 or self.loop) else 0

    def segment_frames(self, index: int) -> int:
        return self.holds[index] + self.transition_frames(index)

    def start_frame(self, index: int) -> int:
        return self.title + sum(self.holds[:index]) + self.steps * index

    def caption_frames(self, index: int) -> range:
        """Frames during which sentence `index` is shown (its image holds)."""
        start = self.start_frame(index)
        return range(start, start + self.holds[index])

    @property
    def total_frames(self) -> int:
        return self.title + sum(self.segment_frames(i) for i in range(self.sentences)) + self.end


def hold_frames(sentence: str, film: dict) -> int:
    """Frames a sentence's image holds: fixed, or its reading time within [hold_min, hold_max] seconds."""
    if film["pacing"] == "fixed":
        return film["hold"]
    seconds = len(sentence.split()) / film["words_per_minute"] * 60.0
    seconds = min(max(seconds, film["hold_min"]), film["hold_max"])
    return max(1, round(seconds * film["fps"]))


def frame_plan(film: dict, sentences: list[str]) -> FramePlan:
    """The frame plan of a text's film from the config's `film` section."""
    card = round(film["card_seconds"] * film["fps"])
    return FramePlan(
        holds=tuple(hold_frames(s, film) for s in sentences),
        steps=film["steps"],
        fps=film["fps"],
        loop=film["loop"],
        title=card if film["title_card"] else 0,
        end=card if film["end_card"] else 0,
    )
