"""The search stage's job (workflow/rules/search.smk): a block of consecutive sentences, each searched
(once per candidate) with the models loaded once, judged and written down as its candidates' latents,
images, history tables and plots (and progress videos if asked). The keep job
(search.candidates.keep_candidate) then makes one of a sentence's candidates the sentence's."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..files import write_png
from ..latents import Candidates, Latents, LatentsError, SearchOutcome, Sentence
from ..models.device import deterministic, select_device, thread_counts
from ..project import provenance
from ..render import render_still
from ..status import job_progress, record_time, text_status
from ..text import fit_prompt, format_weighted_prompt
from .candidates import SearchFiles, candidate_checkpoint, candidate_seed
from .checkpoint import Checkpointer, search_key
from .history import history_columns, plot_history, write_history_tsv
from .judge import judge
from .loop import search_prompt
from .progress import write_progress_video
from .settings import SearchSettings
from .state import SearchResult


@dataclass(frozen=True)
class SentenceSearch:
    """One sentence of a search job: what to search (its prompt's weighted parts and seed, its
    overrides), where each candidate's files go, where its searches keep their checkpoints, and (in
    story mode) the artist's pick, which the next sentence of the same job starts from."""

    index: int
    sentence: str
    parts: list
    seed: int
    candidates: list[SearchFiles]
    overrides: dict = field(default_factory=dict)
    checkpoint: Path | None = None
    pick: int | None = None


def search_block_job(config: dict, *, text_name: str, sentences: list[SentenceSearch], previous_latents=None,
                     threads: int = 1, text_dir=None, log=print) -> list[list[Latents]]:
    """Search a block of consecutive sentences (search.sentences_per_job of them) with the models loaded
    once: each sentence once per candidate, exactly as a job of its own would (same seeds, same bits).
    With search.story, the first sentence starts from `previous_latents` and each next one from the
    candidate the keep job will keep. Each search saves its state as it goes (with a checkpoint path):
    a rerun of a job that died resumes it and does not search the finished ones again; the checkpoints
    go when the whole block is written. With the text's results directory (`text_dir`), each sentence's
    search time is recorded there and the log says after each sentence how far the whole text has come."""
    with deterministic(threads):
        # 1. the models, loaded once for the whole block (a sentence's overrides never change them)
        generator, clip = load_models(config, SearchSettings.from_config(config))
        judge_clip = load_judge_clip(config, generator.device)
        previous = Latents.load(previous_latents) if previous_latents else None
        found, started = [], time.monotonic()
        for number, sentence in enumerate(sentences):
            # 2. each sentence's candidates, in order; in story mode the next starts from the one kept
            records = search_sentence(config, text_name, sentence, generator, clip, judge_clip, previous, log,
                                      text_dir)
            if config["search"]["story"]:
                previous = Latents.load(sentence.candidates[Candidates.among(records, sentence.pick).kept].latents)
            found.append(records)
            log(job_progress(number + 1, len(sentences), time.monotonic() - started, "sentences"))
            if text_dir is not None:
                log(text_status(text_dir).describe())
        # 3. every sentence's files are complete: nothing left to resume
        for sentence in sentences:
            for k in range(len(sentence.candidates) if sentence.checkpoint else 0):
                candidate_checkpoint(sentence.checkpoint, k).unlink(missing_ok=True)
        return found


def search_job(config: dict, *, text_name: str, index: int, sentence: str, prompt_parts, seed: int,
               candidates: list[SearchFiles], previous_latents=None, search_overrides=None, checkpoint_path=None,
               threads: int = 1, log=print) -> list[Latents]:
    """Search one sentence's latents once per candidate (a block of one sentence; the CLI's search)."""
    one = SentenceSearch(index=index, sentence=sentence, parts=prompt_parts, seed=seed, candidates=candidates,
                         overrides=dict(search_overrides or {}),
                         checkpoint=Path(checkpoint_path) if checkpoint_path else None)
    return search_block_job(config, text_name=text_name, sentences=[one], previous_latents=previous_latents,
                            threads=threads, log=log)[0]


