"""The per-sentence search: find BigGAN latents whose image CLIP finds closest to the prompt.

One engine for every mode of the workshop notebook and the tricks of its peers:
- optimizers: CMA-ES (the notebook's default), Adam, SGD with momentum, CMA-ES with a gradient step
  on its mean after every generation ("interleaved"), and CMA-ES followed by gradient steps from the
  best candidate ("terminal");
- initial class: random mix, from the prompt (nearest ImageNet class name by CLIP text similarity),
  random class, random Dirichlet, a named class, or random embeddings (search the 128-dim class
  embedding itself instead of 1000 logits);
- FuseDream-style initialisation: score many random draws first and start from the best;
- objective: weighted prompts and negative prompts, the notebook's regularisers, grayscale,
  clamped or stochastic truncation, the notebook's random crops or a richer augmentation set.

Defaults reproduce the notebook: CMA-ES, population 50, sigma0 0.5, full covariance, active, not
elitist, mean at zero noise and random class logits, 64 crops of 70-98 % of the side, loss =
100 * (1 - mean cosine similarity) + 1e-4 * class-entropy term, best-ever candidate kept. Unlike the
notebook, whole populations go through BigGAN in one batched call and all their crops through CLIP
in large chunks.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from .models import imagenet_classes
from .text import parse_weighted_prompt

OPTIMIZERS = ("cma-es", "adam", "sgd", "cma-es-interleaved-adam", "cma-es-interleaved-sgd",
              "cma-es-terminal-adam", "cma-es-terminal-sgd")
INITIAL_CLASS_MODES = ("random-mix", "from-prompt", "random-class", "random-dirichlet", "random-embeddings")
AUGMENTATIONS = ("crops", "rich")


def resolve_class(name, names=None) -> int:
    """A class by index ('933', 933) or by name ('cheeseburger') among `names` (default: the ImageNet
    classes); the error suggests names."""
    import difflib

    names = names or imagenet_classes()
    text = str(name).strip()
    if text.isdigit():
        if int(text) < len(names):
            return int(text)
        raise ValueError(f"class index {text} is out of range (0-{len(names) - 1})")
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    close = difflib.get_close_matches(text.lower(), lowered, n=5, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}?" if close else ""
    kind = "ImageNet class" if len(names) == 1000 else "class of this generator"
    raise ValueError(f"unknown {kind} '{text}'{hint}")


def check_initial_class(value: str, names=None) -> None:
    if value not in INITIAL_CLASS_MODES:
        resolve_class(value, names)


class SearchError(RuntimeError):
    """A search that cannot go on (its message says why)."""


PRECISIONS = ("fp32", "bf16", "fp16")


def precision_warning(precision: str, gpu: str, capability: tuple[int, int]) -> str | None:
    """What to tell a user whose GPU runs `precision` slowly, or None. bf16 tensor cores came with
    compute capability 8.0 (Ampere: A30, A100; H100); HCC's T4 (7.5) and V100 (7.0) have fp16 ones only,
    and emulate bf16, slower than fp32."""
    if precision == "bf16" and capability < (8, 0):
        return (f"search.precision bf16: {gpu} (compute capability {capability[0]}.{capability[1]}) has no bf16 "
                f"tensor cores and emulates it, slower than fp32; use fp16 on this GPU")
    if precision == "fp16" and capability < (7, 0):
        return (f"search.precision fp16: {gpu} (compute capability {capability[0]}.{capability[1]}) has no "
                f"tensor cores; fp16 gains little there")
    return None


@dataclass(frozen=True)
class SearchSettings:
    optimizer: str = "cma-es"
    iterations: int = 50
    terminal_iterations: int = 50
    population: int = 50
    sigma0: float = 0.5
    covariance: str = "full"  # or "diagonal"
    active: bool = True
    learning_rate: float = 0.1
    momentum: float = 0.9  # SGD
    initial_class: str = "random-mix"  # a mode of INITIAL_CLASS_MODES, or an ImageNet class name/index
    class_smoothing: float = 0.1
    optimize_class: bool = True
    init_samples: int = 0  # FuseDream-style: score this many random draws first (0: off)
    init_top: int = 1  # ...and start from the best k of them
    crops: int = 64
    crop_min: float = 0.7
    crop_max: float = 0.98
    augmentation: str = "crops"  # or "rich": + colour jitter, shift, resize, cutout
    noise_normality: float = 0.0
    embedding_normality: float = 0.0
    class_entropy: float = 1e-4
    stochastic_truncation: bool = False
    grayscale: bool = False
    generator_batch: int = 50
    clip_batch: int = 512
    precision: str = "fp32"  # or "bf16" / "fp16": autocast the networks (see precision_warning)
    channels_last: bool = False  # NHWC convs (models.tune_for_speed)
    compile: bool = False  # torch.compile the networks (models.tune_for_speed)
    truncation: float = 1.0
    story_keep: float = 0.5  # with a previous sentence's latents: how much of them the start keeps
    judge_crops: int = 64

    @classmethod
    def from_config(cls, config: dict, overrides: dict | None = None) -> "SearchSettings":
        """Settings from a validated config; `overrides`: a sentence's own values (e.g. iterations)."""
        values = {k: v for k, v in {**config["search"], **(overrides or {})}.items() if k in cls.__dataclass_fields__}
        return cls(**values, truncation=config["generator"]["truncation"], judge_crops=config["judge"]["crops"])

    @property
    def uses_cma(self) -> bool:
        return self.optimizer.startswith("cma-es")

    @property
    def gradient(self) -> str | None:
        return None if self.optimizer == "cma-es" else self.optimizer.rsplit("-", 1)[-1]

    @property
    def class_mode(self) -> str:
        """'embedding' when the 128-dim class embedding is searched, else 'logits'."""
        return "embedding" if self.initial_class == "random-embeddings" else "logits"


