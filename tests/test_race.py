"""A race of the candidates (search.race): who stops and who finishes is what the schedule says from the
judge scores recorded; a raced candidate is the same search as alone (from its start in the pool of draws
the candidates share); a killed race resumes to the same bytes; bad schedules fail at parse time naming
the key."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import run_until_killed, write_search_job
from machine_imagination.latents import Latents
from machine_imagination.models.device import deterministic
from machine_imagination.project import ConfigError, check_settings, validate_config
from machine_imagination.search.candidates import SearchFiles, SentenceKeep, keep_block_job
from machine_imagination.search.judge import Verdict, judge_block_job, judge_file
from machine_imagination.search.job import search_job
from machine_imagination.search.loop import advance, search_prompt
from machine_imagination.search.objective import Objective
from machine_imagination.search.checkpoint import Checkpointer, SearchInterrupted
from machine_imagination.search.race import (DIGITS, RaceJudge, RaceLog, RaceSchedule, Runner,
                                             batches_populations, race, search_work, start_runners)
from machine_imagination.search.settings import SearchSettings
from machine_imagination.search.state import SearchState

SCHEDULE = {"rounds": [2, 5], "keep": [2, 1]}


def race_config(tiny_models, **search):
    """A race of four candidates sharing a pool of draws (each search starts from the best of 9)."""
    return validate_config({"texts": {"t": "t.txt"}, "generator": {"model": str(tiny_models[0])},
                            "clip": {"model": str(tiny_models[1]), "pretrained": None}, "judge": {"crops": 3},
                            "search": {"iterations": 8, "population": 6, "crops": 3, "device": "cpu",
                                       "candidates": 4, "race": SCHEDULE, "init_samples": 8, **search}})


@pytest.fixture(scope="module")
def raced(tiny_models, tmp_path_factory):
    """One sentence raced with K = 4, its candidates judged by the judge job (as the pipeline does)."""
    out = tmp_path_factory.mktemp("race")
    config = race_config(tiny_models)
    files = [SearchFiles.of_candidate(out, k) for k in range(4)]
    search_job(config, text_name="t", index=0, sentence="s", prompt_parts=[["a storm at sea", 1]], seed=11,
               candidates=files, log=lambda m: None)
    # the race leaves the verdicts of the candidates it stopped (it judged what they are); the judge job
    # judges them afresh here, to compare
    from_race = {k: Verdict.load(judge_file(f.latents)) for k, f in enumerate(files)}
    for f in files:
        judge_file(f.latents).unlink(missing_ok=True)
    verdicts = judge_block_job(config, [[f.latents for f in files]], log=lambda m: None)[0]
    return config, out, files, [Latents.load(f.latents) for f in files], verdicts, from_race


def test_the_schedule_decides_who_stops_from_the_recorded_scores(raced):
    config, out, files, records, verdicts, from_race = raced
    record = records[0].race
    assert all(r.race == record for r in records), "every candidate records the whole race"
    assert record.rounds == (2, 5)
    # Replay the schedule on the recorded scores: round r keeps the `keep[r]` best of the live ones
    # (the first of equal rounded scores); the others stop at that round's iteration.
    live, expected = [0, 1, 2, 3], [None] * 4
    for until, kept, scores in zip(record.rounds, SCHEDULE["keep"], record.scores):
        assert all((scores[k] is None) == (k not in live) for k in range(4))
        assert all(round(scores[k], DIGITS) == scores[k] for k in live), "scores are recorded rounded"
        going = sorted(live, key=lambda k: (-scores[k], k))[:kept]
        for k in set(live) - set(going):
            expected[k] = until
        live = going
    expected = [8 if reached is None else reached for reached in expected]
    assert list(record.reached) == expected
    assert sorted(expected) == [2, 2, 5, 8]
    # The scores are the judge's: every candidate's files are its best judged image (after one of its
    # rounds, or a finisher's at the end), and the judge job scores them (unrounded) as the race did.
    assert len(record.kept) == 4
    for k, reached in enumerate(record.reached):
        assert len(records[k].search.history["loss_best"]) == reached
        assert record.kept_at(k) in (*[t for t, row in zip(record.rounds, record.scores) if row[k] is not None], 8)
        assert record.kept_at(k) <= reached
        judged = round(verdicts[k].judge_similarity, DIGITS)
        assert judged >= max(row[k] for row in record.scores if row[k] is not None), "its best judged image"
        if record.kept_at(k) < 8:
            assert judged == record.scores[record.rounds.index(record.kept_at(k))][k]
        assert from_race[k] == verdicts[k], "the race's verdict is the judge job's"


def test_a_raced_candidate_is_the_same_search_as_alone(raced, generator, clip):
    """Bit for bit: candidate k run alone for the iterations after which its kept image was judged (the
    candidates of a race run one after the other, never batched together, on the CPU): candidate 0 is the plain search
    of its seed; candidate k > 0 is its seed's search from the k-th draw of candidate 0's pool (chosen by class)."""
    config, out, files, records, _, _ = raced
    with deterministic(1):  # as the job searched (one thread)
        alone = searched_alone(config, records, generator, clip)
    for k, record in enumerate(records):
        assert np.array_equal(alone[k].noise, record.noise), k
        assert np.array_equal(alone[k].class_vector, record.class_vector), k
        assert alone[k].loss == record.search.loss, k
        assert alone[k].start_loss == record.search.start_loss, k
    starts = {record.search.start_loss for record in records}
    assert len(starts) == 4 and min(starts) == records[0].search.start_loss, "candidate 0 has the best draw"


def searched_alone(config, records, generator, clip, own_starts: int = 0) -> list:
    """Each raced candidate searched alone for the iterations its kept image was judged after: candidate 0
    and candidates 1 … `own_starts` as plain searches (from their own draws), candidate k > own_starts
    from the (k − own_starts)-th draw of candidate 0's pool (chosen by class)."""
    parts = [("a storm at sea", 1.0)]
    settings = SearchSettings.from_config(config)
    objective = Objective(generator, clip, parts, settings)
    pooled = len(records) - 1 - own_starts
    pool = SearchState.fresh(records[0].seed, objective, settings, log=lambda m: None, pool=pooled,
                             by_class=True).pool
    assert pool.shape[0] == pooled and len({row.tobytes() for row in pool}) == pooled
    found = []
    for k, record in enumerate(records):
        reached = SearchSettings.from_config(config, {"iterations": record.race.kept_at(k)})
        if k <= own_starts:
            found.append(search_prompt(parts, seed=record.seed, generator=generator, clip=clip, settings=reached))
            continue
        state = SearchState.fresh(record.seed, objective, reached, log=lambda m: None,
                                  start=pool[k - 1 - own_starts])
        advance(state, objective, reached, None, None, lambda m: None)
        found.append(state.result(reached))
    return found


