"""The search stage's job (workflow/rules/search.smk): one sentence searched (once per candidate),
judged and written down as its candidates' latents, images, history tables and plots (and progress
videos if asked). The keep job (search.candidates.keep_candidate) then makes one of them the
sentence's."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from ..files import write_png
from ..latents import Latents, SearchOutcome, Sentence
from ..models.device import deterministic, select_device, thread_counts
from ..project import provenance
from ..render import render_still
from ..text import fit_prompt, format_weighted_prompt
from .candidates import SearchFiles, candidate_checkpoint, candidate_seed
from .checkpoint import Checkpointer, search_key
from .history import history_columns, plot_history, write_history_tsv
from .judge import judge
from .loop import search_prompt
from .progress import write_progress_video
from .settings import SearchSettings
from .state import SearchResult


def search_job(config: dict, *, text_name: str, index: int, sentence: str, prompt_parts, seed: int,
               candidates: list[SearchFiles], previous_latents=None, search_overrides=None, checkpoint_path=None,
               threads: int = 1, log=print) -> list[Latents]:
    """Search one sentence's latents once per candidate (len(candidates) of them, candidate k from
    `candidate_seed(seed, k)`) with the models loaded once; write each candidate's latents, image,
    history table and plot (and progress video). With `checkpoint_path`, each candidate's search saves
    its state as it goes, on SIGTERM/SIGUSR1 and when it has finished; a rerun resumes where the job
    stopped, without searching finished candidates again."""
    with deterministic(threads):
        # 1. the settings and the models, loaded once for every candidate
        settings = SearchSettings.from_config(config, search_overrides)
        generator, clip = load_models(config, settings)
        # 2. the prompt as CLIP sees it, and where the search starts
        parts = [(text, float(weight)) for text, weight in prompt_parts]
        fit = fit_prompt(clip.tokenizer, parts)
        if fit.truncated:
            log(f"a prompt part needs {fit.tokens} tokens; CLIP sees only: {fit.clip_prompt!r}")
        previous = Latents.load(previous_latents) if previous_latents else None
        story = ", starting from the previous sentence" if previous else ""
        sentence_record = Sentence(text=text_name, index=index, sentence=sentence, prompt=format_weighted_prompt(parts),
                                   clip_prompt=fit.clip_prompt, prompt_truncated=fit.truncated)
        made_by = {**provenance(config), "overrides": dict(search_overrides or {}), "threads": thread_counts()}
        judge_clip = load_judge_clip(config, generator.device)
        results = []
        for k, files in enumerate(candidates):
            # 3. candidate k: its search, resumable from its checkpoint (a finished one is not run again)
            k_seed = candidate_seed(seed, k)
            which = f"candidate {k} of {len(candidates)}, " if len(candidates) > 1 else ""
            log(f"searching sentence {index} of '{text_name}' on {generator.device} with {settings.optimizer}: "
                f"{sentence_record.prompt!r} ({which}seed {k_seed}{story})")
            checkpoint = None
            if checkpoint_path:
                key = search_key(parts=parts, seed=k_seed, settings=asdict(settings), generator=generator.name,
                                 clip=clip.name, device=str(generator.device), start=start_key(previous))
                checkpoint = Checkpointer(candidate_checkpoint(checkpoint_path, k), key,
                                          every=config["search"]["checkpoint_every"], log=log)
            result = run_search(parts, k_seed, generator, clip, settings, previous, checkpoint, log)
            # 4. its held-out scores
            scores = judge(generator, clip, result, parts, settings, k_seed, judge_clip)
            # 5. its record and files
            latents = Latents(
                noise=result.noise, class_vector=result.class_vector, class_mode=result.class_mode,
                truncation=settings.truncation, grayscale=settings.grayscale, seed=k_seed, generator=generator.name,
                sentence=sentence_record, search=outcome(result, settings, clip.name, scores), provenance=made_by)
            write_search_files(files, latents, result, settings, generator)
            log(f"best loss {result.loss:.4f}, CLIP similarity {result.similarity:.4f} (iteration "
                f"{result.iteration + 1}); judge: {', '.join(f'{name} {v:.4f}' for name, v in scores.items())}")
            results.append(latents)
        # 6. every candidate's files are complete: nothing left to resume
        if checkpoint_path:
            for k in range(len(candidates)):
                candidate_checkpoint(checkpoint_path, k).unlink(missing_ok=True)
        return results


def write_search_files(files: SearchFiles, latents: Latents, result: SearchResult, settings: SearchSettings,
                       generator) -> None:
    latents.save(files.latents)
    write_png(files.image, render_still(generator, latents))
    write_history_tsv(result.history, files.history)
    plot_history(result.history, files.plot, title=f"{latents.sentence.index}: {latents.sentence.prompt}")
    if files.progress:
        write_progress_video(generator, result, settings, files.progress)


def load_models(config: dict, settings: SearchSettings):
    """The generator and the guiding CLIP on the search's device, with the speed settings applied."""
    from ..models.clip import load_clip
    from ..models.device import tune_for_speed
    from ..models.generator import load_generator

    device = select_device(config["search"]["device"])
    generator = load_generator(config["generator"]["model"], device)
    clip = load_clip(config["clip"]["model"], config["clip"]["pretrained"], device)
    tune_for_speed(generator, clip, channels_last=settings.channels_last, compiled=settings.compile)
    return generator, clip


def load_judge_clip(config: dict, device):
    """The second CLIP that judges the image (judge.model), or None."""
    from ..models.clip import load_clip

    judge_config = config["judge"]
    return load_clip(judge_config["model"], judge_config["pretrained"], device) if judge_config["model"] else None


def start_key(previous: Latents | None):
    """What of a story start the checkpoint's key depends on."""
    if previous is None:
        return None
    return {"noise": np.asarray(previous.noise).tolist(), "class_mode": previous.class_mode,
            "class_vector": np.asarray(previous.class_vector).tolist()}


def run_search(parts, seed: int, generator, clip, settings: SearchSettings, previous, checkpoint, log) -> SearchResult:
    """The search, with the checkpoint's signal handlers installed while it runs (SLURM's SIGTERM at a
    time limit or preemption saves the state and stops the job)."""
    if checkpoint:
        checkpoint.install_signal_handlers()
    try:
        return search_prompt(parts, seed=seed, generator=generator, clip=clip, settings=settings, start=previous,
                             checkpoint=checkpoint, log=log)
    finally:
        if checkpoint:
            checkpoint.restore_signal_handlers()


def outcome(result: SearchResult, settings: SearchSettings, clip_name: str, scores: dict) -> SearchOutcome:
    return SearchOutcome(loss=result.loss, similarity=result.similarity, start_loss=result.start_loss,
                         best_iteration=result.iteration, optimizer=settings.optimizer,
                         initial_class=str(settings.initial_class), clip=clip_name,
                         judge_similarity=scores.get("judge_similarity"),
                         judge2_similarity=scores.get("judge2_similarity"),
                         history=history_columns(result.history))