@dataclass
class SearchResult:
    noise: np.ndarray  # [z_dim] float32, as rendered (after stochastic truncation; clamping is at render)
    class_vector: np.ndarray  # [num_classes] logits, or [embed_dim] embedding (class_mode 'embedding')
    class_mode: str
    loss: float
    similarity: float
    iteration: int  # the iteration that found the best candidate
    history: list = field(default_factory=list)  # one dict per iteration
    progress: list = field(default_factory=list)  # best candidate of each iteration: (noise, class_vector)
    start_loss: float = math.nan  # the objective at the starting point (before any search step)

    @property
    def latents(self) -> dict:
        key = "class_embedding" if self.class_mode == "embedding" else "class_logits"
        return {"noise": self.noise, key: self.class_vector}


# --------------------------------------------------------------------------- augmentations


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


# --------------------------------------------------------------------------- objective


class Objective:
    """Loss of a batch of latents x [N, D] (D = z_dim + class dims). Batched end to end: the generator
    on the whole batch (in chunks), every crop of every image through CLIP in chunks. Differentiable
    when called with gradients enabled."""

    def __init__(self, generator, clip, prompt_parts, settings: SearchSettings, *, fixed_class=None):
        import torch

        self.generator = generator
        self.clip = clip
        self.settings = settings
        self.z_dim = generator.z_dim
        texts = [t for t, _ in prompt_parts]
        with torch.no_grad():  # not inference_mode: gradient optimizers use the embedding in autograd
            self.text = clip.encode_text(texts)  # [P, D], once per search
        weights = torch.tensor([w for _, w in prompt_parts], dtype=torch.float32)
        self.weights = (weights / weights.clamp_min(0).sum()).to(clip.device)
        self.fixed_class = fixed_class  # class vector when optimize_class is off
        embed = generator.class_embeddings()  # [num_classes, embed_dim]
        self.embed_mean, self.embed_std = float(embed.mean()), float(embed.std())
        p = np.full(generator.num_classes, settings.class_smoothing / generator.num_classes)
        p[0] += 1 - settings.class_smoothing
        self.target_entropy = float(-(p * np.log(p)).sum())
        # Chunk sizes start at the configured ones and halve on a GPU out-of-memory error.
        self.chunk = {"generator": settings.generator_batch, "clip": max(1, settings.clip_batch)}

    def in_chunks(self, kind: str, fn, items):
        """fn over `items` in chunks of self.chunk[kind], concatenated; on CUDA out-of-memory the chunk
        is halved and the work goes on, instead of failing the job."""
        import torch

        out, start = [], 0
        while start < len(items):
            size = self.chunk[kind]
            try:
                out.append(fn(items[start:start + size]))
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                self.chunk[kind] = size // 2
                torch.cuda.empty_cache()
                warnings.warn(f"out of GPU memory: {kind} chunks lowered to {size // 2}")
                continue
            start += size
        return torch.cat(out)

    def autocast(self):
        """Autocast of the networks to search.precision's bf16 or fp16 (off for fp32)."""
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.settings.precision)
        return torch.autocast(self.generator.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def split(self, x):
        import torch

        z = x[:, : self.z_dim]
        if self.fixed_class is not None:
            cls = torch.as_tensor(self.fixed_class, dtype=x.dtype, device=x.device).expand(x.shape[0], -1)
        else:
            cls = x[:, self.z_dim:]
        return z, cls

    def images(self, x):
        def render(chunk):
            z, cls = self.split(chunk)
            with self.autocast():
                images = self.generator.render(z, cls, self.settings.truncation, class_mode=self.settings.class_mode,
                                               grayscale=self.settings.grayscale)
            return images.float()

        return self.in_chunks("generator", render, x)

    def similarities(self, images, gen, crops: int | None = None):
        """Cosine similarity of each image's augmentations to each prompt part, averaged: [N, P]."""
        import torch.nn.functional as F
        from torchvision.ops import roi_align

        s = self.settings
        crops = crops or s.crops
        n, side, size = images.shape[0], images.shape[-1], self.clip.image_size
        if side <= size:
            # The notebook crops only when the image is larger than CLIP's input.
            views = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)
            if s.augmentation == "rich":
                views = rich_augment(views, gen)
            with self.autocast():
                embeddings = self.clip.encode_images(views)
            return embeddings.float() @ self.text.T
        shift = 0.1 if s.augmentation == "rich" else 0.0
        boxes = random_crop_boxes(n, crops, side, s.crop_min, s.crop_max, gen, shift).to(images.device)

        def score(chunk):
            # roi_align crops and resizes a whole batch at once; its adaptive sampling averages several
            # samples per output pixel, the anti-aliasing a downscale needs.
            views = roi_align(images, chunk, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
            if s.augmentation == "rich":
                views = rich_augment(views, gen)
            with self.autocast():
                embeddings = self.clip.encode_images(views)
            return embeddings.float() @ self.text.T

        return self.in_chunks("clip", score, boxes).view(n, crops, -1).mean(dim=1)

    def regularisers(self, x):
        import torch

        z, cls = self.split(x)
        terms = {}
        s = self.settings
        terms["noise_normality"] = z.mean(dim=1) ** 2 + (z.std(dim=1) - 1) ** 2
        if s.class_mode == "embedding":
            embedding = cls
            terms["class_entropy"] = torch.zeros_like(terms["noise_normality"])
        else:
            probs = torch.softmax(cls, dim=1)
            embedding = probs @ self.generator.class_embeddings().to(probs.dtype)
            entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=1)
            terms["class_entropy"] = (entropy - self.target_entropy).abs()
        terms["embedding_normality"] = ((embedding.mean(dim=1) - self.embed_mean) ** 2
                                        + (embedding.std(dim=1) - self.embed_std) ** 2)
        return terms

    def __call__(self, x, gen):
        """-> (loss [N], weighted similarity [N], regulariser terms {name: [N]}) as tensors."""
        s = self.settings
        sims = self.similarities(self.images(x), gen)
        similarity = sims @ self.weights
        terms = self.regularisers(x)
        loss = 100.0 * (1.0 - similarity)
        for name in ("noise_normality", "embedding_normality", "class_entropy"):
            weight = getattr(s, name)
            if weight:
                loss = loss + weight * terms[name].to(loss.dtype)
        return loss, similarity, terms


