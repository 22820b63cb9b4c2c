"""A race of a sentence's candidates (search.race): successive halving with the held-out judge.

Plain candidates (search.candidates: K) are K whole searches, judged when they are done. In a race the K
searches advance together and the losers stop early: every live candidate runs to the first round's
iteration, each one's best image so far is judged (search.judge: the judge CLIP, on the same fresh views
the judge job uses), the `keep` best go on to the next round, and the last round's survivors finish the
search. With `rounds: [2, 6]` and `keep: [3, 1]`, eight candidates run 2 iterations, three of them on to
6, one to the end.

- The candidates share one pool of draws (when the search starts from the best of search.init_samples
  draws): candidate 0 starts as it would alone, scoring its seed's draws, and candidate k > 0 starts from
  one of those draws instead of scoring draws of its own (`start_runners`). A start is most of a race's
  cost otherwise (docs/quality.md, "A pool of draws the candidates share"). The draws are chosen by class
  (`starts.pool_by_class`): the first pooled candidate from the best draw of another class than candidate
  0's, the others from the next best draws of candidate 0's class, because a search ends in its start's
  class (right 94 % of the time from the right class, 11 % from another: docs/quality.md, "Candidates by
  class").
- With `own_starts: N`, candidates 1 … N start from draws of their own, as they would alone (each scoring
  its seed's draws, a start's cost), and only the others from the pool: one pool's draws are all near
  candidate 0's start, and an own start buys back the variety of plain candidates (docs/quality.md,
  "Own starts in a pooled race").
- A candidate is the same search in a race as alone: kept as its image judged after t iterations, its
  result is that of its search (from its seed, and a pooled candidate from its start in the pool) run for t
  iterations (the best image it had seen), whole when t is the end (`search.loop.advance` runs a
  search in pieces).
- The judge decides what is searched, so its settings, the schedule and the number of candidates are
  part of every raced candidate's identity (`race_identity`): a `judge:` change races again.
- A race decides on scores rounded to `DIGITS` decimals (the first candidate of equals goes on), so that
  the last bits in which CPU kinds differ (~1e-7 of a similarity) do not decide; the scores are recorded
  as rounded.
- Deterministic and resumable: every live candidate is saved at the round's iteration before it is
  judged, and the round's scores are saved (`RaceLog`) before any survivor goes on; a rerun of a killed
  job reads the decided rounds and the candidates' checkpoints, and ends with the same bits.
- A candidate is kept as its best judged image: the one of its judged images (its best so far after each
  round it ran, and a finisher's at the end, judged there too) with the highest rounded judge score, the
  later of equals. The guiding CLIP's best can drift away from what the judge sees in it (a search right
  after 2 or 10 iterations and wrong at the end); the judge holds out what the search overfits
  (docs/quality.md, "A candidate kept as its best judged image").
- Every candidate keeps its files (a stopped one with the iterations it ran), and each file records the
  whole race (latents.Race: who stopped when, and the iteration each kept image was judged after); the
  keep step keeps the best finisher unless the artist picks another.
- On a GPU the live candidates' populations go through the models together, one batch a generation
  (`search.loop.advance_together`), each candidate's crops from its own stream; on a CPU one after
  another, where batching does not pay (`batches_populations`). A batch's rounding can differ from one
  by one in a loss's last bits (within 1e-6 of it), which CMA-ES, reading only rankings, does not see
  unless it turns a near tie: each device keeps its one way, so a rerun there keeps its bits.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes
from ..latents import Race, decisive_score
from . import judge as judging
from .judge import judge_identity
from .loop import advance_together
from .settings import SearchSettings
from .state import Best, SearchResult, SearchState

DIGITS = 3  # a race compares judge scores rounded to this many decimals


@dataclass(frozen=True)
class RaceSchedule:
    """After iteration `rounds[r]`, the `keep[r]` best of the live candidates go on."""

    rounds: tuple
    keep: tuple
    own_starts: int = 0  # candidates 1 … own_starts start from draws of their own, not from the pool

    @classmethod
    def from_config(cls, config: dict) -> "RaceSchedule | None":
        """The config's schedule (None: no race); ValueError naming the key when it is not one."""
        race = config["search"].get("race")
        if race is None:
            return None
        if not isinstance(race, dict) or not {"rounds", "keep"} <= set(race) <= {"rounds", "keep", "own_starts"}:
            raise ValueError("search.race: a mapping of rounds (the iterations after which the candidates are "
                             "judged) and keep (how many go on after each), and optionally own_starts (how many "
                             "candidates start from draws of their own), e.g. {rounds: [2, 6], keep: [3, 1]}")
        for key in ("rounds", "keep"):
            values = race[key]
            if not isinstance(values, list) or not values or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
                raise ValueError(f"search.race.{key}: {values!r} is not a list of whole numbers from 1")
        own = race.get("own_starts", 0)
        if not isinstance(own, int) or isinstance(own, bool) or own < 0:
            raise ValueError(f"search.race.own_starts: {own!r} is not a whole number from 0")
        return cls(tuple(race["rounds"]), tuple(race["keep"]), own)

    def identity(self) -> dict:
        """What of the schedule decides a race's results (own_starts named only when some candidates start
        from draws of their own: a race without is as it was before the setting)."""
        own = {"own_starts": self.own_starts} if self.own_starts else {}
        return {"rounds": list(self.rounds), "keep": list(self.keep), **own}

    def check(self, candidates: int, iterations: int, init_samples: int = 0, init_top: int = 1) -> None:
        """Raise ValueError naming the key no race can follow with `candidates` searches of `iterations`
        iterations, starting from the best `init_top` of `init_samples` + 1 draws (a pool they share)."""
        if candidates < 2:
            raise ValueError(f"search.race: a race needs at least two candidates (search.candidates is {candidates})")
        if self.own_starts > candidates - 1:
            raise ValueError(f"search.race.own_starts: {self.own_starts} candidates after the first start from draws "
                             f"of their own, but the race has {candidates} (search.candidates)")
        pooled = candidates - 1 - self.own_starts
        if shares_starts(init_samples) and init_top + pooled > init_samples + 1:
            raise ValueError(f"search.init_samples: {pooled} of the {candidates} raced candidates start from the best "
                             f"of the first one's {init_samples} + 1 draws ({init_top} for it, one for each other): it "
                             f"needs at least {init_top + pooled - 1} (or 0: each candidate draws its own start)")
        if len(self.rounds) != len(self.keep):
            raise ValueError(f"search.race.keep: one count per round ({len(self.rounds)} rounds, "
                             f"{len(self.keep)} counts)")
        if any(b <= a for a, b in zip(self.rounds, self.rounds[1:])):
            raise ValueError(f"search.race.rounds: {list(self.rounds)} must rise from round to round")
        if self.rounds[-1] >= iterations:
            raise ValueError(f"search.race.rounds: a round after iteration {self.rounds[-1]}, but the search runs "
                             f"search.iterations = {iterations} (every round must come before the end)")
        live = candidates
        for r, kept in enumerate(self.keep):
            if kept >= live:
                raise ValueError(f"search.race.keep: round {r + 1} keeps {kept} of the {live} candidates it has "
                                 "(a round stops at least one)")
            live = kept

    def runs(self, candidates: int, iterations: int) -> list[int]:
        """How many iterations each of `candidates` candidates runs in a race where the first ones always
        go on (the work, whoever wins)."""
        reached, live = [], candidates
        for until, kept in zip(self.rounds, self.keep):
            reached += [until] * (live - kept)
            live = kept
        return [iterations] * live + reached[::-1]

    def work(self, settings: SearchSettings, candidates: int) -> float:
        """What a sentence's race costs in whole searches: the starts (candidate 0's initial draws scored;
        the others' likewise, or one evaluation each of a start from the pool) and each candidate's
        iterations' populations, against one search's."""
        start = settings.init_samples + 1
        pooled = 1 if shares_starts(settings.init_samples) else start
        one = start + settings.population * settings.iterations
        runs = self.runs(candidates, settings.iterations)
        starts = start * (1 + self.own_starts) + pooled * (candidates - 1 - self.own_starts)
        return (starts + settings.population * sum(runs)) / one


