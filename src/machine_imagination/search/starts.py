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


def smoothed_one_hot(index: int, num_classes: int, smoothing: float) -> np.ndarray:
    """The notebook's smoothed one-hot: the class at 1 − smoothing, each other at smoothing / (C − 1)."""
    p = np.full(num_classes, smoothing / (num_classes - 1))
    p[index] = 1 - smoothing
    return p


def smoothed_entropy(num_classes: int, smoothing: float) -> float:
    """The entropy of `smoothed_one_hot`: the target of the class-entropy regulariser."""
    p = smoothed_one_hot(0, num_classes, smoothing)
    return float(-(p * np.log(p, out=np.zeros_like(p), where=p > 0)).sum())


def centred_logits(probabilities: np.ndarray) -> np.ndarray:
    """The notebook's logits of class probabilities: log(p + 1e-8), less their mean (per row)."""
    logs = np.log(probabilities + 1e-8)
    return logs - logs.mean(axis=-1, keepdims=True)


def nearest_class(clip, prompt: str, names=None) -> int:
    """The class (default: ImageNet's) whose name CLIP finds closest to the prompt."""
    import torch

    with torch.inference_mode():
        names = clip.encode_text([f"a photo of a {n}" for n in names or imagenet_classes()])
        text = clip.encode_text([prompt])
    return int((names @ text.T).squeeze(1).argmax())


def initial_class_vectors(mode: str, n: int, generator, rng, settings: SearchSettings, prompt_class=None):
    """n starting class vectors, as the notebook draws them: logits (centred log-probabilities), or
    for 'random-embeddings' N(0, 1) vectors that reach the generator times settings.embedding_factor."""
    c, smoothing = generator.num_classes, settings.class_smoothing
    if mode == "random-mix":  # U(0, 1) per class, normalised
        p = rng.uniform(0.0, 1.0, (n, c))
        return centred_logits(p / p.sum(axis=1, keepdims=True))
    if mode == "random-class":
        return centred_logits(np.stack([smoothed_one_hot(int(k), c, smoothing) for k in rng.integers(0, c, n)]))
    if mode == "random-dirichlet":  # α = population / classes: CMA-ES's population; Adam and SGD search one
        population = settings.population if settings.uses_cma else 1
        return centred_logits(rng.dirichlet(np.full(c, population / c), n))
    if mode == "random-embeddings":
        return rng.standard_normal((n, generator.class_embeddings().shape[1]))
    # from-prompt, or a named class: the same smoothed one-hot for every draw
    index = prompt_class if mode == "from-prompt" else resolve_class(mode, generator.class_names)
    return np.repeat(centred_logits(smoothed_one_hot(index, c, smoothing))[None], n, axis=0)


def cma_es_mean(draw: np.ndarray, settings: SearchSettings, z_dim: int, fixed_class=None) -> np.ndarray:
    """The notebook's CMA-ES mean from a first draw [1, D]: zero noise, and a zero class part for a
    random mix or random embeddings (the notebook multiplies that draw by 0); one class (random, named,
    from the prompt) or a Dirichlet draw stays the mean's class part."""
    mean = draw.copy()
    mean[:, :z_dim] = 0.0
    if fixed_class is None and settings.initial_class in ("random-mix", "random-embeddings"):
        mean[:, z_dim:] = 0.0
    return mean


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
        cls = settings.searched_class(previous.class_embedding(generator).double().numpy())
    elif previous.class_mode == "logits":
        cls = np.asarray(previous.class_vector, dtype=np.float64)
    else:
        raise ValueError("story coherence: a search over class logits cannot start from class embeddings")
    return np.concatenate([noise, cls])


def pool_by_class(samples: np.ndarray, ranked: np.ndarray, taken: int, count: int, z_dim: int) -> np.ndarray:
    """The `count` scored draws a race's other candidates start from (indices into `samples`, whose
    losses rank them as `ranked`, the first `taken` already the first candidate's start): the best draw
    of another class than the best draw's (a hedge against the guiding CLIP's best class being wrong),
    then the next best draws of the best draw's class, then the rest in the order of their losses.
    A draw's class is its largest class logit; draws without a class part keep the order of their losses."""
    rest = [int(i) for i in ranked[taken:]]
    if samples.shape[1] == z_dim:  # the class is fixed (search.optimize_class off): no classes to tell apart
        return np.asarray(rest[:count], dtype=np.int64)
    # 1. each draw's class, and the best draw's
    classes = np.argmax(samples[:, z_dim:], axis=1)
    best = classes[ranked[0]]
    # 2. the best draw of another class, then the best class's next best, then the others
    other = next((i for i in rest if classes[i] != best), None)
    hedge = [] if other is None else [other]
    same = [i for i in rest if classes[i] == best]
    order = hedge + same + [i for i in rest if i not in hedge and classes[i] != best]
    return np.asarray(order[:count], dtype=np.int64)
