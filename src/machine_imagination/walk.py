"""The walk between consecutive sentences: spherical interpolation of latents and the film's frame plan.

Frame plan: an optional title card, then for each sentence i its image held for hold_i frames (with
its caption) followed by `steps` frames moving to image i+1 (none after the last image, unless the
film loops back to the first), then an optional end card. hold_i is `film.hold` frames, or with
`film.pacing: reading` the sentence's reading time at `film.words_per_minute`, kept between
`film.hold_min` and `film.hold_max` seconds. So the film has
    title + sum(hold_i) + steps * (n - 1 + loop) + end
frames. Transition frames use t = k/(steps+1), k = 1..steps (both end points are the held images),
optionally eased in and out.
"""
from __future__ import annotations

import math
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


def transition_times(steps: int, easing: str = "linear"):
    import torch

    t = torch.arange(1, steps + 1, dtype=torch.float64) / (steps + 1)
    if easing == "ease-in-out":  # slow out of one image, slow into the next
        t = (1 - torch.cos(math.pi * t)) / 2
    return t


def slerp(a, b, t):
    """Spherical interpolation between vectors a and b ([D]) at times t ([T]) -> [T, D] (float64 inside)."""
    import torch

    a64, b64, t = a.double(), b.double(), t.double().unsqueeze(1)
    cos = torch.dot(a64, b64) / (a64.norm() * b64.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:  # (anti)parallel: the sphere gives no direction, fall back to a straight line
        out = (1 - t) * a64 + t * b64
    else:
        out = (torch.sin((1 - t) * omega) * a64 + torch.sin(t * omega) * b64) / torch.sin(omega)
    return out.to(a.dtype)


def to_uint8_frames(images, size: int | None):
    """[N, 3, H, W] in [0, 1] -> [N, size, size, 3] uint8 numpy, resized on the device if asked."""
    import torch.nn.functional as F

    if size and size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False,
                               antialias=True).clamp(0, 1)
    return (images * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def class_vectors(generator, *records):
    """The class vectors of latents records as tensors, in one space: logits when every record has
    logits, else class embeddings (searches in 'random-embeddings' mode store those)."""
    import torch

    if all("class_logits" in r for r in records):
        return [torch.as_tensor(r["class_logits"]) for r in records], "logits"
    out = []
    for r in records:
        if "class_embedding" in r:
            out.append(torch.as_tensor(r["class_embedding"]))
        else:
            probs = torch.softmax(torch.as_tensor(r["class_logits"], dtype=torch.float32), dim=-1)
            out.append((probs.to(generator.device) @ generator.class_embeddings()).cpu())
    return out, "embedding"


def render_latents(generator, noise, classes, truncation: float, size: int | None, batch: int,
                   class_mode: str = "logits", grayscale: bool = False):
    """Yield uint8 frame batches for rows of `noise` [T, z] and class vectors `classes` [T, C]."""
    import torch

    device = generator.device
    with torch.inference_mode():
        for start in range(0, noise.shape[0], batch):
            z = noise[start:start + batch].to(device=device, dtype=torch.float32)
            c = classes[start:start + batch].to(device=device, dtype=torch.float32)
            images = generator.render(z, c, truncation, class_mode=class_mode, grayscale=grayscale)
            yield to_uint8_frames(images, size)


def render_transition(generator, a: dict, b: dict, steps: int, size: int | None, batch: int,
                      easing: str = "linear"):
    """Yield the `steps` frames between latents `a` and `b` (dicts as from `load_latents`)."""
    import torch

    if steps == 0:
        return
    t = transition_times(steps, easing)
    noise = slerp(torch.as_tensor(a["noise"]), torch.as_tensor(b["noise"]), t)
    (ca, cb), mode = class_vectors(generator, a, b)
    classes = slerp(ca, cb, t)
    grayscale = bool(a.get("grayscale", False)) and bool(b.get("grayscale", False))
    yield from render_latents(generator, noise, classes, float(a["truncation"]), size, batch, mode, grayscale)


def render_still(generator, latents: dict, size: int | None):
    """The image of one latents record as a [H, W, 3] uint8 frame."""
    import torch

    noise = torch.as_tensor(latents["noise"]).unsqueeze(0)
    (cls,), mode = class_vectors(generator, latents)
    frames = render_latents(generator, noise, cls.unsqueeze(0), float(latents["truncation"]), size, 1, mode,
                            bool(latents.get("grayscale", False)))
    return next(frames)[0]