# --------------------------------------------------------------------------- starting points


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


# --------------------------------------------------------------------------- the search


class _Tracker:
    """Keeps the best candidate ever evaluated and the per-iteration history."""

    def __init__(self, objective, log):
        self.objective = objective
        self.log = log
        self.best = (math.inf, 0.0, None, -1)
        self.history = []
        self.progress = []

    def update(self, iteration, phase, x, loss, similarity, terms):
        finite = np.isfinite(loss)
        if not finite.any():
            raise SearchError(
                f"iteration {iteration + 1} ({phase}): the objective is NaN or infinite for every candidate: the "
                f"generator or CLIP computes non-finite values (broken or uncalibrated weights; with "
                f"search.precision bf16 or fp16, an overflow: try fp32)")
        i = int(np.argmin(np.where(finite, loss, np.inf)))  # a NaN candidate is never the best
        if loss[i] < self.best[0]:
            self.best = (float(loss[i]), float(similarity[i]), x[i].copy(), iteration)
        cls = x[i, self.objective.z_dim:]
        row = {
            "iteration": iteration + 1,
            "phase": phase,
            "loss_mean": float(np.mean(loss)),
            "loss_best": float(loss[i]),
            "similarity_best": float(similarity[i]),
            "best_ever_loss": self.best[0],
            **{name: float(values[i]) for name, values in terms.items()},
            "top_classes": self._top_classes(cls),
        }
        self.history.append(row)
        self.progress.append(x[i].copy())
        self.log(f"iteration {iteration + 1} ({phase}): loss mean {row['loss_mean']:.3f} best {row['loss_best']:.3f} "
                 f"best-ever {self.best[0]:.3f} (similarity {self.best[1]:.4f}) classes {row['top_classes']}")

    def _top_classes(self, cls) -> str:
        s = self.objective.settings
        if self.objective.fixed_class is not None:
            cls = np.asarray(self.objective.fixed_class)
        if s.class_mode == "embedding" or len(cls) == 0:
            return ""
        p = np.exp(cls - cls.max())
        p /= p.sum()
        top = np.argsort(-p)[:3]
        return ",".join(f"{k}:{p[k]:.2f}" for k in top)


