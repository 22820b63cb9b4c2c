"""The views CLIP scores: the notebook's random square crops (one batched `roi_align` per chunk) and
FuseDream's richer set (colour jitter, a down-and-up resize, cutout). Random numbers come from the
search's own torch generator, so a search's crops depend on its seed alone."""
from __future__ import annotations


def random_crop_boxes(n_images: int, n_crops: int, side: int, lo: float, hi: float, gen, shift: float = 0.0):
    """[n_images * n_crops, 5] boxes (image index, x1, y1, x2, y2) of random squares of lo..hi of the
    side; with `shift`, boxes may also stick out of the image by up to that fraction of the side."""
    import torch

    def rand():
        return torch.rand(n_images, n_crops, generator=gen, dtype=torch.float64)

    sizes = side * (lo + (hi - lo) * rand())
    x1 = (side - sizes) * rand() + shift * side * (2 * rand() - 1)
    y1 = (side - sizes) * rand() + shift * side * (2 * rand() - 1)
    index = torch.arange(n_images, dtype=torch.float64).unsqueeze(1).expand(n_images, n_crops)
    return torch.stack([index, x1, y1, x1 + sizes, y1 + sizes], dim=-1).reshape(-1, 5).float()


def rich_augment(views, gen):
    """FuseDream-style extras on a batch of crops [N, 3, S, S] in [0, 1]: colour jitter, a random
    down-and-up resize, and a cutout square. Differentiable; random numbers from `gen` (CPU)."""
    import torch
    import torch.nn.functional as F

    n, _, size, _ = views.shape
    device = views.device

    def rand(*shape):
        return torch.rand(*shape, generator=gen).to(device)

    brightness = 1 + 0.4 * (rand(n, 1, 1, 1) - 0.5)
    contrast = 1 + 0.4 * (rand(n, 1, 1, 1) - 0.5)
    saturation = 1 + 0.4 * (rand(n, 1, 1, 1) - 0.5)
    gray = views.mean(dim=1, keepdim=True)
    views = gray + (views - gray) * saturation
    mean = views.mean(dim=(1, 2, 3), keepdim=True)
    views = ((views - mean) * contrast + mean) * brightness
    # Resize: half the views pass through a lower resolution (as if seen smaller).
    small = max(8, size // 2)
    blurred = F.interpolate(F.interpolate(views, size=small, mode="bilinear", antialias=True, align_corners=False),
                            size=size, mode="bilinear", align_corners=False)
    views = torch.where(rand(n, 1, 1, 1) < 0.5, blurred, views)
    # Cutout: a grey square of a quarter of the side at a random place.
    cut = size // 4
    ys = (rand(n) * (size - cut)).long()
    xs = (rand(n) * (size - cut)).long()
    rows = torch.arange(size, device=device)
    mask_y = (rows[None] >= ys[:, None]) & (rows[None] < ys[:, None] + cut)
    mask_x = (rows[None] >= xs[:, None]) & (rows[None] < xs[:, None] + cut)
    mask = (mask_y[:, :, None] & mask_x[:, None, :]).unsqueeze(1)
    return torch.where(mask, torch.full_like(views, 0.5), views).clamp(0, 1)


def jittered_views(images, count: int, gen, shift: float = 1 / 32, noise: float = 0.02):
    """`count` fresh views of each image [N, 3, S, S] in [0, 1] for the judge where there is nothing to
    crop (an image no larger than CLIP's input, which the search scores whole): each moved by up to
    `shift` of the side along each axis (its edges repeated) with Gaussian pixel noise of sd `noise`,
    so that a detail tuned to one exact image does not carry its score. Random numbers from `gen`
    (CPU). Returns [N * count, 3, S, S], image by image."""
    import torch
    import torch.nn.functional as F

    n, _, side, _ = images.shape
    pad = max(1, round(shift * side))
    padded = F.pad(images, (pad,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (n, count, 2), generator=gen).tolist()
    views = torch.stack([padded[i, :, dy:dy + side, dx:dx + side] for i in range(n) for dy, dx in offsets[i]])
    pixel_noise = torch.randn(views.shape, generator=gen).to(views.device, views.dtype)
    return (views + noise * pixel_noise).clamp(0, 1)
