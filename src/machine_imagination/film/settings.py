"""The film stage's settings (`FilmSettings`, one value per `film:` key, with the schema's defaults) and
what each of its outputs depends on: a segment (`segment_identity`), a title or end card
(`card_identity`), the subtitles and the film. The render rule's identity, the cards' and subtitles'
params and what film.json records all read them here, so that an edit re-renders exactly the outputs
it changes: a credits line only the end card, a caption colour every segment (but not the cards'
timing), a voice nothing unless the film is narrated."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..files import package_versions
from ..schema import defaults
from ..video import Encoding
from .captions import CaptionStyle

_DEFAULTS = defaults("film")


@dataclass(frozen=True)
class FilmSettings:
    fps: int = _DEFAULTS["fps"]
    pacing: str = _DEFAULTS["pacing"]
    hold: int = _DEFAULTS["hold"]
    words_per_minute: float = _DEFAULTS["words_per_minute"]
    hold_min: float = _DEFAULTS["hold_min"]
    hold_max: float = _DEFAULTS["hold_max"]
    narration: str = _DEFAULTS["narration"]
    voice: str = _DEFAULTS["voice"]
    narration_pause: float = _DEFAULTS["narration_pause"]
    steps: int = _DEFAULTS["steps"]
    easing: str = _DEFAULTS["easing"]
    loop: bool = _DEFAULTS["loop"]
    title_card: bool = _DEFAULTS["title_card"]
    end_card: bool = _DEFAULTS["end_card"]
    card_seconds: float = _DEFAULTS["card_seconds"]
    credits: str = _DEFAULTS["credits"]
    captions: str = _DEFAULTS["captions"]
    size: int | None = _DEFAULTS["size"]
    frame: tuple | None = _DEFAULTS["frame"]
    render_batch: int = _DEFAULTS["render_batch"]  # changes pixels: BigGAN's sums differ by batch size
    segments_per_job: int = _DEFAULTS["segments_per_job"]
    crf: int = _DEFAULTS["crf"]
    preset: str = _DEFAULTS["preset"]
    device: str = _DEFAULTS["device"]
    caption: CaptionStyle = CaptionStyle()

    @classmethod
    def from_config(cls, config: dict) -> "FilmSettings":
        film = config["film"]
        values = {f.name: film[f.name] for f in fields(cls) if f.name in film and f.name != "caption"}
        if values.get("frame") is not None:
            values["frame"] = tuple(values["frame"])
        return cls(**values, caption=CaptionStyle.from_config(config))

    @property
    def encoding(self) -> Encoding:
        return Encoding(fps=self.fps, crf=self.crf, preset=self.preset)

    @property
    def burned(self) -> bool:
        """Captions burned into the frames."""
        return self.captions in ("burned", "both")

    @property
    def soft(self) -> bool:
        """Captions as a subtitle track of the film."""
        return self.captions in ("soft", "both")

    def screen_identity(self) -> dict:
        """What the frame's layout depends on (film.screen.Screen)."""
        below = self.caption.position == "below"
        return {"size": self.size, "frame": self.frame, "caption_band": [self.caption.margin, self.caption.size]
                if below else None}

    def segment_identity(self, config: dict) -> dict:
        """What every segment depends on besides its own latents, caption, hold and walk: the frame, the
        burned caption's style, the walk's easing, the renderer and the encoder. (Not the cards, the
        pacing — the holds say it — the soft subtitles or the narration.)"""
        return {"screen": self.screen_identity(), "caption": asdict(self.caption) if self.burned else None,
                "easing": self.easing, "render_batch": self.render_batch, "device": self.device,
                "encoding": asdict(self.encoding), "generator": config["generator"]["model"],
                "packages": package_versions()}

    def card_identity(self, config: dict, text: str, frames: int) -> dict:
        """What a title or end card depends on: its text and length, the frame, the caption font and
        colours (cards are set in them, larger), the encoder."""
        return {"text": text, "frames": frames, "screen": self.screen_identity(), "caption": asdict(self.caption),
                "encoding": asdict(self.encoding), "generator": config["generator"]["model"],
                "packages": package_versions()}

    def narration_identity(self) -> dict:
        """What espeak-ng's reading depends on (film.narration: espeak)."""
        return {"narration": self.narration, "voice": self.voice, "words_per_minute": self.words_per_minute,
                "pause": max(self.narration_pause, (self.steps + 2) / self.fps)}

    def record(self) -> dict:
        """What film.json records of the settings: those that shaped the film."""
        return {"fps": self.fps, "pacing": self.pacing, "steps": self.steps, "easing": self.easing, "loop": self.loop,
                "captions": self.captions, "encoding": asdict(self.encoding), "screen": self.screen_identity(),
                "caption": asdict(self.caption) if self.burned else None,
                "narration": self.narration_identity() if self.narration != "none" else None}