class _NormalDraws:
    """CMA-ES's sampler drawing from our own generator (not numpy's global one); picklable, so a
    checkpoint of CMA-ES carries the generator along."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def __call__(self, *shape):
        return self.rng.standard_normal(shape)


def search_prompt(prompt, *, seed: int, generator, clip, settings: SearchSettings, start=None,
                  checkpoint=None, log=None) -> SearchResult:
    """Find latents for `prompt` (a string, or a list of (text, weight) parts). Deterministic for a
    given seed, models, settings and device. `start`: latents dict of a previous sentence (story
    coherence): the starting point keeps `settings.story_keep` of it. `checkpoint`: a
    `checkpoint.Checkpointer`; the search resumes from its state and saves into it as it goes."""
    import torch

    with warnings.catch_warnings():  # cma warns that matplotlib (for its plots) is missing
        warnings.simplefilter("ignore")
        import cma

    log = log or (lambda message: None)
    device = generator.device
    # 1. check inputs
    parts = parse_weighted_prompt(prompt) if isinstance(prompt, str) else [(t, float(w)) for t, w in prompt]
    if settings.optimizer not in OPTIMIZERS:
        raise ValueError(f"search.optimizer: unknown optimizer {settings.optimizer!r} (known: {', '.join(OPTIMIZERS)})")
    check_initial_class(settings.initial_class, generator.class_names)
    if settings.precision not in PRECISIONS:
        raise ValueError(f"search.precision: unknown precision {settings.precision!r} (known: {', '.join(PRECISIONS)})")
    if device.type == "cuda":
        warning = precision_warning(settings.precision, torch.cuda.get_device_name(device),
                                    torch.cuda.get_device_capability(device))
        if warning:
            log(f"warning: {warning}")
    if settings.population < 2 and settings.uses_cma:
        raise ValueError("search.population must be at least 2 for CMA-ES")
    z_dim = generator.z_dim
    mode = settings.initial_class
    interleaved = settings.gradient if "interleaved" in settings.optimizer else None
    gradient_steps = settings.terminal_iterations if settings.uses_cma else settings.iterations
    first_gradient = settings.iterations if settings.uses_cma else 0  # iteration number of the first step

    # 2. prepare: random streams from the sentence's seed, the objective, the starting point; or the
    #    whole state of an interrupted run of this same search
    saved = checkpoint.load() if checkpoint else None
    if saved is None:
        rng = np.random.default_rng(seed)
        gen = torch.Generator().manual_seed(seed)
        prompt_class = nearest_class(clip, parts[0][0], generator.class_names) if mode == "from-prompt" else None
        if prompt_class is not None:
            log(f"initial class from the prompt: {prompt_class} ({generator.class_names[prompt_class]})")
        fixed_class = None
        if not settings.optimize_class:
            fixed_class = initial_class_vectors(mode, 1, generator, rng, settings, prompt_class)[0]
    else:
        rng, fixed_class, prompt_class = saved["rng"], saved["fixed_class"], None
        gen = torch.Generator()
        gen.set_state(saved["gen"])
    objective = Objective(generator, clip, parts, settings, fixed_class=fixed_class)
    tracker = _Tracker(objective, log)

    def evaluate(x: np.ndarray):
        x = stochastic_truncation(x) if settings.stochastic_truncation else x
        with torch.inference_mode():
            loss, sim, terms = objective(torch.as_tensor(x, dtype=torch.float32, device=device), gen)
        return x, loss.double().cpu().numpy(), sim.double().cpu().numpy(), \
            {k: v.double().cpu().numpy() for k, v in terms.items()}

    def stochastic_truncation(x: np.ndarray) -> np.ndarray:
        # The notebook's option: re-draw out-of-range noise entries instead of clamping them.
        x = x.copy()
        limit = 2 * settings.truncation
        out = np.abs(x[:, :z_dim]) > limit
        if out.any():
            x[:, :z_dim][out] = truncated_noise(rng, 1, int(out.sum()), settings.truncation)[0]
        return x

    resample = stochastic_truncation if settings.stochastic_truncation else None

    def draw(n: int) -> np.ndarray:
        noise = truncated_noise(rng, n, z_dim, settings.truncation)
        if fixed_class is not None:
            return noise
        return np.concatenate([noise, initial_class_vectors(mode, n, generator, rng, settings, prompt_class)], axis=1)

    es = stepper = None
    if saved is None:
        starts = draw(1)
        if settings.uses_cma:  # the notebook's CMA-ES mean: zero noise and the initial class vector
            starts[:, :z_dim] = 0.0
        if start is not None:
            previous = _as_vector(start, objective, generator, settings)
            starts = settings.story_keep * previous[None] + (1 - settings.story_keep) * starts
        if settings.init_samples > 0:
            samples = np.concatenate([starts, draw(settings.init_samples)])
            scores = np.concatenate([evaluate(chunk)[1] for chunk in np.array_split(
                samples, max(1, math.ceil(len(samples) / settings.generator_batch)))])
            order = np.argsort(scores)[: max(1, settings.init_top)]
            starts = samples[order]
            log(f"initialisation: best {len(order)} of {len(samples)} random draws, loss {scores[order[0]]:.3f}")
        start_loss = float(evaluate(starts[:1])[1][0])
        phase, next_step = ("cma-es" if settings.uses_cma else "gradient"), 0
        if settings.uses_cma:
            options = {
                "popsize": settings.population, "seed": seed, "randn": _NormalDraws(rng),
                "CMA_diagonal": settings.covariance == "diagonal", "CMA_active": settings.active,
                "CMA_elitist": False, "maxiter": settings.iterations, "verbose": -9, "verb_disp": 0,
                "verb_log": 0, "tolfun": 0, "tolx": 0, "tolfunhist": 0, "tolstagnation": 10**9,
            }
            es = cma.CMAEvolutionStrategy(starts[0], settings.sigma0, options)
            if interleaved:
                stepper = _GradientSteps(objective, settings, gen, device, np.asarray(es.mean)[None])
    else:
        starts, start_loss, es = saved["starts"], saved["start_loss"], saved["es"]
        phase, next_step = saved["phase"], saved["next_step"]
        tracker.best, tracker.history, tracker.progress = saved["best"], saved["history"], saved["progress"]
        if saved["stepper"] is not None:
            stepper = _GradientSteps(objective, settings, gen, device, saved["stepper"]["param"])
            stepper.optimizer.load_state_dict(saved["stepper"]["optimizer"])

    def snapshot():
        return {
            "rng": rng, "gen": gen.get_state(), "fixed_class": fixed_class, "starts": starts,
            "start_loss": start_loss, "es": es, "phase": phase, "next_step": next_step,
            "best": tracker.best, "history": tracker.history, "progress": tracker.progress,
            "stepper": None if stepper is None else {"param": stepper.current(),
                                                     "optimizer": stepper.optimizer.state_dict()},
        }

    def finished_step(done: int):
        if checkpoint:
            checkpoint.after_iteration(done, snapshot)

    # 3. iterate
    if phase == "cma-es":
        while next_step < settings.iterations:
            iteration = next_step
            candidates = np.asarray(es.ask(), dtype=np.float64)
            evaluated, loss, sim, terms = evaluate(candidates)
            tracker.update(iteration, "cma-es", evaluated, loss, sim, terms)  # first: it stops an all-NaN search
            es.tell(list(candidates), loss.tolist())
            if interleaved:
                # One gradient step on the distribution's mean, which CMA-ES then samples around.
                stepper.reset(np.asarray(es.mean)[None])
                x, loss, sim, terms = stepper.step(resample)
                tracker.update(iteration, interleaved, x, loss, sim, terms)
                es.mean[:] = stepper.current()[0]
            next_step += 1
            finished_step(iteration + 1)
        phase, next_step = ("gradient", 0) if settings.gradient and not interleaved else ("done", 0)
        if phase == "gradient":
            starts, stepper = tracker.best[2][None], None  # terminal steps start from the best candidate
    if phase == "gradient":
        if stepper is None:
            stepper = _GradientSteps(objective, settings, gen, device, starts)
        while next_step < gradient_steps:
            k = next_step
            x, loss, sim, terms = stepper.step(resample)
            tracker.update(first_gradient + k, settings.gradient, x, loss, sim, terms)
            next_step += 1
            finished_step(first_gradient + k + 1)

    # 4. the best candidate ever seen
    loss, sim, x_best, best_iteration = tracker.best
    class_vector = np.asarray(fixed_class if fixed_class is not None else x_best[z_dim:])
    return SearchResult(
        noise=x_best[:z_dim].astype(np.float32),
        class_vector=class_vector.astype(np.float32),
        class_mode=settings.class_mode,
        loss=loss,
        similarity=sim,
        iteration=best_iteration,
        history=tracker.history,
        progress=[(x[:z_dim].astype(np.float32),
                   (np.asarray(fixed_class) if fixed_class is not None else x[z_dim:]).astype(np.float32))
                  for x in tracker.progress],
        start_loss=start_loss,
    )


def _as_vector(latents: dict, objective, generator, settings) -> np.ndarray:
    """A stored latents record as a search vector of this search's class mode."""
    noise = np.asarray(latents["noise"], dtype=np.float64)
    if objective.fixed_class is not None:
        return noise
    if settings.class_mode == "embedding":
        if "class_embedding" in latents:
            cls = np.asarray(latents["class_embedding"], dtype=np.float64)
        else:
            logits = np.asarray(latents["class_logits"], dtype=np.float64)
            p = np.exp(logits - logits.max())
            cls = (p / p.sum()) @ generator.class_embeddings().double().cpu().numpy()
    else:
        if "class_logits" not in latents:
            raise ValueError("story coherence: a search over class logits cannot start from class embeddings")
        cls = np.asarray(latents["class_logits"], dtype=np.float64)
    return np.concatenate([noise, cls])


