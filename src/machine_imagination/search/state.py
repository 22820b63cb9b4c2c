"""A search's state: everything it carries from one iteration to the next, and exactly what a
checkpoint saves, so that a resumed search is the same search.

A fresh state comes from the sentence's seed (`SearchState.fresh`), a resumed one from a checkpoint
(`SearchState.resume`); from there both go through the same loop (`search.loop.search_prompt`).
"""
from __future__ import annotations

import enum
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..latents import softmax
from .objective import with_class
from .settings import SearchSettings
from .starts import (cma_es_mean, draw_candidates, initial_class_vectors, nearest_class, pool_by_class,
                     redraw_out_of_range, start_vector)


class SearchError(RuntimeError):
    """A search that cannot go on (its message says why)."""


class Stage(enum.Enum):
    CMA_ES = "cma-es"  # CMA-ES generations (each followed by a gradient step on the mean when interleaved)
    GRADIENT = "gradient"  # Adam or SGD steps, alone or after CMA-ES ("terminal")
    DONE = "done"


@dataclass
class Scored:
    """Candidates as evaluated (after any stochastic truncation) and their objective, as numpy arrays."""

    x: np.ndarray  # [N, D] float64
    loss: np.ndarray  # [N]
    similarity: np.ndarray  # [N]
    terms: dict  # regulariser name -> [N]
    regularisation: np.ndarray  # [N]: the loss's share from the regularisers

    @classmethod
    def of(cls, x: np.ndarray, evaluation) -> "Scored":
        """An objective.Evaluation's tensors as float64 numpy arrays, for the candidates x."""
        def numpy(tensor):
            return tensor.detach().double().cpu().numpy()

        return cls(x, numpy(evaluation.loss), numpy(evaluation.similarity),
                   {name: numpy(term) for name, term in evaluation.terms.items()}, numpy(evaluation.regularisation))


@dataclass
class Best:
    """The best candidate ever evaluated."""

    loss: float = math.inf
    similarity: float = 0.0
    x: np.ndarray | None = None
    iteration: int = -1


@dataclass
class SearchResult:
    noise: np.ndarray  # [z_dim] float32, as rendered (after stochastic truncation; clamping is at render)
    class_vector: np.ndarray  # [num_classes] logits, or [embed_dim] embedding (class_mode 'embedding')
    class_mode: str
    loss: float
    similarity: float
    iteration: int  # the iteration that found the best candidate
    history: list = field(default_factory=list)  # one dict per iteration (see search.history)
    progress: list = field(default_factory=list)  # best candidate of each iteration: (noise, class_vector)
    start_loss: float = math.nan  # the objective at the starting point (before any search step)


def evaluate(objective, state: "SearchState", x: np.ndarray, settings: SearchSettings) -> Scored:
    """The objective of candidates x [N, D] (numpy), without gradients."""
    return evaluate_together(objective, [state], [x], settings)[0]


def evaluate_together(objective, states: list, xs: list, settings: SearchSettings) -> list[Scored]:
    """The objective of several searches' candidates (each state's x [N_i, D]) in one pass through the
    models, each drawing on its own state's random streams as alone (`Objective.together`)."""
    import torch

    if settings.stochastic_truncation:
        xs = [redraw_out_of_range(x, state.rng, settings, objective.z_dim) for x, state in zip(xs, states)]
    with torch.inference_mode():
        candidates = [with_class(torch.as_tensor(x, dtype=torch.float32, device=objective.generator.device),
                                 state.fixed_class) for x, state in zip(xs, states)]
        evaluations = objective.together(candidates, [state.crop_rng for state in states])
    return [Scored.of(x, evaluation) for x, evaluation in zip(xs, evaluations)]


