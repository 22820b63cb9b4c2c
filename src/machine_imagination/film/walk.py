"""The walk between consecutive sentences: each image held, then spherical interpolation of noise and
class vectors towards the next one. Transition frames use t = k/(steps+1), k = 1..steps (both end
points are the held images), optionally eased in and out. `segment_frames` is one sentence's stretch
of film (its captioned image held, then the walk onward); the film's segments and the CLI's walks
are made of it."""
from __future__ import annotations

import math

import numpy as np

from ..render import render_latents, render_still
from ..video import Encoding, VideoWriter
from .captions import CaptionStyle, burn_caption
from .screen import Screen


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


def shared_class_space(generator, *records):
    """The class vectors of `Latents` records as tensors in one space: logits when every record has
    logits, else class embeddings (searches in 'random-embeddings' mode store those)."""
    import torch

    if all(r.class_mode == "logits" for r in records):
        return [torch.as_tensor(r.class_vector) for r in records], "logits"
    return [r.class_embedding(generator) for r in records], "embedding"


def render_transition(generator, a, b, steps: int, size: int | None, batch: int, easing: str = "linear"):
    """Yield the `steps` frames between `Latents` a and b, in batches."""
    import torch

    if steps == 0:
        return
    t = transition_times(steps, easing)
    noise = slerp(torch.as_tensor(a.noise), torch.as_tensor(b.noise), t)
    (ca, cb), mode = shared_class_space(generator, a, b)
    classes = slerp(ca, cb, t)
    yield from render_latents(generator, noise, classes, a.truncation, size, batch, mode,
                              a.grayscale and b.grayscale)


def segment_frames(generator, latents, following, *, hold: int, steps: int, size: int | None, batch: int,
                   easing: str = "linear", caption: str = "", style: CaptionStyle | None = None,
                   screen: Screen | None = None, lead: int = 0):
    """Yield one segment's frames in batches: `lead` black frames, `hold` frames of `latents`' image
    (with `caption` burned in unless `style` is None), then the `steps` frames of the walk to
    `following` (none if None). With a `screen`, the image has its side and place in the frame (and
    `size` is not used)."""
    screen = screen or Screen.square(size or generator.resolution)
    if lead:
        yield np.zeros((lead, screen.height, screen.width, 3), np.uint8)
    still = screen.place(render_still(generator, latents, screen.image)[None])[0]
    if style is not None:
        still = burn_caption(still, caption, style, screen.band)
    yield np.broadcast_to(still, (hold, *still.shape))
    if following is not None:
        for frames in render_transition(generator, latents, following, steps, screen.image, batch, easing):
            yield screen.place(frames)


def render_segment(generator, latents, following, caption: str, path, *, hold: int, steps: int,
                   size: int | None, batch: int, style: CaptionStyle | None, encoding: Encoding,
                   easing: str = "linear", screen: Screen | None = None, lead: int = 0) -> int:
    """Encode one segment (see `segment_frames`) to `path`; returns the number of frames written."""
    screen = screen or Screen.square(size or generator.resolution)
    with VideoWriter(path, screen.width, screen.height, encoding) as writer:
        for frames in segment_frames(generator, latents, following, hold=hold, steps=steps, size=size, batch=batch,
                                     easing=easing, caption=caption, style=style, screen=screen, lead=lead):
            writer.write(frames)
    return writer.frames