def shares_starts(init_samples: int) -> bool:
    """Whether a race's candidates share one pool of draws: when a search starts from the best of many."""
    return init_samples > 0


def search_work(config: dict) -> float:
    """A sentence's searches in whole searches: search.candidates, or what the race costs (its SLURM
    time limit follows it)."""
    schedule, candidates = RaceSchedule.from_config(config), config["search"]["candidates"]
    return candidates if schedule is None else schedule.work(SearchSettings.from_config(config), candidates)


def race_identity(config: dict, seed: int, candidates: int) -> dict | None:
    """What a raced candidate's result depends on beyond its own search: the schedule, how many candidates
    race and from which sentence seed (their seeds), and the judge that decides. None without a race."""
    schedule = RaceSchedule.from_config(config)
    if schedule is None:
        return None
    # candidates that share candidate 0's draws say how they are chosen (a race without a pool is as it was
    # before pools; "shared" was the draws by loss alone, before the choice by class)
    pool = {"starts": "shared by class"} if shares_starts(config["search"]["init_samples"]) else {}
    # "kept": a candidate is kept as its best judged image (before, as its last)
    return {**schedule.identity(), "candidates": int(candidates), "sentence_seed": int(seed),
            "digits": DIGITS, "judge": judge_identity(config), "kept": "best judged", **pool}


