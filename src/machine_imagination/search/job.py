"""The search stage's job (workflow/rules/search.smk, rule `search`): a block of consecutive sentences,
each searched once per candidate with the models loaded once, its candidates' latents, images,
history tables and plots written, and each search's iterations kept (`<k>-steps.npz`, from which the
progress videos are made). The judge job (`search.judge`) then scores the candidates and the keep job
(`search.candidates`) makes one of each sentence's candidates the sentence's."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..files import digest, remove_with_leftovers, write_png
from ..latents import Candidates, Latents, LatentsError, SearchOutcome, Sentence, set_aside
from ..models.device import deterministic, thread_counts
from ..render import render_still
from ..status import job_progress, record_time, text_status
from ..text import fit_prompt, format_weighted_prompt
from .candidates import SearchFiles, candidate_checkpoint, candidate_seed
from .checkpoint import Checkpointer
from .history import history_columns, plot_history, write_history_tsv
from .judge import JudgeSettings, judge_candidate, judge_identity, judged_before
from .load import load_judge_clip, load_models
from .loop import search_prompt
from .progress import save_steps
from .settings import SearchSettings, search_identity
from .state import SearchResult


@dataclass(frozen=True)
class SentenceSearch:
    """One sentence of a search job: what to search (its prompt's weighted parts and seed, its
    overrides), where each candidate's files go, where its searches keep their checkpoints, and in
    story mode where it starts from (`start`: the identity of the previous sentence's kept latents)
    and the artist's pick, which the next sentence of the same job starts from."""

    index: int
    sentence: str
    parts: list
    seed: int
    candidates: list[SearchFiles]
    overrides: dict = field(default_factory=dict)
    checkpoint: Path | None = None
    pick: int | None = None
    start: str | None = None

    def identities(self, config: dict) -> list[dict]:
        """Each candidate's search identity (search.settings.search_identity)."""
        return [search_identity(config, self.parts, candidate_seed(self.seed, k), self.overrides, self.start)
                for k in range(len(self.candidates))]


def search_block_job(config: dict, *, text_name: str, sentences: list[SentenceSearch], previous_latents=None,
                     threads: int = 1, text_dir=None, receipt=None, log=print) -> list[list[Latents]]:
    """Search a block of consecutive sentences (search.sentences_per_job of them) with the models loaded
    once: each sentence once per candidate, exactly as a job of its own would (same seeds, same bits).
    With search.story, the first sentence starts from `previous_latents` and each next one from the
    candidate the keep job will keep (judged here). Each search saves its state as it goes (with a
    checkpoint path): a rerun of a job that died resumes it and does not search the finished ones again;
    the checkpoints go when the whole block is written. With the text's results directory (`text_dir`),
    each sentence's search time is recorded there and the log says after each sentence how far the whole
    text has come; with `receipt`, the job's receipt lists every file it wrote."""
    story = config["search"]["story"]
    with deterministic(threads):
        # 1. the models, loaded once for the whole block (a sentence's overrides never change them)
        generator, clip = load_models(config, SearchSettings.from_config(config))
        judge_clip = load_judge_clip(config, generator.device) if story else None
        previous = Latents.load(previous_latents) if previous_latents else None
        found, started = [], time.monotonic()
        for number, sentence in enumerate(sentences):
            # 2. each sentence's candidates, in order; in story mode the next starts from the one kept
            records = search_sentence(config, text_name, sentence, generator, clip, previous, log, text_dir)
            if story:
                previous = story_pick(config, sentence, records, generator, clip, judge_clip, log)
            found.append(records)
            log(job_progress(number + 1, len(sentences), time.monotonic() - started, "sentences"))
            if text_dir is not None:
                log(text_status(text_dir).describe())
        # 3. every sentence's files are complete: the receipt, and nothing left to resume (the checkpoints,
        # and any a killed run was writing)
        if receipt is not None:
            receipt.write(text_dir, [path for s in sentences for files in s.candidates for path in files.written])
        for sentence in sentences:
            for k in range(len(sentence.candidates) if sentence.checkpoint else 0):
                remove_with_leftovers(candidate_checkpoint(sentence.checkpoint, k))
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


def search_sentence(config: dict, text_name: str, sentence: SentenceSearch, generator, clip,
                    previous: Latents | None, log, text_dir=None) -> list[Latents]:
    """One sentence searched once per candidate (candidate k from `candidate_seed(seed, k)`), each
    candidate's latents, image, history table and plot and iterations written; with `text_dir`, the time
    its searches took recorded there (not when every candidate was kept as it was)."""
    # 1. the settings with the sentence's overrides, the prompt as CLIP sees it, what the searches depend on
    settings = SearchSettings.from_config(config, sentence.overrides)
    parts = [(text, float(weight)) for text, weight in sentence.parts]
    fit = fit_prompt(clip.tokenizer, parts)
    if fit.truncated:
        log(f"a prompt part needs {fit.tokens} tokens; CLIP sees only: {fit.clip_prompt!r}")
    story = ", starting from the previous sentence" if previous else ""
    record = Sentence(text=text_name, index=sentence.index, sentence=sentence.sentence,
                      prompt=format_weighted_prompt(parts), clip_prompt=fit.clip_prompt, prompt_truncated=fit.truncated)
    identities = sentence.identities(config)
    results, started, searched = [], time.monotonic(), False
    for k, (files, identity) in enumerate(zip(sentence.candidates, identities)):
        # 2. candidate k: its search, resumable from its checkpoint (a finished one is not run again)
        made_by = {"search": identity, "overrides": dict(sentence.overrides), "threads": thread_counts(),
                   "device": str(generator.device)}
        k_seed = identity["seed"]
        which = f"candidate {k} of {len(sentence.candidates)}, " if len(sentence.candidates) > 1 else ""
        earlier = searched_before(files, record, made_by, log)
        if earlier is not None:  # this very search's files, from an earlier run of the job (an edit elsewhere)
            log(f"sentence {sentence.index} ({which}seed {k_seed}): this search's files are there, kept as they are")
            results.append(earlier)
            continue
        log(f"searching sentence {sentence.index} of '{text_name}' on {generator.device} with {settings.optimizer}: "
            f"{record.prompt!r} ({which}seed {k_seed}{story})")
        checkpoint = None
        if sentence.checkpoint:
            checkpoint = Checkpointer(candidate_checkpoint(sentence.checkpoint, k), digest(made_by),
                                      every=config["search"]["checkpoint_every"], log=log)
        result = run_search(parts, k_seed, generator, clip, settings, previous, checkpoint, log)
        # 3. its record and files
        latents = Latents(
            noise=result.noise, class_vector=result.class_vector, class_mode=result.class_mode,
            truncation=settings.truncation, grayscale=settings.grayscale, seed=k_seed, generator=generator.name,
            sentence=record, search=outcome(result, settings, clip.name), provenance=made_by)
        write_search_files(files, latents, result, generator)
        log(f"best loss {result.loss:.4f}, CLIP similarity {result.similarity:.4f} (iteration "
            f"{result.iteration + 1})")
        results.append(latents)
        searched = True
    # 4. what the sentence's searches took, for the text's progress and the report's timings
    if text_dir is not None and searched:
        record_time(text_dir, "search", sentence.index, time.monotonic() - started,
                    candidates=len(sentence.candidates))
    return results


def searched_before(files: SearchFiles, sentence: Sentence, made_by: dict, log=print) -> Latents | None:
    """A candidate's files as an earlier run of this very search left them (the same sentence and
    identity, on the same device with as many threads, every file there), or None. A latents file that
    cannot be read is set aside (`<name>.damaged`) and searched again."""
    if not all(Path(path).is_file() for path in files.written):
        return None
    try:
        found = Latents.load(files.latents)
    except LatentsError as err:
        log(set_aside(files.latents, err))
        return None
    return found if found.sentence == sentence and found.provenance == made_by else None


def story_pick(config: dict, sentence: SentenceSearch, records: list[Latents], generator, clip, judge_clip,
               log) -> Latents:
    """In story mode the next sentence starts from the candidate the keep job will keep: the artist's
    pick, else the best judge score (each candidate judged here as the judge job judges it, its verdict
    saved for that job)."""
    if sentence.pick is not None or len(records) == 1:
        return records[sentence.pick or 0]
    identity, crops = judge_identity(config), JudgeSettings.from_config(config).crops
    judged = []
    for files, record in zip(sentence.candidates, records):
        verdict = judged_before(files.latents, identity) or judge_candidate(config, record, files.latents, identity,
                                                                            generator, clip, judge_clip, crops)
        judged.append(record.with_scores(verdict))
    choice = Candidates.among(judged)
    log(f"sentence {sentence.index}: the next sentence starts from candidate {choice.kept} (judge)")
    return records[choice.kept]


def write_search_files(files: SearchFiles, latents: Latents, result: SearchResult, generator) -> None:
    latents.save(files.latents)
    write_png(files.image, render_still(generator, latents))
    write_history_tsv(result.history, files.history)
    plot_history(result.history, files.plot, title=f"{latents.sentence.index}: {latents.sentence.prompt}")
    if files.steps is not None:
        save_steps(files.steps, result)


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


def outcome(result: SearchResult, settings: SearchSettings, clip_name: str) -> SearchOutcome:
    return SearchOutcome(loss=result.loss, similarity=result.similarity, start_loss=result.start_loss,
                         best_iteration=result.iteration, optimizer=settings.optimizer,
                         initial_class=str(settings.initial_class), clip=clip_name,
                         history=history_columns(result.history))