class _GradientSteps:
    """Adam or SGD (momentum) on a batch of latents, one step per call; the loss evaluated at each step
    is reported for the latents it was evaluated at."""

    def __init__(self, objective, settings: SearchSettings, gen, device, starts: np.ndarray):
        import torch

        self.objective = objective
        self.gen = gen
        self.param = torch.tensor(starts, dtype=torch.float32, device=device, requires_grad=True)
        if settings.gradient == "adam":
            self.optimizer = torch.optim.Adam([self.param], lr=settings.learning_rate)
        else:
            self.optimizer = torch.optim.SGD([self.param], lr=settings.learning_rate, momentum=settings.momentum)

    def reset(self, x: np.ndarray) -> None:
        import torch

        with torch.no_grad():
            self.param.copy_(torch.as_tensor(x, dtype=torch.float32))

    def current(self) -> np.ndarray:
        return self.param.detach().double().cpu().numpy()

    def step(self, resample=None):
        import torch

        if resample is not None:
            self.reset(resample(self.current()))
        x = self.current()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss, sim, terms = self.objective(self.param, self.gen)
            loss.sum().backward()
        self.optimizer.step()
        return (x, loss.detach().double().cpu().numpy(), sim.detach().double().cpu().numpy(),
                {k: v.detach().double().cpu().numpy() for k, v in terms.items()})


def judge(generator, clip, result: SearchResult, prompt_parts, settings: SearchSettings, seed: int,
          judge_clip=None) -> dict:
    """Score the best image with fresh augmentations (a different random stream than the search's),
    and with a second CLIP model if given, so reported scores are not inflated by the search
    overfitting its own crops."""
    import torch

    scores = {}
    judged = replace(settings, crops=settings.judge_crops)
    x = np.concatenate([result.noise, result.class_vector])[None]
    for name, model in (("judge_similarity", clip), ("judge2_similarity", judge_clip)):
        if model is None:
            continue
        objective = Objective(generator, model, prompt_parts, replace(judged, optimize_class=True))
        gen = torch.Generator().manual_seed((seed * 7919 + 17) % 2**63)
        with torch.inference_mode():
            images = objective.images(torch.as_tensor(x, dtype=torch.float32, device=generator.device))
            scores[name] = float((objective.similarities(images, gen) @ objective.weights)[0])
    return scores