@dataclass(frozen=True)
class Judged:
    """A candidate's image as the race judged it: its search's best after iteration `after` (a round's, or
    the search's end), the judge's scores (unrounded, `RaceJudge.scores`) and the score that decides,
    rounded to DIGITS."""

    after: int
    best: Best
    scores: dict
    rounded: float

    def better(self, earlier: "Judged | None") -> "Judged":
        """This image or the `earlier` one of the same candidate, whichever the judge scores higher
        (rounded: the later of equals, the one the search has gone further with)."""
        return self if earlier is None or self.rounded >= earlier.rounded else earlier

    def saved(self) -> dict:
        """As JSON (the latents as their float64 values: a float's JSON text reads back to its very bits)."""
        best = {"loss": self.best.loss, "similarity": self.best.similarity, "iteration": self.best.iteration,
                "x": [float(v) for v in self.best.x]}
        return {"after": self.after, "best": best, "scores": self.scores, "rounded": self.rounded}

    @classmethod
    def load(cls, saved: dict) -> "Judged":
        best = saved["best"]
        return cls(after=int(saved["after"]), scores=saved["scores"], rounded=float(saved["rounded"]),
                   best=Best(float(best["loss"]), float(best["similarity"]), np.asarray(best["x"], dtype=np.float64),
                             int(best["iteration"])))


class RaceLog:
    """The decided rounds of a sentence's race (each round's rounded scores, None for a candidate that
    had stopped) and each candidate's best judged image so far (`Judged`), saved beside its checkpoints so
    that a rerun does not judge a round again after its survivors have gone on."""

    def __init__(self, path, key: str):
        self.path, self.key = Path(path), key

    def load(self) -> tuple[list[list], dict]:
        """The decided rounds and {candidate: Judged}, or nothing (none saved, or another race's)."""
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return [], {}
        if not isinstance(saved, dict) or saved.get("key") != self.key:
            return [], {}
        return saved["rounds"], {int(k): Judged.load(judged) for k, judged in saved["kept"].items()}

    def save(self, rounds: list[list], kept: dict) -> None:
        atomic_write_bytes(self.path, json.dumps({"key": self.key, "rounds": rounds,
                                                  "kept": {k: judged.saved() for k, judged in kept.items()}}).encode())


