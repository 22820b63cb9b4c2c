"""The per-sentence search: find BigGAN latents whose image CLIP finds closest to the prompt.

One engine for every mode of the workshop notebook and the tricks of its peers:
- optimizers: CMA-ES (the notebook's default), Adam, SGD with momentum, CMA-ES with a gradient step
  on its mean after every generation ("interleaved"), and CMA-ES followed by gradient steps from the
  best candidate ("terminal");
- initial class: random mix, from the prompt (nearest class name by CLIP text similarity), random
  class, random Dirichlet, a named class, or random embeddings (search the 128-dim class embedding
  itself instead of 1000 logits);
- FuseDream-style initialisation: score many random draws first and start from the best;
- objective: weighted prompts and negative prompts, the notebook's regularisers, grayscale,
  clamped or stochastic truncation, the notebook's random crops or a richer augmentation set.

Defaults reproduce the notebook: CMA-ES, population 50, sigma0 0.5, full covariance, active, not
elitist, its starts (search.starts: the mean at zero noise and, for a random mix, a zero class part),
64 crops of 70-98 % of the side, loss = 100 · (1 − mean cosine similarity) + 100 · 1e-4 ·
class-entropy term (search.objective), best-ever candidate kept. Unlike the notebook, whole
populations go through BigGAN in one batched call and all their crops through CLIP in large chunks.
"""
from __future__ import annotations

import numpy as np

from ..models.device import precision_warning
from ..text import parse_weighted_prompt
from .objective import Objective
from .settings import SearchSettings
from .starts import redraw_out_of_range
from .state import SearchResult, SearchState, Stage, evaluate


def search_prompt(prompt, *, seed: int, generator, clip, settings: SearchSettings, start=None,
                  checkpoint=None, log=None) -> SearchResult:
    """Find latents for `prompt` (a string, or a list of (text, weight) parts). Deterministic for a
    given seed, models, settings and device. `start`: a previous sentence's `Latents` (story mode):
    the starting point keeps `settings.story_keep` of it. `checkpoint`: a `checkpoint.Checkpointer`;
    the search resumes from its state and saves into it as it goes."""
    log = log or (lambda message: None)
    # 1. check inputs
    parts = check_inputs(prompt, settings, generator, log)
    objective = Objective(generator, clip, parts, settings)
    # 2. the state: an interrupted run's, or a fresh one from the seed
    state = SearchState.resume(checkpoint) or SearchState.fresh(seed, objective, settings, start, log)
    # 3. every iteration, then the best candidate ever seen (kept in the checkpoint until the job has
    #    written it)
    advance(state, objective, settings, None, checkpoint, log)
    if checkpoint:
        checkpoint.finish(state)
    return state.result(settings)


def advance(state: SearchState, objective, settings: SearchSettings, until: int | None, checkpoint, log) -> None:
    """Run a search on from where its state stands: to the end (`until` None), or until it has done
    `until` iterations of its first stage (a race's round: search.race). A search run in pieces is the
    same search as one run at once."""
    stop = settings.iterations if until is None else min(until, settings.iterations)
    # 1. CMA-ES generations, each followed by a gradient step on the mean when interleaved
    while state.stage is Stage.CMA_ES and state.step < stop:
        cma_es_generation(state, objective, settings, log)
        if checkpoint:
            checkpoint.after_iteration(state.step, state)
    # 2. a round of a race ends there (Adam or SGD alone: their steps are the first stage)
    if until is not None:
        while not settings.uses_cma and state.stage is Stage.GRADIENT and state.step < stop:
            gradient_step(state, objective, settings, log)
            if checkpoint:
                checkpoint.after_iteration(state.step, state)
        return
    if state.stage is Stage.CMA_ES:
        state.finish_cma_es(settings, objective.generator.device)
    # 3. gradient steps: Adam or SGD alone, or from CMA-ES's best candidate (terminal)
    while state.stage is Stage.GRADIENT and state.step < settings.gradient_iterations:
        gradient_step(state, objective, settings, log)
        if checkpoint:
            checkpoint.after_iteration(settings.first_gradient_iteration + state.step, state)


def check_inputs(prompt, settings: SearchSettings, generator, log) -> list:
    """The prompt's weighted parts; raise ValueError for settings no search can use, and warn about a
    precision the GPU runs slowly."""
    import torch

    parts = parse_weighted_prompt(prompt) if isinstance(prompt, str) else [(t, float(w)) for t, w in prompt]
    settings.check(generator.class_names)
    device = generator.device
    if device.type == "cuda":
        warning = precision_warning(settings.precision, torch.cuda.get_device_name(device),
                                    torch.cuda.get_device_capability(device))
        if warning:
            log(f"warning: {warning}")
    return parts


def cma_es_generation(state: SearchState, objective, settings: SearchSettings, log) -> None:
    """One CMA-ES generation: sample, evaluate, update the distribution; when interleaved, then one
    gradient step on the distribution's mean, which CMA-ES samples around next."""
    iteration = state.step
    candidates = np.asarray(state.es.ask(), dtype=np.float64)
    scored = evaluate(objective, state, candidates, settings)
    state.record(iteration, "cma-es", scored, settings, log)  # first: it stops an all-NaN search
    state.es.tell(list(candidates), scored.loss.tolist())
    if settings.interleaved:
        state.stepper.reset(np.asarray(state.es.mean)[None])
        state.record(iteration, settings.gradient, take_gradient_step(state, objective, settings), settings, log)
        state.es.mean[:] = state.stepper.current()[0]
    state.step += 1


def gradient_step(state: SearchState, objective, settings: SearchSettings, log) -> None:
    scored = take_gradient_step(state, objective, settings)
    state.record(settings.first_gradient_iteration + state.step, settings.gradient, scored, settings, log)
    state.step += 1


def take_gradient_step(state: SearchState, objective, settings: SearchSettings):
    """One Adam or SGD step of the state's stepper (after the notebook's stochastic truncation)."""
    if settings.stochastic_truncation:
        state.stepper.reset(redraw_out_of_range(state.stepper.current(), state.rng, settings, state.z_dim))
    return state.stepper.step(objective, state.fixed_class, state.crop_rng)