def test_own_starts_the_first_candidates_are_plain_searches_the_others_from_the_pool(tiny_models, tmp_path,
                                                                                    generator, clip):
    """search.race.own_starts: 2 in a race of four: candidates 0, 1 and 2 are each the plain search of its
    seed (from its own draws) for the iterations its kept image was judged after, bit for bit, and
    candidate 3 its seed's search from the first draw of candidate 0's pool (another class's best)."""
    config = race_config(tiny_models, race={**SCHEDULE, "own_starts": 2})
    files = [SearchFiles.of_candidate(tmp_path, k) for k in range(4)]
    search_job(config, text_name="t", index=0, sentence="s", prompt_parts=[["a storm at sea", 1]], seed=11,
               candidates=files, log=lambda m: None)
    records = [Latents.load(f.latents) for f in files]
    assert sorted(records[0].race.reached) == [2, 2, 5, 8]
    with deterministic(1):
        alone = searched_alone(config, records, generator, clip, own_starts=2)
    for k, record in enumerate(records):
        assert np.array_equal(alone[k].noise, record.noise), k
        assert np.array_equal(alone[k].class_vector, record.class_vector), k
        assert alone[k].start_loss == record.search.start_loss, k
    # the plain searches' starts are each their own seed's best draw; the pooled one's is not candidate 0's
    assert len({record.search.start_loss for record in records}) == 4


def test_the_keep_step_keeps_the_best_finisher_and_a_pick_of_a_stopped_one_as_it_stood(raced, tmp_path):
    config, out, files, records, _, _ = raced
    kept = SearchFiles.of_sentence(tmp_path, 0)
    finisher = records[0].race.finishers
    assert len(finisher) == 1
    [choice] = keep_block_job([SentenceKeep(0, files, kept)], log=lambda m: None)
    assert choice.kept == finisher[0] and choice.picked_by == "judge"
    assert Latents.load(kept.latents).race == records[0].race
    stopped = next(k for k, reached in enumerate(records[0].race.reached) if reached == 2)
    messages = []
    keep_block_job([SentenceKeep(0, files, kept, pick=stopped)], log=messages.append)
    assert any(f"candidate {stopped} was stopped by the race after iteration 2: it is kept as it stood then" in m
               for m in messages), messages
    assert np.array_equal(Latents.load(kept.latents).noise, records[stopped].noise)
    assert kept.image.read_bytes() == files[stopped].image.read_bytes()