def race_log_path(checkpoint) -> Path:
    """Where a sentence's race keeps its decided rounds: beside its (candidate 0's) checkpoint."""
    path = Path(checkpoint)
    return path.with_name(f"{path.stem}-race.json")


@dataclass
class Runner:
    """One candidate in a race: its seed, its search's state and checkpoint."""

    seed: int
    state: SearchState
    checkpoint: object = None  # a checkpoint.Checkpointer, or None


def start_runners(seeds: list[int], objective, settings: SearchSettings, previous=None, checkpoints=None,
                  log=print, own_starts: int = 0) -> list[Runner]:
    """The race's candidates, each from its checkpoint or else fresh from its seed: candidate 0 as alone,
    keeping the draws `pool_by_class` chooses from its scored ones (its state's pool, saved with it);
    candidates 1 … `own_starts` as alone too (from their own draws); candidate k > own_starts from the
    pool's (k − own_starts)-th draw (without a pool, from its own draws)."""
    checkpoints = checkpoints or [None] * len(seeds)
    pool = len(seeds) - 1 - own_starts if shares_starts(settings.init_samples) else 0
    runners = []
    for k, (seed, checkpoint) in enumerate(zip(seeds, checkpoints)):
        state = SearchState.resume(checkpoint)
        if state is None and k == 0:
            state = SearchState.fresh(seed, objective, settings, previous, log, pool=pool, by_class=True)
        elif state is None:
            start = runners[0].state.pool[k - 1 - own_starts] if pool and k > own_starts else None
            state = SearchState.fresh(seed, objective, settings, previous, log, start=start)
        runners.append(Runner(seed, state, checkpoint))
    return runners


def race(runners: list[Runner], schedule: RaceSchedule, objective, settings: SearchSettings, *, judge,
         race_log: RaceLog | None = None, together: bool | None = None,
         log=print) -> tuple[list[SearchResult], Race, dict]:
    """Race the candidates (each a `Runner`, fresh or resumed) by `schedule`: each round, the live ones on
    to its iteration and judged (`judge.scores(result, seed)`, a `RaceJudge`: the judge score of a
    candidate's best image so far), the best go on; the survivors to the end. `together`: the live
    candidates' populations through the models in one batch (None: where that pays, `batches_populations`).
    Every candidate's result (its best judged image: `Judged.better`), the race, and each candidate's
    judge scores of that image (unrounded, `judge.scores`: the judge job need not judge it again)."""
    together = batches_populations(objective.generator.device) if together is None else together
    decided, kept = race_log.load() if race_log else ([], {})
    live, rows = list(range(len(runners))), []
    for r, (until, going_on) in enumerate(zip(schedule.rounds, schedule.keep)):
        if r < len(decided):  # 1. a round decided before the job was stopped: its scores as they were
            row = list(decided[r])
        else:
            # 2. the live candidates on to the round's iteration, saved there, then judged (None: stopped)
            row = [None] * len(runners)
            run_on([runners[k] for k in live], objective, settings, until, together, log)
            for k in live:
                judged = judged_now(runners[k], judge, settings, until)
                row[k], kept[k] = judged.rounded, judged.better(kept.get(k))
            if race_log:
                race_log.save([*rows, row], kept)
        rows.append(row)
        # 3. the best `going_on` go on (the first of equal rounded scores)
        going = sorted(sorted(live, key=lambda k: (-row[k], k))[:going_on])
        log(f"race round {r + 1} after iteration {until}: scores "
            + ", ".join(f"{k}: {row[k]:.{DIGITS}f}" for k in live)
            + f"; {', '.join(map(str, going))} go on, {', '.join(str(k) for k in live if k not in going)} stop")
        live = going
    # 4. the survivors to the end, judged there too
    run_on([runners[k] for k in live], objective, settings, None, together, log)
    for k in live:
        kept[k] = judged_now(runners[k], judge, settings, full_iterations(settings)).better(kept[k])
    # 5. each candidate as its best judged image
    reached = [full_iterations(settings) if k in live else schedule.rounds[last_round(rows, k)]
               for k in range(len(runners))]
    for k in range(len(runners)):
        if kept[k].after < reached[k]:
            log(f"candidate {k} is kept as its best judged image, after iteration {kept[k].after} "
                f"(judge score {kept[k].rounded:.{DIGITS}f})")
    results = [runner.state.result(settings, kept[k].best) for k, runner in enumerate(runners)]
    return results, Race(rounds=tuple(schedule.rounds), scores=tuple(tuple(row) for row in rows),
                         reached=tuple(reached), kept=tuple(kept[k].after for k in range(len(runners)))), {
        k: kept[k].scores for k in range(len(runners))}


