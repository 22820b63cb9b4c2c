"""Where a search starts: BigGAN's truncated noise, the initial class vectors of each mode, and a
previous sentence's latents (story mode) as a starting point."""
from __future__ import annotations

import numpy as np

from ..models.classes import imagenet_classes, resolve_class
from .settings import SearchSettings


def truncated_noise(rng: np.random.Generator, n: int, z_dim: int, truncation: float) -> np.ndarray:
    """BigGAN's noise: standard normal truncated to [-2, 2], scaled by the truncation."""
    from scipy.stats import truncnorm

    return truncnorm.rvs(-2, 2, size=(n, z_dim), random_state=rng) * truncation


def smoothed_one_hot_logits(index: int, num_classes: int, smoothing: float) -> np.ndarray:
    p = np.full(num_classes, smoothing / num_classes)
    p[index] += 1 - smoothing
    return np.log(p)


def nearest_class(clip, prompt: str, names=None) -> int:
    """The class (default: ImageNet's) whose name CLIP finds closest to the prompt."""
    import torch

    with torch.inference_mode():
        names = clip.encode_text([f"a photo of a {n}" for n in names or imagenet_classes()])
        text = clip.encode_text([prompt])
    return int((names @ text.T).squeeze(1).argmax())


def initial_class_vectors(mode: str, n: int, generator, rng, settings: SearchSettings, prompt_class=None):
    """n starting class vectors (logits, or embeddings for 'random-embeddings')."""
    c = generator.num_classes
    if mode == "random-mix":
        return rng.uniform(0.0, 1.0, (n, c))
    if mode == "random-class":
        return np.stack([smoothed_one_hot_logits(int(k), c, settings.class_smoothing)
                         for k in rng.integers(0, c, n)])
    if mode == "random-dirichlet":
        return np.log(np.clip(rng.dirichlet(np.ones(c), n), 1e-12, None))
    if mode == "random-embeddings":
        embed = generator.class_embeddings().double().cpu().numpy()
        return rng.normal(embed.mean(), embed.std(), (n, embed.shape[1]))
    # from-prompt, or a named class: the same smoothed one-hot for every draw
    index = prompt_class if mode == "from-prompt" else resolve_class(mode, generator.class_names)
    return np.repeat(smoothed_one_hot_logits(index, c, settings.class_smoothing)[None], n, axis=0)


def draw_candidates(n: int, rng, generator, settings: SearchSettings, *, fixed_class=None, prompt_class=None):
    """n random candidates [n, z_dim (+ C)]: truncated noise, then (unless the class is fixed) class
    vectors of the initial-class mode."""
    noise = truncated_noise(rng, n, generator.z_dim, settings.truncation)
    if fixed_class is not None:
        return noise
    classes = initial_class_vectors(settings.initial_class, n, generator, rng, settings, prompt_class)
    return np.concatenate([noise, classes], axis=1)


def redraw_out_of_range(x: np.ndarray, rng, settings: SearchSettings, z_dim: int) -> np.ndarray:
    """The notebook's stochastic truncation: noise entries outside ±2·truncation are drawn again
    (instead of being clamped by the generator)."""
    x = x.copy()
    out = np.abs(x[:, :z_dim]) > 2 * settings.truncation
    if out.any():
        x[:, :z_dim][out] = truncated_noise(rng, 1, int(out.sum()), settings.truncation)[0]
    return x


def start_vector(previous, generator, settings: SearchSettings, *, fixed_class=None) -> np.ndarray:
    """A previous sentence's latents (a `Latents`) as a candidate of this search's class mode."""
    noise = np.asarray(previous.noise, dtype=np.float64)
    if fixed_class is not None:
        return noise
    if settings.class_mode == "embedding":
        cls = previous.class_embedding(generator).double().numpy()
    elif previous.class_mode == "logits":
        cls = np.asarray(previous.class_vector, dtype=np.float64)
    else:
        raise ValueError("story coherence: a search over class logits cannot start from class embeddings")
    return np.concatenate([noise, cls])
