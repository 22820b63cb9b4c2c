"""Pixels from latents: rows of noise and class vectors rendered in batches into uint8 frames, and the
image of one `Latents` record (a sentence's image, a held frame of the film)."""
from __future__ import annotations


def to_uint8_frames(images, size: int | None):
    """[N, 3, H, W] in [0, 1] -> [N, size, size, 3] uint8 numpy, resized on the device if asked."""
    import torch.nn.functional as F

    if size and size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False,
                               antialias=True).clamp(0, 1)
    return (images * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()


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


def render_still(generator, latents, size: int | None = None):
    """The image of a `Latents` record as a [H, W, 3] uint8 frame (`size`: its side, default the
    generator's)."""
    import torch

    frames = render_latents(generator, torch.as_tensor(latents.noise).unsqueeze(0),
                            torch.as_tensor(latents.class_vector).unsqueeze(0), latents.truncation, size, 1,
                            latents.class_mode, latents.grayscale)
    return next(frames)[0]
