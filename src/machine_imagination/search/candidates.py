"""Several candidates per sentence (search.candidates): K searches from K seeds, every one kept on disk,
and the one with the best held-out judge score (or the artist's pick) kept as the sentence's latents.

Candidate 0 is searched from the sentence's own seed, so one candidate is exactly the search of a
sentence without candidates; candidate k > 0 from a seed derived from the sentence's seed and k alone,
so a candidate's result does not depend on how many candidates there are.

    results/<text>/candidates/<index>/<k>.npz, <k>.png, <k>.tsv, <k>-history.png (<k>.mp4)
        written by the search job (search.job), one set per candidate
    results/<text>/latents/<index>.npz, images/<index>.png, history/<index>.tsv, history/<index>.png
        the kept candidate's, copied by the keep job (`keep_candidate`): a pick changes these and the
        film segments that touch the sentence, and searches nothing again
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..files import atomic_copy
from ..latents import Candidates, Latents


@dataclass(frozen=True)
class SearchFiles:
    """The files of one search's result: its latents, image, history table and plot, progress video."""

    latents: Path
    image: Path
    history: Path
    plot: Path
    progress: Path | None = None

    @classmethod
    def of_candidate(cls, directory, k: int, progress: bool = False) -> "SearchFiles":
        """Candidate k's files in a sentence's candidates directory."""
        directory = Path(directory)
        return cls(directory / f"{k}.npz", directory / f"{k}.png", directory / f"{k}.tsv",
                   directory / f"{k}-history.png", directory / f"{k}.mp4" if progress else None)


def candidate_seed(seed: int, k: int) -> int:
    """The seed of a sentence's candidate k: the sentence's own for k = 0, else one drawn from (seed, k)."""
    if k == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1, dtype=np.uint32)[0])


def candidate_checkpoint(path, k: int) -> Path:
    """Where candidate k's search keeps its checkpoint: the sentence's checkpoint path for candidate 0."""
    path = Path(path)
    return path if k == 0 else path.with_name(f"{path.stem}-{k}{path.suffix}")


def keep_candidate(candidates: list[SearchFiles], kept: SearchFiles, pick: int | None = None, log=print) -> Candidates:
    """The keep job: the chosen candidate's files become the sentence's. With one candidate they are
    copied byte for byte (today's files); with several the latents also record the choice."""
    # 1. every candidate's record, and the choice
    records = [Latents.load(files.latents) for files in candidates]
    choice = Candidates.among(records, pick)
    chosen = candidates[choice.kept]
    # 2. the latents: the candidate's, with the choice when there was one to make
    if len(candidates) == 1:
        atomic_copy(chosen.latents, kept.latents)
    else:
        replace(records[choice.kept], candidates=choice).save(kept.latents)
    # 3. its image, history and plot (and progress video) as they are
    for source, target in ((chosen.image, kept.image), (chosen.history, kept.history), (chosen.plot, kept.plot),
                           (chosen.progress, kept.progress)):
        if target is not None:
            atomic_copy(source, target)
    scores = ", ".join(f"{k}: {s:.4f}" for k, s in enumerate(choice.scores))
    log(f"kept candidate {choice.kept} of {len(candidates)} (by {choice.picked_by}); judge scores {scores}")
    return choice

