"""The walk between consecutive sentences: spherical interpolation of latents and the film's frame plan.

Frame plan (n sentences, `hold` frames per image, `steps` transition frames per pair):
segment i = `hold` frames of image i (captioned) + `steps` frames moving to image i+1 (none after the
last image), so the film has n*hold + (n-1)*steps frames and lasts that many / fps seconds. Transition
frames use t = k/(steps+1), k = 1..steps: both end points are the held images themselves.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FramePlan:
    sentences: int
    hold: int
    steps: int
    fps: int

    def segment_frames(self, index: int) -> int:
        return self.hold + (self.steps if index < self.sentences - 1 else 0)

    def start_frame(self, index: int) -> int:
        return index * (self.hold + self.steps)

    def caption_frames(self, index: int) -> range:
        """Frames during which sentence `index` is shown (its image holds)."""
        start = self.start_frame(index)
        return range(start, start + self.hold)

    @property
    def total_frames(self) -> int:
        return self.sentences * self.hold + (self.sentences - 1) * self.steps


def transition_times(steps: int):
    import torch

    return torch.arange(1, steps + 1, dtype=torch.float64) / (steps + 1)


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


def render_latents(generator, noise, class_vectors, truncation: float, size: int | None, batch: int,
                   class_mode: str = "logits", grayscale: bool = False):
    """Yield uint8 frame batches for rows of `noise` [T, z] and `class_vectors` [T, C]."""
    import torch

    device = generator.device
    with torch.inference_mode():
        for start in range(0, noise.shape[0], batch):
            z = noise[start:start + batch].to(device=device, dtype=torch.float32)
            c = class_vectors[start:start + batch].to(device=device, dtype=torch.float32)
            images = generator.render(z, c, truncation, class_mode=class_mode, grayscale=grayscale)
            yield to_uint8_frames(images, size)


def render_transition(generator, a: dict, b: dict, steps: int, size: int | None, batch: int):
    """Yield the `steps` frames between latents `a` and `b` (dicts as from `load_latents`)."""
    import torch

    if steps == 0:
        return
    t = transition_times(steps)
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
