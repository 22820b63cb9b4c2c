"""The film's frame plan: which frame shows what.

An optional title card, then for each sentence i its image held for hold_i frames (with its caption)
followed by the walk to image i+1, then an optional end card.

- `film.pacing: fixed` or `reading`: hold_i is `film.hold` frames, or the sentence's reading time at
  `film.words_per_minute` kept between `film.hold_min` and `film.hold_max` seconds; every walk is
  `steps` frames (none after the last image, unless the film loops back to the first). So the film has
      title + sum(hold_i) + steps * (n - 1 + loop) + end
  frames.
- `film.pacing: audio`: the film follows a reading's cues (audio.Reading). Recording time t is
  film frame title + floor(t * fps). Until the first cue the screen is black (the lead); sentence i's
  image appears on its cue's first frame, and the walk to image i+1 ends on the frame before cue i+1
  starts. The walk fills the silence between the end of cue i and the start of cue i+1, at most `steps`
  frames (from the first frame after the cue's end): a shorter gap shortens the walk, never the reading,
  so each image holds at least as long as its sentence is spoken. A cue without an end (an Audacity point
  label) leaves the walk at most half of its stretch. The last image holds until the recording ends.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..audio import end_frame, start_frame


@dataclass(frozen=True)
class FramePlan:
    holds: tuple  # frames each sentence's image holds
    steps: int  # transition frames between consecutive images (unless `transitions` says otherwise)
    fps: int
    loop: bool = False  # a last transition from the last image back to the first
    title: int = 0  # frames of the title card
    end: int = 0  # frames of the end card
    transitions: tuple | None = None  # frames of each sentence's walk onward, when they differ (audio pacing)
    lead: int = 0  # black frames between the title card and the first image (audio pacing)

    @property
    def sentences(self) -> int:
        return len(self.holds)

    def transition_frames(self, index: int) -> int:
        if self.transitions is not None:
            return self.transitions[index]
        return self.steps if (index < self.sentences - 1 or self.loop) else 0

    def segment_frames(self, index: int) -> int:
        """Frames of sentence `index`'s segment file: (the lead,) its hold, its walk onward."""
        return (self.lead if index == 0 else 0) + self.holds[index] + self.transition_frames(index)

    def start_frame(self, index: int) -> int:
        """The film frame on which sentence `index`'s image first shows."""
        return self.title + self.lead + sum(self.holds[:index]) + sum(map(self.transition_frames, range(index)))

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


def card_frames(film: dict) -> tuple[int, int]:
    """Frames of the title and end cards (0 where the card is off)."""
    card = round(film["card_seconds"] * film["fps"])
    return (card if film["title_card"] else 0), (card if film["end_card"] else 0)


def frame_plan(film: dict, sentences: list[str], reading=None) -> FramePlan:
    """The frame plan of a text's film from the config's `film` section; with `film.pacing: audio`,
    from the cues of `reading` (an audio.Reading) instead of the sentences."""
    if film["pacing"] == "audio":
        if reading is None:
            raise ValueError("film.pacing 'audio' plans the film from a reading's cues: none was given")
        return audio_plan(film, reading)
    title, end = card_frames(film)
    return FramePlan(holds=tuple(hold_frames(s, film) for s in sentences), steps=film["steps"], fps=film["fps"],
                     loop=film["loop"], title=title, end=end)


def audio_plan(film: dict, reading) -> FramePlan:
    """The frame plan that follows a reading's cues (see the module's text)."""
    fps, steps = film["fps"], film["steps"]
    # 1. Where each image first shows, and where its stretch ends (the next cue; the recording's end).
    starts = [start_frame(cue.start, fps) for cue in reading.cues]
    stops = starts[1:] + [end_frame(reading.duration, fps)]
    holds, transitions = [], []
    for i, cue in enumerate(reading.cues):
        stretch = stops[i] - starts[i]
        # 2. The walk onward fills the silence after the cue (the last walks only when the film loops).
        walks = i < len(reading.cues) - 1 or film["loop"]
        silence = stops[i] - max(end_frame(cue.end, fps), starts[i] + 1) if cue.end is not None else stretch // 2
        walk = min(steps, max(0, silence)) if walks else 0
        # 3. The image holds for the rest of its stretch.
        holds.append(stretch - walk)
        transitions.append(walk)
    title, end = card_frames(film)
    return FramePlan(holds=tuple(holds), steps=steps, fps=fps, loop=film["loop"], title=title, end=end,
                     transitions=tuple(transitions), lead=starts[0])
