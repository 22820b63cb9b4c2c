"""The per-sentence search: CMA-ES over BigGAN's [noise ; class logits], scored by CLIP on random crops.

Defaults follow the workshop notebook: population 50, sigma0 0.5, full covariance, active CMA, not
elitist, mean starting at zero noise and random class logits, 64 random square crops of 70-98 % of
the side, loss = 100 * (1 - mean cosine similarity of the crops to the prompt), best-ever kept.
Unlike the notebook, the whole population goes through BigGAN in one batched call and all crops of
many candidates through CLIP together.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SearchSettings:
    iterations: int = 50
    population: int = 50
    sigma0: float = 0.5
    covariance: str = "full"  # or "diagonal"
    active: bool = True
    initial_class: str = "random-mix"
    crops: int = 64
    crop_min: float = 0.7
    crop_max: float = 0.98
    generator_batch: int = 50
    clip_batch: int = 512
    truncation: float = 1.0

    @classmethod
    def from_config(cls, config: dict) -> "SearchSettings":
        s = config["search"]
        return cls(**{k: s[k] for k in cls.__dataclass_fields__ if k in s},
                   truncation=config["generator"]["truncation"])


@dataclass
class SearchResult:
    noise: np.ndarray  # [z_dim] float32, before clamping (clamping happens at render time)
    class_logits: np.ndarray  # [num_classes] float32, before the softmax
    loss: float
    similarity: float
    iteration: int  # the iteration that found the best candidate
    history: dict = field(default_factory=dict)  # per-iteration arrays


def initial_mean(generator, settings: SearchSettings, rng: np.random.Generator) -> np.ndarray:
    if settings.initial_class != "random-mix":
        raise ValueError(f"unknown initial_class {settings.initial_class!r}")
    # "Random mix": uniformly random logits, i.e. a soft mixture of all classes.
    logits = rng.uniform(0.0, 1.0, generator.num_classes)
    return np.concatenate([np.zeros(generator.z_dim), logits])


def random_crop_boxes(n_images: int, n_crops: int, side: int, lo: float, hi: float, gen) -> "torch.Tensor":
    """[n_images * n_crops, 5] boxes (image index, x1, y1, x2, y2) of random squares of lo..hi of the side."""
    import torch

    sizes = side * (lo + (hi - lo) * torch.rand(n_images, n_crops, generator=gen, dtype=torch.float64))
    x1 = (side - sizes) * torch.rand(n_images, n_crops, generator=gen, dtype=torch.float64)
    y1 = (side - sizes) * torch.rand(n_images, n_crops, generator=gen, dtype=torch.float64)
    index = torch.arange(n_images, dtype=torch.float64).unsqueeze(1).expand(n_images, n_crops)
    return torch.stack([index, x1, y1, x1 + sizes, y1 + sizes], dim=-1).reshape(-1, 5).float()


class Scorer:
    """Scores candidate latents: generator on the whole batch, then CLIP on every crop in large chunks."""

    def __init__(self, generator, clip, text_embedding, settings: SearchSettings, crop_gen):
        self.generator = generator
        self.clip = clip
        self.text = text_embedding  # [1, D], unit norm, computed once
        self.settings = settings
        self.crop_gen = crop_gen  # CPU torch.Generator: crops are reproducible on any device
        self.z_dim = generator.z_dim

    def images(self, x):
        import torch

        out = []
        for chunk in torch.split(x, self.settings.generator_batch):
            out.append(self.generator.render(chunk[:, : self.z_dim], chunk[:, self.z_dim:],
                                             self.settings.truncation))
        return torch.cat(out)

    def similarity(self, images):
        """Mean cosine similarity over each image's augmentations: [N]."""
        import torch
        import torch.nn.functional as F
        from torchvision.ops import roi_align

        n, side, size = images.shape[0], images.shape[-1], self.clip.image_size
        if side <= size:
            # The notebook crops only when the image is larger than CLIP's input.
            views = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)
            return (self.clip.encode_images(views) @ self.text.T).squeeze(1)
        s = self.settings
        boxes = random_crop_boxes(n, s.crops, side, s.crop_min, s.crop_max, self.crop_gen).to(images.device)
        sims = []
        for chunk in torch.split(boxes, max(1, s.clip_batch)):
            # roi_align crops and resizes a whole batch at once; its adaptive sampling averages
            # several samples per output pixel, which acts as the anti-aliasing a downscale needs.
            views = roi_align(images, chunk, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
            sims.append((self.clip.encode_images(views) @ self.text.T).squeeze(1))
        return torch.cat(sims).view(n, s.crops).mean(dim=1)

    def __call__(self, x):
        """x: [N, z_dim + num_classes] -> (loss [N], similarity [N]) as float64 numpy arrays."""
        sim = self.similarity(self.images(x)).double().cpu().numpy()
        return 100.0 * (1.0 - sim), sim


def search_prompt(prompt: str, *, seed: int, generator, clip, settings: SearchSettings, log=None) -> SearchResult:
    """Find BigGAN latents whose image CLIP finds closest to `prompt`. Deterministic for a given seed,
    models, settings and device."""
    import torch

    with warnings.catch_warnings():  # cma warns that matplotlib (for its plots) is missing
        warnings.simplefilter("ignore")
        import cma

    log = log or (lambda message: None)
    device = generator.device
    # 1. check inputs
    if settings.population < 2:
        raise ValueError("search.population must be at least 2")
    # 2. prepare: the text embedding once, the random streams from the sentence's seed
    rng = np.random.default_rng(seed)
    crop_gen = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        text = clip.encode_text([prompt])
    scorer = Scorer(generator, clip, text, settings, crop_gen)
    x0 = initial_mean(generator, settings, rng)
    options = {
        "popsize": settings.population,
        "seed": seed,
        # Draw CMA-ES's samples from our own generator, not numpy's global one.
        "randn": lambda *shape: rng.standard_normal(shape),
        "CMA_diagonal": settings.covariance == "diagonal",
        "CMA_active": settings.active,
        "CMA_elitist": False,
        "maxiter": settings.iterations,
        "verbose": -9,
        "verb_disp": 0,
        "verb_log": 0,
        "tolfun": 0,
        "tolx": 0,
        "tolfunhist": 0,
        "tolstagnation": 10**9,
    }
    es = cma.CMAEvolutionStrategy(x0, settings.sigma0, options)
    best = (math.inf, 0.0, x0, -1)
    history = {"loss_mean": [], "loss_best": [], "similarity_best": [], "best_ever_loss": []}
    # 3. iterate: ask for the whole population, score it in batches, tell the losses back
    for iteration in range(settings.iterations):
        candidates = np.asarray(es.ask(), dtype=np.float64)
        with torch.inference_mode():
            x = torch.as_tensor(candidates, dtype=torch.float32, device=device)
            loss, sim = scorer(x)
        es.tell(list(candidates), loss.tolist())
        i = int(np.argmin(loss))
        if loss[i] < best[0]:
            best = (float(loss[i]), float(sim[i]), candidates[i].copy(), iteration)
        history["loss_mean"].append(float(loss.mean()))
        history["loss_best"].append(float(loss[i]))
        history["similarity_best"].append(float(sim[i]))
        history["best_ever_loss"].append(best[0])
        log(f"iteration {iteration + 1}/{settings.iterations}: loss mean {loss.mean():.3f} "
            f"best {loss[i]:.3f} best-ever {best[0]:.3f} (similarity {best[1]:.4f})")
    # 4. the best candidate ever seen
    loss, sim, x_best, iteration = best
    return SearchResult(
        noise=x_best[: generator.z_dim].astype(np.float32),
        class_logits=x_best[generator.z_dim:].astype(np.float32),
        loss=loss,
        similarity=sim,
        iteration=iteration,
        history={k: np.asarray(v) for k, v in history.items()},
    )