def judged_now(runner: Runner, judge, settings: SearchSettings, after: int) -> Judged:
    """A candidate's best image so far (after iteration `after`), judged."""
    scores = judge.scores(runner.state.result(settings), runner.seed)
    return Judged(after, runner.state.best, scores, round(judge.score_of(scores), DIGITS))


def batches_populations(device) -> bool:
    """Whether a race's live candidates go through the models together: on a GPU, where one population
    (24-50 images) leaves most of it idle; not on a CPU, where eight populations in one batch took
    9-24 % longer each than one at a time (docs/quality.md, "Batching the survivors")."""
    return device.type == "cuda"


def run_on(runners: list[Runner], objective, settings: SearchSettings, until: int | None, together: bool,
           log) -> None:
    """Candidates' searches on to iteration `until` (None: to their end), together or one after another,
    each saved there, with the checkpoints' signal handlers installed while they run (SLURM's SIGTERM
    saves and stops the job)."""
    for group in ([runners] if together else [[runner] for runner in runners]):
        checkpoints = [runner.checkpoint for runner in group]
        for checkpoint in filter(None, checkpoints):
            checkpoint.install_signal_handlers()
        try:
            advance_together([runner.state for runner in group], objective, settings, until, checkpoints, log)
        finally:
            for checkpoint in filter(None, reversed(checkpoints)):
                checkpoint.restore_signal_handlers()
        for runner in group:
            if runner.checkpoint and until is None:
                runner.checkpoint.finish(runner.state)
            elif runner.checkpoint:
                runner.checkpoint.save(until, runner.state)


def last_round(rows: list[list], k: int) -> int:
    """The last round in which candidate k was judged."""
    return max(r for r, row in enumerate(rows) if row[k] is not None)


def full_iterations(settings: SearchSettings) -> int:
    """The iterations of a whole search: its first stage's, and terminal gradient steps after CMA-ES."""
    terminal = settings.uses_cma and settings.gradient and not settings.interleaved
    return settings.iterations + (settings.terminal_iterations if terminal else 0)


@dataclass(frozen=True)
class RaceJudge:
    """How a race judges a candidate: as the judge job scores its files (the judge CLIP's score when
    there is one, else the guiding CLIP's on fresh views), from the candidate's seed."""

    generator: object
    clip: object
    judge_clip: object
    parts: list
    settings: SearchSettings
    crops: int

    def scores(self, result: SearchResult, seed: int) -> dict:
        """The judge's scores of a candidate's best image so far, as search.judge.judge gives them."""
        return judging.judge(self.generator, self.clip, result, self.parts, self.settings, seed, crops=self.crops,
                             judge_clip=self.judge_clip)

    @staticmethod
    def score_of(scores: dict) -> float:
        """The score that decides (latents.decisive_score): the judge CLIP's, else the guide's."""
        return decisive_score(scores["judge_similarity"], scores.get("judge2_similarity"))
