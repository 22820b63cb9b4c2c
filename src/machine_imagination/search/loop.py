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
from .checkpoint import SearchInterrupted
from .objective import Objective
from .settings import SearchSettings
from .starts import redraw_out_of_range
from .state import SearchResult, SearchState, Stage, evaluate_together


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
    advance_together([state], objective, settings, until, [checkpoint], log)


def advance_together(states: list, objective, settings: SearchSettings, until: int | None, checkpoints: list,
                     log) -> None:
    """Several searches of one prompt on, as `advance` runs one (each with its checkpoint or None), their
    CMA-ES populations through the models in one batch each generation (`Objective.together`); their
    gradient steps one search after another. Each search draws on its own random streams as alone."""
    stop = settings.iterations if until is None else min(until, settings.iterations)
    # 1. CMA-ES generations of every search not yet at `stop`, together
    while going := [k for k, state in enumerate(states) if state.stage is Stage.CMA_ES and state.step < stop]:
        cma_es_generation([states[k] for k in going], objective, settings, log)
        after_iteration([states[k] for k in going], [checkpoints[k] for k in going])
    for state, checkpoint in zip(states, checkpoints):
        # 2. a round of a race ends there (Adam or SGD alone: their steps are the first stage)
        if until is not None:
            while not settings.uses_cma and state.stage is Stage.GRADIENT and state.step < stop:
                gradient_step(state, objective, settings, log)
                after_iteration([state], [checkpoint])
            continue
        if state.stage is Stage.CMA_ES:
            state.finish_cma_es(settings, objective.generator.device)
        # 3. gradient steps: Adam or SGD alone, or from CMA-ES's best candidate (terminal)
        while state.stage is Stage.GRADIENT and state.step < settings.gradient_iterations:
            gradient_step(state, objective, settings, log)
            if checkpoint:
                checkpoint.after_iteration(settings.first_gradient_iteration + state.step, state)


def after_iteration(states: list, checkpoints: list) -> None:
    """Each search's checkpoint after an iteration the searches ran together: saved when due, and when
    the job is told to end (a signal reaches one of them), every one saved before the job stops."""
    present = [(state, checkpoint) for state, checkpoint in zip(states, checkpoints) if checkpoint]
    told = next((checkpoint.stop_signal for _, checkpoint in present if checkpoint.stop_signal), None)
    stopped = None
    for state, checkpoint in present:
        checkpoint.stop_signal = checkpoint.stop_signal or told
        try:
            checkpoint.after_iteration(state.step, state)
        except SearchInterrupted as err:
            stopped = stopped or err
    if stopped:
        raise stopped


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


def cma_es_generation(states: list, objective, settings: SearchSettings, log) -> None:
    """One CMA-ES generation of each search, their populations evaluated together: sample, evaluate,
    update the distribution; when interleaved, then one gradient step on the distribution's mean,
    which CMA-ES samples around next."""
    populations = [np.asarray(state.es.ask(), dtype=np.float64) for state in states]
    for state, candidates, scored in zip(states, populations,
                                         evaluate_together(objective, states, populations, settings)):
        iteration = state.step
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