class FixedJudge:
    """A judge whose scores are given: candidate k scores scores[k] whatever its image."""

    def __init__(self, given):
        self.given = given

    def scores(self, result, seed):
        return {"judge_similarity": self.given[seeds.index(seed)]}

    score_of = staticmethod(lambda scores: scores["judge_similarity"])


seeds = [101, 102, 103, 104]


@pytest.mark.parametrize("augmentation", ["crops", "rich"])
def test_searches_evaluated_together_score_as_each_alone(generator, clip, augmentation):
    """Several searches' populations through the models in one batch (a race's live candidates on a GPU):
    each search's crops come from its own stream as alone, so its losses are its own up to float32
    rounding (the batch's other rows change the order of some sums: within 1e-6 of the loss here)."""
    settings = SearchSettings(population=5, crops=7, augmentation=augmentation, clip_batch=4)
    objective = Objective(generator, clip, [("a fox", 1.0)], settings)
    xs = [torch.randn(n, generator.z_dim + generator.num_classes, generator=torch.Generator().manual_seed(n))
          for n in (5, 3, 6)]
    with deterministic(1), torch.inference_mode():
        alone = [objective(x, torch.Generator().manual_seed(k)) for k, x in enumerate(xs)]
        together = objective.together(xs, [torch.Generator().manual_seed(k) for k in range(len(xs))])
    for one, many in zip(alone, together):
        assert one.loss.shape == many.loss.shape
        torch.testing.assert_close(many.loss, one.loss, rtol=1e-6, atol=0)
        torch.testing.assert_close(many.similarity, one.similarity, rtol=1e-5, atol=1e-6)
    # the streams decide: another search's stream gives another score
    with deterministic(1), torch.inference_mode():
        swapped = objective.together(xs[:2][::-1], [torch.Generator().manual_seed(k) for k in range(2)])
    assert not torch.allclose(swapped[1].loss, alone[0].loss, rtol=1e-4)


def raced_together(config, records, generator, clip, checkpoints=None, race_log=None, log=lambda m: None):
    """The `raced` fixture's race again, as the job races it, but its live candidates' populations
    batched together (as on a GPU)."""
    parts = [("a storm at sea", 1.0)]
    settings = SearchSettings.from_config(config)
    objective = Objective(generator, clip, parts, settings)
    judge = RaceJudge(generator, clip, None, parts, settings, config["judge"]["crops"])
    with deterministic(1):  # as the job searched (one thread)
        runners = start_runners([r.seed for r in records], objective, settings, checkpoints=checkpoints, log=log)
        return race(runners, RaceSchedule.from_config(config), objective, settings, judge=judge, race_log=race_log,
                    together=True, log=log)


def test_a_race_batched_together_is_the_race_run_one_by_one(raced, generator, clip):
    """The same race, its live candidates' populations evaluated together: the same rounds, scores and
    stops. A batched evaluation's losses differ from one by one by float32 rounding (within 1e-6 of
    the loss: the test above); CMA-ES reads only their ranking and a search keeps candidates, not
    computed points, so each candidate's latents are bit for bit those of the race run one by one unless
    a rounding turns a ranking (a near tie), after which that search goes its own way: which is why a
    device keeps one way (on a CPU one by one, `batches_populations`) and a rerun there its bits."""
    config, out, files, records, _, _ = raced
    results, record, _ = raced_together(config, records, generator, clip)
    assert record == records[0].race
    for k, found in enumerate(results):
        assert np.array_equal(found.noise, records[k].noise), k
        assert np.array_equal(found.class_vector, records[k].class_vector), k
        assert found.loss == pytest.approx(records[k].search.loss, rel=1e-6), k
        assert len(found.history) == record.reached[k]
    assert not batches_populations(torch.device("cpu")) and batches_populations(torch.device("cuda"))