class NormalDraws:
    """CMA-ES's sampler drawing from the search's own generator (not numpy's global one); picklable, so
    a checkpoint of CMA-ES carries the generator along."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def __call__(self, *shape):
        return self.rng.standard_normal(shape)


class GradientSteps:
    """Adam or SGD (momentum) on a batch of candidates, one step per call; the loss evaluated at each
    step is reported for the candidates it was evaluated at. Pickles as its candidates and moments."""

    def __init__(self, settings: SearchSettings, starts: np.ndarray, device):
        self._build(settings.gradient, settings.learning_rate, settings.momentum, starts, device)

    def _build(self, kind: str, learning_rate: float, momentum: float, starts, device) -> None:
        import torch

        self.kind, self.learning_rate, self.momentum = kind, learning_rate, momentum
        self.param = torch.tensor(starts, dtype=torch.float32, device=device, requires_grad=True)
        if kind == "adam":
            self.optimizer = torch.optim.Adam([self.param], lr=learning_rate)
        else:
            self.optimizer = torch.optim.SGD([self.param], lr=learning_rate, momentum=momentum)

    def reset(self, x: np.ndarray) -> None:
        import torch

        with torch.no_grad():
            self.param.copy_(torch.as_tensor(x, dtype=torch.float32))

    def current(self) -> np.ndarray:
        return self.param.detach().double().cpu().numpy()

    def step(self, objective, fixed_class, crop_rng) -> Scored:
        import torch

        x = self.current()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad():
            evaluation = objective(with_class(self.param, fixed_class), crop_rng)
            evaluation.loss.sum().backward()
        self.optimizer.step()
        return Scored.of(x, evaluation)

    def __getstate__(self):
        return {"kind": self.kind, "learning_rate": self.learning_rate, "momentum": self.momentum,
                "param": self.current(), "device": str(self.param.device), "optimizer": self.optimizer.state_dict()}

    def __setstate__(self, saved):
        self._build(saved["kind"], saved["learning_rate"], saved["momentum"], saved["param"], saved["device"])
        self.optimizer.load_state_dict(saved["optimizer"])


@dataclass
class SearchState:
    z_dim: int  # a candidate holds z_dim noise values, then its class vector (unless that is fixed)
    rng: np.random.Generator  # draws of noise and classes, CMA-ES's samples, stochastic truncation
    crop_rng: object  # a torch.Generator: the crops and augmentations
    fixed_class: np.ndarray | None  # the class vector, when search.optimize_class is off
    start: np.ndarray | None = None  # [k, D] where the optimizer starts (terminal steps: the best candidate)
    start_loss: float = math.nan
    stage: Stage = Stage.CMA_ES
    step: int = 0  # the stage's next step
    es: object = None  # CMA-ES: its mean, covariance and step size
    stepper: GradientSteps | None = None  # Adam or SGD with its moments
    best: Best = field(default_factory=Best)
    history: list = field(default_factory=list)  # one row per iteration (see `record`)
    progress: list = field(default_factory=list)  # each iteration's best candidate
    pool: np.ndarray | None = None  # [n, D] the next best of the start's draws, for a race's other candidates

    @classmethod
    def fresh(cls, seed: int, objective, settings: SearchSettings, previous=None, log=print, *,
              start=None, pool: int = 0, by_class: bool = False) -> "SearchState":
        """A new search from its seed; `previous`: a previous sentence's `Latents` (story mode); `start`: a
        starting point [D] chosen elsewhere (a draw of a pool the sentence's candidates share), taken as
        it is instead of this seed's own draws; `pool`: how many of its scored draws after the ones it
        starts from to keep (`state.pool`, best first) for the candidates that share them, with `by_class`
        chosen by `pool_by_class` instead of by their losses alone. Neither changes the search itself."""
        import torch

        generator, clip = objective.generator, objective.clip
        # 1. the random streams, from the seed alone
        rng = np.random.default_rng(seed)
        crop_rng = torch.Generator().manual_seed(seed)
        # 2. the initial class: from the prompt, and the class kept fixed (search.optimize_class off)
        prompt_class = None
        if settings.initial_class == "from-prompt":
            prompt_class = nearest_class(clip, objective.prompt_parts[0][0], generator.class_names)
            log(f"initial class from the prompt: {prompt_class} ({generator.class_names[prompt_class]})")
        fixed_class = None
        if not settings.optimize_class:
            fixed_class = initial_class_vectors(settings.initial_class, 1, generator, rng, settings, prompt_class)[0]
        state = cls(z_dim=generator.z_dim, rng=rng, crop_rng=crop_rng, fixed_class=fixed_class)
        # 3. the starting point: a random draw (for CMA-ES the notebook's mean), moved towards the
        #    previous sentence's latents, or the best of many draws (FuseDream), or the start given
        given, start = start, draw_candidates(1, rng, generator, settings, fixed_class=fixed_class,
                                              prompt_class=prompt_class)
        if settings.uses_cma:
            start = cma_es_mean(start, settings, generator.z_dim, fixed_class)
        if previous is not None:
            before = start_vector(previous, generator, settings, fixed_class=fixed_class)
            start = settings.story_keep * before[None] + (1 - settings.story_keep) * start
        if given is not None:
            start = np.asarray(given, dtype=np.float64)[None]
        elif settings.init_samples > 0:
            samples = np.concatenate([start, draw_candidates(settings.init_samples, rng, generator, settings,
                                                             fixed_class=fixed_class, prompt_class=prompt_class)])
            chunks = np.array_split(samples, max(1, math.ceil(len(samples) / settings.generator_batch)))
            losses = np.concatenate([evaluate(objective, state, chunk, settings).loss for chunk in chunks])
            ranked = np.argsort(losses)
            order = ranked[: max(1, settings.init_top)]
            start = samples[order]
            if pool and by_class:
                state.pool = samples[pool_by_class(samples, ranked, len(order), pool, generator.z_dim)]
            elif pool:
                state.pool = samples[ranked[len(order): len(order) + pool]]
            log(f"initialisation: best {len(order)} of {len(samples)} random draws, loss {losses[order[0]]:.3f}")
        state.start = start
        state.start_loss = float(evaluate(objective, state, start[:1], settings).loss[0])
        # 4. the optimizer of the first stage
        if settings.uses_cma:
            state.es = new_cma_es(start[0], seed, rng, settings)
            if settings.interleaved:
                state.stepper = GradientSteps(settings, np.asarray(state.es.mean)[None], generator.device)
        else:
            state.stage = Stage.GRADIENT
            state.stepper = GradientSteps(settings, start, generator.device)
        return state

    @classmethod
    def resume(cls, checkpoint) -> "SearchState | None":
        """The state a checkpoint saved, if it holds one of this very search."""
        return checkpoint.load() if checkpoint else None

    def record(self, iteration: int, phase: str, scored: Scored, settings: SearchSettings, log) -> None:
        """Note an iteration's candidates: the best ever, the history row, the progress; log it."""
        finite = np.isfinite(scored.loss)
        if not finite.any():
            raise SearchError(
                f"iteration {iteration + 1} ({phase}): the objective is NaN or infinite for every candidate: the "
                f"generator or CLIP computes non-finite values (broken or uncalibrated weights; with "
                f"search.precision bf16 or fp16, an overflow: try fp32)")
        i = int(np.argmin(np.where(finite, scored.loss, np.inf)))  # a NaN candidate is never the best
        x = scored.x[i]
        if scored.loss[i] < self.best.loss:
            self.best = Best(float(scored.loss[i]), float(scored.similarity[i]), x.copy(), iteration)
        row = {
            "iteration": iteration + 1,
            "phase": phase,
            "loss_mean": float(np.mean(scored.loss)),
            "loss_best": float(scored.loss[i]),
            "similarity_best": float(scored.similarity[i]),
            "regularisation": float(scored.regularisation[i]),
            "best_ever_loss": self.best.loss,
            **{name: float(values[i]) for name, values in scored.terms.items()},
            "top_classes": self.top_classes(x, settings),
        }
        self.history.append(row)
        self.progress.append(x.copy())
        log(f"iteration {iteration + 1} ({phase}): loss mean {row['loss_mean']:.3f} best {row['loss_best']:.3f} "
            f"best-ever {self.best.loss:.3f} (similarity {self.best.similarity:.4f}) classes {row['top_classes']}")

    def top_classes(self, x: np.ndarray, settings: SearchSettings) -> str:
        """The three most likely classes of a candidate, 'index:probability,…' (none for embeddings)."""
        cls = self.class_vector(x)
        if settings.class_mode == "embedding" or len(cls) == 0:
            return ""
        p = softmax(cls)
        return ",".join(f"{k}:{p[k]:.2f}" for k in np.argsort(-p)[:3])

    def class_vector(self, x: np.ndarray) -> np.ndarray:
        """A candidate's class vector (the fixed one, when the search keeps it fixed)."""
        return np.asarray(self.fixed_class if self.fixed_class is not None else x[self.z_dim:])

    def finish_cma_es(self, settings: SearchSettings, device) -> None:
        """After the last generation: terminal gradient steps start from the best candidate."""
        if settings.gradient and not settings.interleaved:
            self.stage, self.step = Stage.GRADIENT, 0
            self.start = self.best.x[None]
            self.stepper = GradientSteps(settings, self.start, device)
        else:
            self.stage = Stage.DONE

    def result(self, settings: SearchSettings, best: Best | None = None) -> SearchResult:
        """The best candidate ever seen (or `best`, the best at an earlier iteration of this search: a race
        keeps a candidate's best judged image), and how the search got there."""
        def split(x):  # noise and the class vector the generator is given (in float32, as the search gave it)
            return x[: self.z_dim].astype(np.float32), settings.generator_class(self.class_vector(x).astype(np.float32))

        best = best or self.best
        noise, class_vector = split(best.x)
        return SearchResult(noise=noise, class_vector=class_vector, class_mode=settings.class_mode,
                            loss=best.loss, similarity=best.similarity, iteration=best.iteration,
                            history=self.history, progress=[split(x) for x in self.progress],
                            start_loss=self.start_loss)

    # -- pickling (the checkpoint): torch's generator as its state

    def __getstate__(self):
        return {**self.__dict__, "crop_rng": self.crop_rng.get_state()}

    def __setstate__(self, saved):
        import torch

        crop_rng = torch.Generator()
        crop_rng.set_state(saved["crop_rng"])
        self.__dict__.update({**saved, "crop_rng": crop_rng})


def new_cma_es(mean: np.ndarray, seed: int, rng, settings: SearchSettings):
    """CMA-ES as the notebook set it up (population, sigma0, full or diagonal covariance, active, not
    elitist), run for exactly search.iterations generations, sampling from the search's `rng`."""
    with warnings.catch_warnings():  # cma warns that matplotlib (for its plots) is missing
        warnings.simplefilter("ignore")
        import cma

    options = {
        "popsize": settings.population, "seed": seed, "randn": NormalDraws(rng),
        "CMA_diagonal": settings.covariance == "diagonal", "CMA_active": settings.active,
        "CMA_elitist": False, "maxiter": settings.iterations, "verbose": -9, "verb_disp": 0,
        "verb_log": 0, "tolfun": 0, "tolx": 0, "tolfunhist": 0, "tolstagnation": 10**9,
    }
    return cma.CMAEvolutionStrategy(mean, settings.sigma0, options)
