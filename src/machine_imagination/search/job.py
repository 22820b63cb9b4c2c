"""The search stage's job (workflow/rules/search.smk, rule `search`): a block of consecutive sentences,
each searched once per candidate with the models loaded once, its candidates' latents, images,
history tables and plots written, and each search's iterations kept (`<k>-steps.npz`, from which the
progress videos are made). The judge job (`search.judge`) then scores the candidates and the keep job
(`search.candidates`) makes one of each sentence's candidates the sentence's."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..files import digest, remove_with_leftovers, sha256_file, write_png
from ..latents import Candidates, Latents, LatentsError, Race, SearchOutcome, Sentence, set_aside
from ..models.device import deterministic, thread_counts
from ..render import render_still
from ..status import job_progress, record_time, text_status
from ..text import fit_prompt, format_weighted_prompt
from .candidates import SearchFiles, candidate_checkpoint, candidate_seed, race_finishers
from .checkpoint import Checkpointer
from .history import history_columns, plot_history, write_history_tsv
from .judge import JudgeSettings, Verdict, judge_candidate, judge_file, judge_identity, judged_before
from .load import load_judge_clip, load_models
from .loop import check_inputs, search_prompt
from .objective import Objective
from .progress import save_steps
from .race import RaceJudge, RaceLog, RaceSchedule, race, race_identity, race_log_path, start_runners
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
        """Each candidate's search identity (search.settings.search_identity), and in a race what decides
        it (search.race.race_identity)."""
        race = race_identity(config, self.seed, len(self.candidates))
        return [{**search_identity(config, self.parts, candidate_seed(self.seed, k), self.overrides, self.start),
                 **({"race": race} if race else {})}
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
        racing = RaceSchedule.from_config(config) is not None
        judge_clip = load_judge_clip(config, generator.device) if story or racing else None
        previous = Latents.load(previous_latents) if previous_latents else None
        found, started = [], time.monotonic()
        for number, sentence in enumerate(sentences):
            # 2. each sentence's candidates, in order; in story mode the next starts from the one kept
            records = search_sentence(config, text_name, sentence, generator, clip, previous, log, text_dir, judge_clip)
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
            if sentence.checkpoint:
                remove_with_leftovers(race_log_path(sentence.checkpoint))
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
                    previous: Latents | None, log, text_dir=None, judge_clip=None) -> list[Latents]:
    """One sentence searched once per candidate (candidate k from `candidate_seed(seed, k)`), each
    candidate's latents, image, history table and plot and iterations written; with `text_dir`, the time
    its searches took recorded there (not when every candidate was kept as it was)."""
    # 1. the prompt as CLIP sees it, what the searches depend on
    parts = [(text, float(weight)) for text, weight in sentence.parts]
    fit = fit_prompt(clip.tokenizer, parts)
    if fit.truncated:
        log(f"a prompt part needs {fit.tokens} tokens; CLIP sees only: {fit.clip_prompt!r}")
    record = Sentence(text=text_name, index=sentence.index, sentence=sentence.sentence,
                      prompt=format_weighted_prompt(parts), clip_prompt=fit.clip_prompt, prompt_truncated=fit.truncated)
    made_by = [{"search": identity, "overrides": dict(sentence.overrides), "threads": thread_counts(),
                "device": str(generator.device)} for identity in sentence.identities(config)]
    # 2. its candidates: raced (search.race), else searched one by one
    started = time.monotonic()
    schedule = RaceSchedule.from_config(config)
    if schedule is not None:
        results, searched = race_sentence(config, sentence, record, made_by, schedule, generator, clip, judge_clip,
                                          previous, log)
    else:
        results, searched = search_candidates(config, sentence, record, made_by, generator, clip, previous, log)
    # 3. what the sentence's searches took, for the text's progress and the report's timings
    if text_dir is not None and searched:
        record_time(text_dir, "search", sentence.index, time.monotonic() - started,
                    candidates=len(sentence.candidates))
    return results


def search_candidates(config: dict, sentence: SentenceSearch, record: Sentence, made_by: list[dict], generator,
                      clip, previous: Latents | None, log) -> tuple[list[Latents], bool]:
    """Each candidate of a sentence searched in turn (plain candidates, or one search); whether any was."""
    settings = SearchSettings.from_config(config, sentence.overrides)
    parts = [(text, float(weight)) for text, weight in sentence.parts]
    story = ", starting from the previous sentence" if previous else ""
    results, searched = [], False
    for k, files in enumerate(sentence.candidates):
        # 1. candidate k: its search, resumable from its checkpoint (a finished one is not run again)
        k_seed = made_by[k]["search"]["seed"]
        which = f"candidate {k} of {len(sentence.candidates)}, " if len(sentence.candidates) > 1 else ""
        earlier = searched_before(files, record, made_by[k], log)
        if earlier is not None:  # this very search's files, from an earlier run of the job (an edit elsewhere)
            log(f"sentence {sentence.index} ({which}seed {k_seed}): this search's files are there, kept as they are")
            results.append(earlier)
            continue
        log(f"searching sentence {sentence.index} of '{record.text}' on {generator.device} with {settings.optimizer}: "
            f"{record.prompt!r} ({which}seed {k_seed}{story})")
        checkpoint = candidate_checkpointer(config, sentence, k, made_by[k], log)
        result = run_search(parts, k_seed, generator, clip, settings, previous, checkpoint, log)
        # 2. its record and files
        results.append(write_candidate(files, result, settings, k_seed, record, made_by[k], generator, clip, log))
        searched = True
    return results, searched


def race_sentence(config: dict, sentence: SentenceSearch, record: Sentence, made_by: list[dict],
                  schedule: RaceSchedule, generator, clip, judge_clip, previous: Latents | None,
                  log) -> tuple[list[Latents], bool]:
    """A sentence's candidates raced (search.race): every candidate's files, each recording the race;
    whether it ran (not when every candidate's files were there from an earlier run of the job)."""
    # 1. a race is decided by all its candidates: kept as it is only when all of them are there
    earlier = [searched_before(files, record, m, log) for files, m in zip(sentence.candidates, made_by)]
    if all(found is not None for found in earlier):
        log(f"sentence {sentence.index}: the race's files are there, kept as they are")
        return earlier, False
    # 2. the settings, the prompt's objective (shared: it depends on the prompt alone) and the judge
    settings = SearchSettings.from_config(config, sentence.overrides)
    parts = check_inputs(sentence.parts, settings, generator, log)
    schedule.check(len(sentence.candidates), settings.iterations, settings.init_samples, settings.init_top)
    objective = Objective(generator, clip, parts, settings)
    judge = RaceJudge(generator, clip, judge_clip, parts, settings, JudgeSettings.from_config(config).crops)
    # 3. each candidate's state: from its checkpoint, else fresh from its seed (and the pool it shares)
    runners = start_runners([m["search"]["seed"] for m in made_by], objective, settings, previous,
                            [candidate_checkpointer(config, sentence, k, m, log) for k, m in enumerate(made_by)], log,
                            schedule.own_starts)
    own = f", {schedule.own_starts} of them from draws of their own" if schedule.own_starts else ""
    log(f"racing sentence {sentence.index}: {record.prompt!r} ({len(runners)} candidates{own}, rounds after "
        f"iterations {', '.join(map(str, schedule.rounds))} keeping {', '.join(map(str, schedule.keep))})")
    # 4. the race, its decided rounds kept beside the checkpoints until the block is written
    race_log = RaceLog(race_log_path(sentence.checkpoint), digest(made_by)) if sentence.checkpoint else None
    results, outcome_of_race, judged = race(runners, schedule, objective, settings, judge=judge, race_log=race_log,
                                            log=log)
    # 5. every candidate's record and files, each with the race, and its verdict, from the race's judging
    #    of what it is (the judge job keeps it: the same judge, the same latents)
    written = [write_candidate(files, result, settings, runner.seed, record, m, generator, clip, log, outcome_of_race)
               for files, result, runner, m in zip(sentence.candidates, results, runners, made_by)]
    identity = judge_identity(config)
    for k, scores in judged.items():
        Verdict(judge=identity, latents_sha256=sha256_file(sentence.candidates[k].latents), **scores).save(
            judge_file(sentence.candidates[k].latents))
    return written, True


def candidate_checkpointer(config: dict, sentence: SentenceSearch, k: int, made_by: dict, log) -> Checkpointer | None:
    """Where candidate k's search saves its state as it goes (None: the job keeps no checkpoints)."""
    if not sentence.checkpoint:
        return None
    return Checkpointer(candidate_checkpoint(sentence.checkpoint, k), digest(made_by),
                        every=config["search"]["checkpoint_every"], log=log)


def write_candidate(files: SearchFiles, result: SearchResult, settings: SearchSettings, seed: int, record: Sentence,
                    made_by: dict, generator, clip, log, race_record: Race | None = None) -> Latents:
    """A candidate's latents record, and its files written."""
    latents = Latents(
        noise=result.noise, class_vector=result.class_vector, class_mode=result.class_mode,
        truncation=settings.truncation, grayscale=settings.grayscale, seed=seed, generator=generator.name,
        sentence=record, search=outcome(result, settings, clip.name), provenance=made_by, race=race_record)
    write_search_files(files, latents, result, generator)
    log(f"best loss {result.loss:.4f}, CLIP similarity {result.similarity:.4f} (iteration {result.iteration + 1})")
    return latents


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
    choice = Candidates.among(judged, eligible=race_finishers(records))
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