def test_a_race_batched_together_stopped_by_slurm_saves_every_candidate_and_resumes_to_the_same_bits(
        raced, generator, clip, tmp_path):
    """SIGTERM (SLURM's time limit) reaches one candidate's checkpoint while the live candidates run
    together: every one of them is saved at that iteration before the job stops, and the rerun from the
    checkpoints and the decided rounds ends with the bits of the race run together uninterrupted."""
    config, out, files, records, _, _ = raced
    key = "key"

    def checkpointers(where):
        return [Checkpointer(where / f"{k}.ckpt", key, every=100) for k in range(len(records))]

    whole, whole_record, _ = raced_together(config, records, generator, clip)
    stopped = checkpointers(tmp_path)
    seen = []

    def signal_in_round_two(line):  # once the first round's survivors are running on together
        seen.append(line)
        if any(m.startswith("race round 1 ") for m in seen) and line.startswith("iteration 4 ("):
            stopped[next(k for k in range(4) if whole_record.reached[k] > 2)].stop_signal = "SIGTERM"

    race_log = RaceLog(tmp_path / "race.json", key)
    with pytest.raises(SearchInterrupted):
        raced_together(config, records, generator, clip, stopped, race_log, log=signal_in_round_two)
    going_on = [k for k in range(4) if whole_record.reached[k] > 2]
    saved = {k: pickle.loads(stopped[k].path.read_bytes())["done"] for k in range(4)}
    assert all(saved[k] == 4 for k in going_on), saved
    assert all(saved[k] == 2 for k in range(4) if k not in going_on), "the stopped ones as they stood"
    resumed, resumed_record, _ = raced_together(config, records, generator, clip, checkpointers(tmp_path), race_log)
    assert resumed_record == whole_record
    for k in range(4):
        assert np.array_equal(resumed[k].noise, whole[k].noise), k
        assert np.array_equal(resumed[k].class_vector, whole[k].class_vector), k
        assert resumed[k].loss == whole[k].loss, k


def test_a_race_decides_on_rounded_scores_the_first_of_equals_going_on(generator, clip):
    settings = SearchSettings(iterations=3, population=4, crops=2)
    objective = Objective(generator, clip, [("a fox", 1.0)], settings)
    runners = [Runner(seed, SearchState.fresh(seed, objective, settings, log=lambda m: None)) for seed in seeds]
    # 0.30004 and 0.29996 are equal to 3 decimals: candidate 1 goes on before 2 although 2 scores higher
    judge = FixedJudge([0.1, 0.29996, 0.30004, 0.2])
    _, record, _ = race(runners, RaceSchedule((1,), (1,)), objective, settings, judge=judge, log=lambda m: None)
    assert record.scores[0] == (0.1, 0.3, 0.3, 0.2)
    assert record.reached == (1, 3, 1, 1)


class RoundJudge:
    """A judge whose scores are given per candidate and judging: candidate k's j-th judging scores
    given[k][j], whatever its image."""

    def __init__(self, given):
        self.given, self.calls = given, {}

    def scores(self, result, seed):
        k = seeds.index(seed)
        self.calls[k] = self.calls.get(k, -1) + 1
        return {"judge_similarity": self.given[k][self.calls[k]]}

    score_of = staticmethod(lambda scores: scores["judge_similarity"])


@pytest.mark.parametrize("at_the_end, kept_after", [(0.55, 2), (0.60004, 4)], ids=["lower", "equal-rounded"])
def test_a_candidate_is_kept_as_its_best_judged_image(generator, clip, at_the_end, kept_after):
    """Round 1 (after iteration 1) keeps candidates 0 and 2, round 2 (after 2) candidate 0, which finishes
    (4 iterations) and is judged again: it is kept as its image after iteration 2 when that scores higher
    (0.6 against 0.55), as its last when the two are equal once rounded (the later of equals); candidate 2
    as its image after iteration 1 (0.45, then 0.3). Each kept image is its search's best after that many
    iterations alone, and the scores returned are the kept images'."""
    settings = SearchSettings(iterations=4, population=4, crops=2)
    objective = Objective(generator, clip, [("a fox", 1.0)], settings)
    with deterministic(1):
        runners = [Runner(seed, SearchState.fresh(seed, objective, settings, log=lambda m: None)) for seed in seeds]
        judge = RoundJudge([[0.5, 0.6, at_the_end], [0.4], [0.45, 0.3], [0.1]])
        results, record, judged = race(runners, RaceSchedule((1, 2), (2, 1)), objective, settings, judge=judge,
                                       log=lambda m: None)
    assert record.reached == (4, 1, 2, 1)
    assert record.kept == (kept_after, 1, 1, 1)
    assert [judged[k]["judge_similarity"] for k in range(4)] == [0.6 if kept_after == 2 else at_the_end, 0.4, 0.45,
                                                                  0.1]
    for k, result in enumerate(results):
        alone = SearchSettings(iterations=record.kept[k], population=4, crops=2)
        with deterministic(1):
            state = SearchState.fresh(seeds[k], objective, alone, log=lambda m: None)
            advance(state, objective, alone, None, None, lambda m: None)
        assert np.array_equal(result.noise, state.result(alone).noise), k
        assert result.loss == state.result(alone).loss and result.iteration == state.result(alone).iteration, k
        assert len(result.history) == record.reached[k], "the history is the whole search's"


