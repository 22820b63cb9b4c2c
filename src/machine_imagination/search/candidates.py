"""Several candidates per sentence (search.candidates): K searches from K seeds, every one kept on disk,
and the one with the best held-out judge score (or the artist's pick) kept as the sentence's latents.

Candidate 0 is searched from the sentence's own seed, so one candidate is exactly the search of a
sentence without candidates; candidate k > 0 from a seed derived from the sentence's seed and k alone,
so a candidate's result does not depend on how many candidates there are.

    results/<text>/candidates/<index>/<k>.npz, <k>.png, <k>.tsv, <k>-history.png, <k>-steps.npz
        written by the search job (search.job), one set per candidate (<k>-steps.npz: each
        iteration's best latents, from which the progress job makes <k>.mp4)
    results/<text>/candidates/<index>/<k>-judge.json
        the candidate's judge scores, written by the judge job (search.judge)
    results/<text>/latents/<index>.npz, images/<index>.png, history/<index>.tsv, history/<index>.png
        the kept candidate's, written by the keep job (`keep_block_job`): its latents with its judge
        scores (and, with several candidates, the choice); a pick changes these and the film segments
        that touch the sentence, and searches and judges nothing again
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..files import atomic_copy, sha256_file
from ..latents import Candidates, Latents


@dataclass(frozen=True)
class SearchFiles:
    """The files of one search's result: its latents, image, history table and plot, its iterations
    (each one's best latents: `steps`), and its progress video."""

    latents: Path
    image: Path
    history: Path
    plot: Path
    steps: Path | None = None
    progress: Path | None = None

    @classmethod
    def of_candidate(cls, directory, k: int, progress: bool = False) -> "SearchFiles":
        """Candidate k's files in a sentence's candidates directory."""
        directory = Path(directory)
        return cls(directory / f"{k}.npz", directory / f"{k}.png", directory / f"{k}.tsv",
                   directory / f"{k}-history.png", directory / f"{k}-steps.npz",
                   directory / f"{k}.mp4" if progress else None)

    @classmethod
    def of_sentence(cls, text_dir, index: int, progress: bool = False) -> "SearchFiles":
        """A sentence's own files: those of the candidate kept for it."""
        root, name = Path(text_dir), f"{index:04d}"
        return cls(root / "latents" / f"{name}.npz", root / "images" / f"{name}.png",
                   root / "history" / f"{name}.tsv", root / "history" / f"{name}.png",
                   progress=root / "progress" / f"{name}.mp4" if progress else None)

    @property
    def written(self) -> list[Path]:
        """The files a search (or the keep job) writes: all but the progress video, made afterwards."""
        return [Path(p) for p in (self.latents, self.image, self.history, self.plot, self.steps) if p is not None]


def candidate_files(text_dir, index: int, count: int, progress: bool = False) -> list[SearchFiles]:
    """The files of each of sentence `index`'s `count` candidates."""
    return [SearchFiles.of_candidate(Path(text_dir) / "candidates" / f"{index:04d}", k, progress)
            for k in range(count)]


def candidate_seed(seed: int, k: int) -> int:
    """The seed of a sentence's candidate k: the sentence's own for k = 0, else one drawn from (seed, k)."""
    if k == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1, dtype=np.uint32)[0])


def candidate_checkpoint(path, k: int) -> Path:
    """Where candidate k's search keeps its checkpoint: the sentence's checkpoint path for candidate 0."""
    path = Path(path)
    return path if k == 0 else path.with_name(f"{path.stem}-{k}{path.suffix}")


@dataclass(frozen=True)
class SentenceKeep:
    """One sentence of a keep job: its candidates' files, where the kept one's go, the artist's pick."""

    index: int
    candidates: list[SearchFiles]
    kept: SearchFiles
    pick: int | None = None


def keep_candidate(candidates: list[SearchFiles], kept: SearchFiles, pick: int | None = None, log=print) -> Candidates:
    """The chosen candidate's files become the sentence's: its latents with the judge's scores (from each
    candidate's verdict, `<k>-judge.json`) and, with several candidates, the choice; its image, history
    and plot as they are."""
    from .judge import Verdict, judge_file

    # 1. every candidate's record with its verdict, and the choice
    judged = []
    for files in candidates:
        verdict = Verdict.load(judge_file(files.latents))
        if verdict is None or verdict.latents_sha256 != sha256_file(files.latents):
            raise ValueError(f"candidate '{files.latents}' has no judge scores of its own (its -judge.json is "
                             "missing or judged other latents): run the workflow again, the judge job makes them")
        judged.append((Latents.load(files.latents).with_scores(verdict), verdict))
    choice = Candidates.among([record for record, _ in judged], pick, eligible=race_finishers(
        [record for record, _ in judged]))
    record, verdict = judged[choice.kept]
    # 2. the latents: the candidate's, with the judge that scored it and the choice when there was one
    provenance = {**record.provenance, "judge": verdict.judge}
    replace(record, provenance=provenance, candidates=choice if len(candidates) > 1 else None).save(
        kept.latents, if_changed=True)
    # 3. its image, history and plot as they are (files that are so already are left untouched: the
    #    segments walking from them are not out of date)
    chosen = candidates[choice.kept]
    for source, target in ((chosen.image, kept.image), (chosen.history, kept.history), (chosen.plot, kept.plot)):
        atomic_copy(source, target, if_changed=True)
    scores = ", ".join(f"{k}: {s:.4f}" for k, s in enumerate(choice.scores))
    log(f"kept candidate {choice.kept} of {len(candidates)} (by {choice.picked_by}); judge scores {scores}")
    stopped = record.race.stopped_at(choice.kept) if record.race else None
    if stopped is not None:
        at = record.race.kept_at(choice.kept)
        log(f"candidate {choice.kept} was stopped by the race after iteration {stopped}: it is kept "
            + ("as it stood then" if at == stopped else f"as its best judged image, after iteration {at}"))
    return choice


def race_finishers(records: list[Latents]) -> list[int] | None:
    """The candidates a race let finish (the judge keeps the best of them), or None: no race."""
    races = [record.race for record in records if record.race is not None]
    return races[0].finishers if races else None


def keep_block_job(sentences: list[SentenceKeep], *, text_dir=None, receipt=None, log=print) -> list:
    """The keep job (workflow/rules/search.smk, rule `keep`): each sentence of a block gets its kept
    candidate's files (`keep_candidate`); the receipt lists them."""
    choices = [keep_candidate(s.candidates, s.kept, s.pick, log=lambda m, i=s.index: log(f"sentence {i}: {m}"))
               for s in sentences]
    if receipt is not None:
        receipt.write(text_dir, [path for s in sentences for path in s.kept.written])
    return choices