def search_sentence(config: dict, text_name: str, sentence: SentenceSearch, generator, clip, judge_clip,
                    previous: Latents | None, log, text_dir=None) -> list[Latents]:
    """One sentence searched once per candidate (candidate k from `candidate_seed(seed, k)`), judged,
    and each candidate's latents, image, history table and plot (and progress video) written; with
    `text_dir`, the time its searches took recorded there (not when every candidate was kept as it was)."""
    # 1. the settings with the sentence's overrides, the prompt as CLIP sees it
    settings = SearchSettings.from_config(config, sentence.overrides)
    parts = [(text, float(weight)) for text, weight in sentence.parts]
    fit = fit_prompt(clip.tokenizer, parts)
    if fit.truncated:
        log(f"a prompt part needs {fit.tokens} tokens; CLIP sees only: {fit.clip_prompt!r}")
    story = ", starting from the previous sentence" if previous else ""
    record = Sentence(text=text_name, index=sentence.index, sentence=sentence.sentence,
                      prompt=format_weighted_prompt(parts), clip_prompt=fit.clip_prompt, prompt_truncated=fit.truncated)
    made_by = {**provenance(config), "overrides": dict(sentence.overrides), "threads": thread_counts()}
    results, started, searched = [], time.monotonic(), False
    for k, files in enumerate(sentence.candidates):
        # 2. candidate k: its search, resumable from its checkpoint (a finished one is not run again)
        k_seed = candidate_seed(sentence.seed, k)
        which = f"candidate {k} of {len(sentence.candidates)}, " if len(sentence.candidates) > 1 else ""
        earlier = None if previous else searched_before(files, k_seed, record, made_by)
        if earlier is not None:  # this very search's files, from an earlier run of the job (an edit elsewhere)
            log(f"sentence {sentence.index} ({which}seed {k_seed}): this search's files are there, kept as they are")
            results.append(earlier)
            continue
        log(f"searching sentence {sentence.index} of '{text_name}' on {generator.device} with {settings.optimizer}: "
            f"{record.prompt!r} ({which}seed {k_seed}{story})")
        checkpoint = None
        if sentence.checkpoint:
            key = search_key(parts=parts, seed=k_seed, settings=asdict(settings), generator=generator.name,
                             clip=clip.name, device=str(generator.device), start=start_key(previous))
            checkpoint = Checkpointer(candidate_checkpoint(sentence.checkpoint, k), key,
                                      every=config["search"]["checkpoint_every"], log=log)
        result = run_search(parts, k_seed, generator, clip, settings, previous, checkpoint, log)
        # 3. its held-out scores
        scores = judge(generator, clip, result, parts, settings, k_seed, judge_clip)
        # 4. its record and files
        latents = Latents(
            noise=result.noise, class_vector=result.class_vector, class_mode=result.class_mode,
            truncation=settings.truncation, grayscale=settings.grayscale, seed=k_seed, generator=generator.name,
            sentence=record, search=outcome(result, settings, clip.name, scores), provenance=made_by)
        write_search_files(files, latents, result, settings, generator)
        log(f"best loss {result.loss:.4f}, CLIP similarity {result.similarity:.4f} (iteration "
            f"{result.iteration + 1}); judge: {', '.join(f'{name} {v:.4f}' for name, v in scores.items())}")
        results.append(latents)
        searched = True
    # 5. what the sentence's searches took, for the text's progress and the report's timings
    if text_dir is not None and searched:
        record_time(text_dir, "search", sentence.index, time.monotonic() - started,
                    candidates=len(sentence.candidates))
    return results


def searched_before(files: SearchFiles, seed: int, sentence: Sentence, made_by: dict) -> Latents | None:
    """A candidate's files as an earlier run of this very search left them (the same sentence, prompt,
    seed, settings, models and package versions, every file there), or None. The search job's outputs
    are Snakemake `update()` files, so that a block run again for one edited sentence keeps the others."""
    paths = [files.latents, files.image, files.history, files.plot] + ([files.progress] if files.progress else [])
    if not all(Path(path).is_file() for path in paths):
        return None
    try:
        found = Latents.load(files.latents)
    except LatentsError:
        return None
    same = (found.seed == seed and found.sentence == sentence
            and json.dumps(found.provenance, sort_keys=True) == json.dumps(made_by, sort_keys=True))
    return found if same else None


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