@pytest.fixture(scope="module")
def race_job(tiny_models, tmp_path_factory):
    """A race of four candidates sharing a pool of draws, as a job script, and its files when it runs
    uninterrupted."""
    where = tmp_path_factory.mktemp("race-job")
    script = write_search_job(where / "job.py", tiny_models, iterations=30, candidates=4, init_samples=8,
                              race={"rounds": [4, 12], "keep": [2, 1]})
    plain = where / "plain"
    plain.mkdir()
    first = subprocess.run([sys.executable, str(script), str(plain)], capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    return script, plain


def after_round_one(seen, line):
    """Once the first round is decided and a survivor has gone on past it."""
    return "race round 1 " in seen and line.startswith("iteration 9 ")


def before_the_others_start(seen, line):
    """Once candidate 0 is saved at the first round, while candidate 1 (started from the pool) has no
    checkpoint yet."""
    return seen.count("iteration 4 (") == 1 and line.startswith("iteration 2 (")


@pytest.mark.parametrize("kill_when", [after_round_one, before_the_others_start])
def test_a_race_killed_mid_way_resumes_to_the_same_bytes(race_job, tmp_path, kill_when):
    """SIGKILL (no warning) once the first round is decided and a survivor has gone on, or before the
    candidates that start from candidate 0's pool of draws have a checkpoint; the rerun reads the decided
    round, the checkpoints (candidate 0's with its pool) and ends with the same files as an uninterrupted
    race."""
    script, plain = race_job
    killed = tmp_path / "killed"
    killed.mkdir()
    seen = run_until_killed(script, killed, kill_when)
    assert (killed / "c-race.json").is_file() == (kill_when is after_round_one)
    assert not list(killed.glob("*.npz")), "no candidate's files written yet"
    resumed = subprocess.run([sys.executable, str(script), str(killed)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from checkpoint" in resumed.stdout
    if kill_when is after_round_one:
        assert resumed.stdout.count("iteration 1 (cma-es)") == 0, "no candidate started over"
        round_one = [line for line in seen.splitlines() if line.startswith("race round 1 ")]
        assert round_one and round_one[0] in resumed.stdout, "the decided round is read back, as it was"
    else:
        assert "race round 1 " not in seen and resumed.stdout.count("iteration 1 (cma-es)") == 3, \
            "candidate 0 resumed, the others started from its pool"
        assert resumed.stdout.count("initialisation: best") == 0, "no draws scored again"
    names = sorted(p.name for p in plain.iterdir())
    assert names == sorted(p.name for p in killed.iterdir())
    for name in names:
        assert (plain / name).read_bytes() == (killed / name).read_bytes(), name


@pytest.mark.parametrize("race, candidates, message", [
    ({"rounds": [2, 4], "keep": [2, 3]}, 4, "'search.race.keep': round 2 keeps 3 of the 2 candidates it has"),
    ({"rounds": [2], "keep": [4]}, 4, "'search.race.keep': round 1 keeps 4 of the 4 candidates it has"),
    ({"rounds": [2, 8], "keep": [2, 1]}, 4, "'search.race.rounds': a round after iteration 8, but the search runs "
                                            "search.iterations = 8"),
    ({"rounds": [2], "keep": [1]}, 1, "'search.race': a race needs at least two candidates"),
    ({"rounds": [4, 2], "keep": [2, 1]}, 4, "'search.race.rounds': \\[4, 2\\] must rise"),
    ({"rounds": [2, 4], "keep": [1]}, 4, "'search.race.keep': one count per round"),
    ({"rounds": [0], "keep": [1]}, 4, "'search.race.rounds': \\[0\\] is not a list of whole numbers from 1"),
    ({"rounds": [2]}, 4, "'search.race': a mapping of rounds"),
    ({"rounds": [2], "keep": [1], "init_samples": 2}, 4,
     "'search.init_samples': 3 of the 4 raced candidates start from the best of the first one's 2 \\+ 1 draws "
     "\\(1 for it, one for each other\\): it needs at least 3"),
    ({"rounds": [2], "keep": [1], "own_starts": 4}, 4,
     "'search.race.own_starts': 4 candidates after the first start from draws of their own, but the race has 4"),
    ({"rounds": [2], "keep": [1], "own_starts": -1}, 4, "'search.race.own_starts': -1 is not a whole number from 0"),
    ({"rounds": [2], "keep": [1], "own_starts": True}, 4, "'search.race.own_starts': True is not a whole number"),
    ({"rounds": [2], "keep": [1], "owns": 1}, 4, "'search.race': a mapping of rounds"),
], ids=["keeps-more-than-it-has", "keeps-all", "past-iterations", "one-candidate", "falling", "counts",
        "zero", "no-keep", "pool-too-small", "own-starts-past-the-count", "own-starts-negative", "own-starts-bool",
        "unknown-key"])
def test_bad_schedules_fail_at_parse_time_naming_the_key(tiny_models, race, candidates, message):
    search = {"init_samples": race.pop("init_samples")} if "init_samples" in race else {}
    config = race_config(tiny_models, race=race, candidates=candidates, **search)
    with pytest.raises(ConfigError, match=message):
        check_settings(config)


def test_the_search_jobs_time_follows_the_race(tiny_models):
    """In whole searches: K = 8 raced [2, 6] keeping [3, 1] over 20 iterations with starts of 17 draws and
    populations of 6 is one start of 17 (the others one evaluation of a draw of its pool), 8 × 2 + 3 × 4 +
    1 × 14 generations, against one search's start and 20; without a pool (no draws to share), 8 starts
    of one draw."""
    config = race_config(tiny_models, candidates=8, iterations=20, init_samples=16,
                         race={"rounds": [2, 6], "keep": [3, 1]})
    generations = 6 * (8 * 2 + 3 * 4 + 1 * 14)
    assert search_work(config) == pytest.approx((17 + 7 * 1 + generations) / (17 + 6 * 20))
    # two candidates from draws of their own (search.race.own_starts): two more starts of 17 draws
    config["search"]["race"]["own_starts"] = 2
    assert search_work(config) == pytest.approx((3 * 17 + 5 * 1 + generations) / (17 + 6 * 20))
    config["search"]["race"]["own_starts"] = 0
    config["search"]["init_samples"] = 0
    assert search_work(config) == pytest.approx((8 * 1 + generations) / (1 + 6 * 20))
    config["search"]["race"] = None
    assert search_work(config) == 8


def test_in_a_race_the_judge_and_the_count_decide_what_is_searched(tmp_path, tiny_models):
    """A `judge:` change re-judges plain candidates and searches nothing, but races again; so does a
    change of search.candidates (the plain candidates' search params hold the count too, for the files)."""
    from machine_imagination.pipeline import Block, TextJobs
    from machine_imagination.project import resolve_project

    (tmp_path / "t.txt").write_text("A storm at sea. A fox at dawn.\n")

    def search_params(**changes):
        config = race_config(tiny_models, **changes.pop("search", {}))
        config["texts"] = {"t": str(tmp_path / "t.txt")}
        config["judge"].update(changes.pop("judge", {}))
        project = resolve_project(config, models=False)
        return TextJobs("t", project.config, project.prompts["t"]).search_params(Block(0, 1))

    raced = search_params()
    assert raced != search_params(judge={"crops": 5})
    # own starts race again; none said is none (the races before the setting keep their results)
    assert raced != search_params(search={"race": {**SCHEDULE, "own_starts": 1}})
    assert raced == search_params(search={"race": {**SCHEDULE, "own_starts": 0}})
    assert search_params(judge={"crops": 5}) == search_params(judge={"crops": 5})
    assert raced != search_params(search={"candidates": 5})
    plain = search_params(search={"race": None})
    assert plain == search_params(search={"race": None}, judge={"crops": 5})
