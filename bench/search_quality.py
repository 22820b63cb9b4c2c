"""Search quality in the shapes world: does the search find what the prompt says?

    python bench/search_quality.py                        # every setting, 48 held-out prompts
    python bench/search_quality.py --settings sampled-cma-es --prompts 12
    python bench/search_quality.py --candidates 8          # the demo's search, K = 1, 2, 4, 8 plain candidates
    python bench/search_quality.py --candidates 8 --judge models/shapes/clip-judge   # … judged as the demo
    python bench/search_quality.py --race-trace 8 --judge models/shapes/clip-judge --init-samples 48
    python bench/search_quality.py --race 1 4 --keep 3 2 --candidates 5 --plain 3 --judge models/shapes/clip-judge
                                                           # the demo's race beside plain K = 1, 2, 3

The shipped shapes models (models/shapes, trained here) are searched with the project's real
`search_prompt` for each held-out prompt (`shapes.benchmark_prompts`: never a training caption) and
each setting below; the pixel judge (`shapes.judge_image`, no learned model) then reads shape,
colour, size and position from the result. Reports the success rate per attribute and for the whole
prompt, the mean time per search, and how well CLIP's similarity predicts the judge's verdict (the
area under the ROC curve: 0.5 = no better than chance). A random-image control (a random class and
noise, no search) is scored the same way. Writes JSON and a grid image; numbers go to docs/quality.md.

With --candidates K, each prompt of the demo setting is searched K times (search.candidates: the seeds
of `candidate_seed`) and the kept candidate is picked as the pipeline picks it (`Candidates.among`: the
best held-out judge score), and, as a control, by the optimisation loss; reported for K = 1, 2, 4, …
up to K (the first K candidates), with the seconds per sentence (searches and judging). It also times
the objective on one population against K populations in one batch, per candidate.

With --race ROUNDS --keep COUNTS, each prompt is searched as the pipeline races its candidates
(search.race: `search.race.race`, the judge CLIP deciding on rounded scores), and, in the same run and
on the same prompt just before it, `--plain P` plain candidates of the demo setting (the first P of
--candidates K, judged as the pipeline judges them): the race's prompts right and seconds per sentence
beside one take's (the plain candidate 0) and those of the best of 2 … P plain candidates.

With --race-trace K, each prompt's K candidates are searched whole, judged (as a race judges them:
rounded, from the candidate's seed) and read by the pixel judge after each of the iterations
--trace-at, with the seconds of each part: `simulate_race` then tells what any schedule of up to K
candidates with rounds among those iterations would give (a raced candidate is the same search as
alone: tests/test_race.py), to choose the schedule that --race then measures. The traced images'
latents are saved beside the trace (.npz), so that `--rejudge-trace TRACE --judge DIR --out F` gives
the trace another judge CLIP would have given in minutes, without searching again:

    python bench/search_quality.py --rejudge-trace bench/results/race_trace-S.json --judge DIR --out F

`--simulate` keeps a raced candidate as the pipeline does, as its best judged image (`--kept last`: as its
last image, the races before that); `--count-on OTHERS` counts the schedules chosen on the --simulate
traces on other seeds' traces:

    python bench/search_quality.py --simulate A.json B.json --count-on C.json D.json --max-ratio 2.5

With `--own` (a --race-trace without --pool beside each pooled one, of the same seed) races whose
candidates 1 … N start from draws of their own (search.race.own_starts, `--own-starts N` with --race)
are simulated too.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from bench_json import write_json  # noqa: E402

from machine_imagination.models.clip import load_clip  # noqa: E402
from machine_imagination.models.device import PRECISIONS, deterministic  # noqa: E402
from machine_imagination.models.generator import load_generator  # noqa: E402
from machine_imagination.latents import Candidates, Latents, SearchOutcome  # noqa: E402
from machine_imagination.search.candidates import candidate_seed  # noqa: E402
from machine_imagination.search.judge import judge  # noqa: E402
from machine_imagination.search.loop import advance, search_prompt  # noqa: E402
from machine_imagination.search.race import (  # noqa: E402
    DIGITS, Judged, RaceJudge, RaceSchedule, batches_populations, race, shares_starts, start_runners)
from machine_imagination.search.state import SearchState  # noqa: E402
from machine_imagination.search.objective import Objective  # noqa: E402
from machine_imagination.search.settings import SearchSettings  # noqa: E402
from machine_imagination.search.starts import truncated_noise  # noqa: E402
from machine_imagination.worlds import shapes  # noqa: E402
from machine_imagination.worlds.shapes_training import CLIP_DIR, GENERATOR_DIR  # noqa: E402

# The searches' common ground: small enough for ~seconds on 2 CPU cores. Each setting changes a few
# of these. "plain" starts as the notebook does (CMA-ES mean at zero noise and a random mix of all
# classes; a random draw for Adam); "sampled" scores `init_samples` random draws of a noise vector and
# one class first and starts from the best (FuseDream).
BASE = SearchSettings(iterations=20, terminal_iterations=10, population=24, crops=8, generator_batch=64,
                      clip_batch=256, learning_rate=0.05)
JUDGE_CROPS = 16  # the judge's views of each candidate (judge.crops), as the demo's
# The demo's start (config/demo.yaml); without the class-entropy pull, which at the notebook's strength
# (100 x 1e-4 of the term) lost 5 of 192 searches here over four seeds (docs/quality.md).
SAMPLED = {"init_samples": 192, "initial_class": "random-class", "class_entropy": 0.0}
SETTINGS = {
    "plain-cma-es": {},
    "plain-adam": {"optimizer": "adam", "iterations": 30},
    "plain-cma-es-terminal-adam": {"optimizer": "cma-es-terminal-adam"},
    "sampled-cma-es": SAMPLED,
    "sampled-adam": {**SAMPLED, "optimizer": "adam", "iterations": 30},
    "sampled-cma-es-terminal-adam": {**SAMPLED, "optimizer": "cma-es-terminal-adam"},
}
SETTINGS.update({f"{name}-rich": {**values, "augmentation": "rich"} for name, values in list(SETTINGS.items())})
CONTROL = "random-image"


def settings_for(name: str) -> SearchSettings:
    return replace(BASE, **SETTINGS[name])


def auc(scores, labels) -> float:
    """Probability that a success scores higher than a failure (ties count half); NaN if one is empty."""
    scores, labels = np.asarray(scores), np.asarray(labels, dtype=bool)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def run_setting(name, prompts, generator, clip, seed, log, **overrides):
    """Search each prompt with a setting (`overrides`: other search settings, e.g. precision) and judge
    the result; CLIP's similarity of the result is scored again in fp32 on the whole image."""
    import torch

    rows = []
    settings = replace(settings_for(name) if name != CONTROL else BASE, **overrides)
    for k, wanted in enumerate(prompts):
        text = wanted.text()
        start = time.perf_counter()
        if name == CONTROL:
            rng = np.random.default_rng(seed + k)
            noise = truncated_noise(rng, 1, generator.z_dim, 1.0)
            logits = np.full((1, generator.num_classes), -30.0)
            logits[0, rng.integers(generator.num_classes)] = 0.0
            x = np.concatenate([noise, logits], axis=1)
        else:
            result = search_prompt(text, seed=seed + k, generator=generator, clip=clip, settings=settings)
            x = np.concatenate([result.noise, result.class_vector])[None]
        elapsed = time.perf_counter() - start
        with torch.inference_mode():
            tensor = torch.as_tensor(x, dtype=torch.float32, device=generator.device)
            image = generator.render(tensor[:, :generator.z_dim], tensor[:, generator.z_dim:], settings.truncation)
            similarity = float(clip.encode_images(image) @ clip.encode_text([text])[0])
        image8 = shapes.to_uint8(image.cpu())[0]
        rows.append({"prompt": text, "seed": seed + k, "seconds": elapsed, "clip_similarity": similarity,
                     **shapes.judge_prompt(image8, wanted), "image": image8})
        log(f"{name}: {k + 1}/{len(prompts)} {text!r}: {'right' if rows[-1]['all'] else 'wrong'} "
            f"(similarity {similarity:.3f}, {elapsed:.1f} s)")
    return rows


def summarise(rows) -> dict:
    out = {"prompts": len(rows), "all": float(np.mean([r["all"] for r in rows])),
           "seconds_mean": float(np.mean([r["seconds"] for r in rows])),
           "clip_predicts_judge_auc": auc([r["clip_similarity"] for r in rows], [r["all"] for r in rows])}
    for a in shapes.Description.ATTRIBUTES:
        values = [r[a] for r in rows if a in r]
        out[a] = float(np.mean(values)) if values else float("nan")
    return out


DEMO = "sampled-cma-es"


def run_candidates(prompts, generator, clip, seed: int, count: int, log, judge_clip=None, judge_crops=JUDGE_CROPS,
                   **overrides) -> list:
    """Each prompt searched `count` times with the demo setting, each candidate judged (held-out CLIP
    score, as the pipeline's pick: `judge_clip`'s when given, as judge.model) and read by the pixel judge."""
    import torch

    settings = replace(settings_for(DEMO), **overrides)
    rows = []
    for i, wanted in enumerate(prompts):
        text, candidates = wanted.text(), []
        for k in range(count):
            k_seed = candidate_seed(seed + i, k)
            start = time.perf_counter()
            result = search_prompt(text, seed=k_seed, generator=generator, clip=clip, settings=settings)
            scores = judge(generator, clip, result, [(text, 1.0)], settings, k_seed, crops=judge_crops,
                           judge_clip=judge_clip)
            elapsed = time.perf_counter() - start
            with torch.inference_mode():
                noise, class_vector = torch.as_tensor(result.noise)[None], torch.as_tensor(result.class_vector)[None]
                image = generator.render(noise, class_vector, settings.truncation)
            verdict = shapes.judge_prompt(shapes.to_uint8(image.cpu())[0], wanted)
            candidates.append({"seed": k_seed, "seconds": elapsed, "loss": result.loss,
                               "judge_similarity": scores["judge_similarity"],
                               "judge2_similarity": scores.get("judge2_similarity"), "all": verdict["all"]})
        rows.append({"prompt": text, "candidates": candidates})
        log(f"candidates: {i + 1}/{len(prompts)} {text!r}: " + " ".join("+" if c["all"] else "-" for c in candidates))
    return rows


def candidate_record(c: dict) -> Latents:
    """A benchmark candidate as the pipeline's keep step sees it (its seed, loss and judge scores)."""
    outcome = SearchOutcome(loss=c["loss"], similarity=float("nan"), start_loss=float("nan"), best_iteration=0,
                            optimizer="", initial_class="", clip="", judge_similarity=c["judge_similarity"],
                            judge2_similarity=c.get("judge2_similarity"))
    return Latents(noise=np.zeros(1), class_vector=np.zeros(1), seed=c["seed"], search=outcome)


def summarise_candidates(rows, count: int) -> dict:
    """For K = 1, 2, 4, … count: the share of prompts whose kept candidate is right, picked by the
    judge score (the pipeline: the second CLIP's when there is one), by the guiding CLIP's judge score
    and by the loss (the controls), and the seconds per sentence."""
    table = {}
    k = 1
    while k <= count:
        by_judge, by_clip, by_loss, any_right, seconds = [], [], [], [], []
        for row in rows:
            first = row["candidates"][:k]
            by_judge.append(first[Candidates.among([candidate_record(c) for c in first]).kept]["all"])
            by_clip.append(first[int(np.argmax([c["judge_similarity"] for c in first]))]["all"])
            by_loss.append(first[int(np.argmin([c["loss"] for c in first]))]["all"])
            any_right.append(any(c["all"] for c in first))
            seconds.append(sum(c["seconds"] for c in first))
        table[k] = {"all_by_judge": float(np.mean(by_judge)), "all_by_guiding_clip": float(np.mean(by_clip)),
                    "all_by_loss": float(np.mean(by_loss)),
                    "some_candidate_right": float(np.mean(any_right)), "seconds_per_sentence": float(np.mean(seconds))}
        k *= 2
    return table


def verdict_of(generator, found, wanted, settings) -> bool:
    """The pixel judge's verdict on a search result's image: every word of the prompt true of it."""
    import torch

    with torch.inference_mode():
        noise, class_vector = torch.as_tensor(found.noise)[None], torch.as_tensor(found.class_vector)[None]
        image = generator.render(noise, class_vector, settings.truncation)
    return bool(shapes.judge_prompt(shapes.to_uint8(image.cpu())[0], wanted)["all"])


def run_race_trace(prompts, generator, clip, judge_clip, seed: int, count: int, trace_at: list[int], log,
                   judge_crops=JUDGE_CROPS, pool: str | None = None, **overrides) -> list:
    """Each prompt's `count` candidates searched whole (the demo setting with `overrides`), each one's best
    image so far judged as a race judges it (rounded) and read by the pixel judge after each iteration
    of `trace_at` and at the end; the seconds of its start, of each iteration and of each judging.
    With a `pool`, the candidates share one pool of draws: candidate 0 is the plain take (its start scores
    init_samples draws), candidate k > 0 starts from that pool's (k + 1)-th best draw ('rank'), or the
    k-th `pool_by_class` chooses ('class'), instead of scoring draws of its own (its start: one
    evaluation). Returns the rows and, for `rejudge_trace`, each traced
    image's latents: {'noise', 'class_vector'}, arrays [prompt, candidate, trace point, ...], the points in
    the rows' order."""
    from machine_imagination.search.objective import Objective

    settings = replace(settings_for(DEMO), **overrides)
    rows, latents = [], {"noise": [], "class_vector": []}
    for i, wanted in enumerate(prompts):
        text = wanted.text()
        objective = Objective(generator, clip, [(text, 1.0)], settings)
        judge = RaceJudge(generator, clip, judge_clip, [(text, 1.0)], settings, judge_crops)
        candidates, shared = [], None
        for k in range(count):
            # 1. the start, then the search an iteration at a time (the same search: search.loop.advance);
            #    with a pool, candidate 0 keeps the next `count - 1` best of its draws for the others
            k_seed = candidate_seed(seed + i, k)
            began = time.perf_counter()
            if pool and k == 0:
                state = SearchState.fresh(k_seed, objective, settings, log=lambda m: None, pool=count - 1,
                                          by_class=pool == "class")
                shared = state.pool
            else:
                state = SearchState.fresh(k_seed, objective, settings, start=None if shared is None else shared[k - 1],
                                          log=lambda m: None)
            start_s, iteration_s, points, judge_s = time.perf_counter() - began, [], {}, []
            for t in range(1, settings.iterations + 1):
                began = time.perf_counter()
                advance(state, objective, settings, t, None, lambda m: None)
                iteration_s.append(time.perf_counter() - began)
                # 2. at a trace point: judged as a race judges, and read by the pixel judge
                if t in trace_at or t == settings.iterations:
                    found = state.result(settings)
                    began = time.perf_counter()
                    score = judge.score_of(judge.scores(found, k_seed))
                    judge_s.append(time.perf_counter() - began)
                    points[t] = {**judged_point(score), "all": verdict_of(generator, found, wanted, settings)}
                    latents["noise"].append(found.noise)
                    latents["class_vector"].append(found.class_vector)
            candidates.append({"seed": k_seed, "start_s": start_s, "iteration_s": iteration_s,
                               "judge_s": float(np.mean(judge_s)), "points": points})
        rows.append({"prompt": text, "candidates": candidates})
        log(f"race trace: {i + 1}/{len(prompts)} {text!r}: "
            + " ".join("+" if c["points"][settings.iterations]["all"] else "-" for c in candidates))
    points = len(rows[0]["candidates"][0]["points"]) if rows else 0
    return rows, {name: np.asarray(values).reshape(len(rows), count, points, -1) for name, values in latents.items()}


def judged_point(score: float) -> dict:
    """A trace point's judge score, and the score rounded as a race decides on it."""
    return {"score": score, "rounded": round(score, DIGITS)}


def rejudge_trace(trace_path: Path, generator, clip, judge_clip, log) -> dict:
    """A --race-trace run (`trace_path` and the latents beside it) with every traced image judged again by
    `judge_clip`, as a race judges (rounded, from the candidate's seed), without searching: the trace that
    run would have written with that judge (the pixel judge's verdicts and the seconds are the search's,
    kept), for --simulate."""
    trace, saved = json.loads(trace_path.read_text()), trace_path.with_suffix(".npz")
    if not saved.is_file():
        raise SystemExit(f"--rejudge-trace: {trace_path} has no latents beside it ({saved.name}); "
                         "only traces written with them can be judged again")
    with np.load(saved) as arrays:  # each read of an .npz member decompresses it again: read them once
        noise, class_vector = arrays["noise"], arrays["class_vector"]
    settings = SearchSettings(**{k: v for k, v in trace["settings"].items() if k != "judge_crops"})
    crops = trace["settings"]["judge_crops"]
    for r, row in enumerate(trace["results"]):
        judge = RaceJudge(generator, clip, judge_clip, [(row["prompt"], 1.0)], settings, crops)
        for k, candidate in enumerate(row["candidates"]):
            for p, point in enumerate(candidate["points"].values()):
                image = SimpleNamespace(noise=noise[r, k, p], class_vector=class_vector[r, k, p])
                point.update(judged_point(judge.score_of(judge.scores(image, candidate["seed"]))))
        log(f"rejudged: {r + 1}/{len(trace['results'])} {row['prompt']!r}")
    return {**trace, "rejudged": {"trace": str(trace_path), "judge": trace["judge"]}}


def simulate_race(rows, schedule: RaceSchedule | None, count: int, iterations: int, pool: bool = False,
                  kept: str = "judged", own_starts: int = 0) -> dict:
    """What a race of the first `count` traced candidates by `schedule` gives (None: plain candidates,
    every one finished and the best final judge score kept): prompts right, and the seconds per sentence
    the traced parts add up to (starts, iterations run, judgings, each at its median), against one
    take's (a start, every iteration, one judging). With `pool` (a trace of candidates sharing one pool
    of draws), the first candidate's start is one take's and the others' starts are theirs. A raced
    candidate is kept as its best judged image (`kept` 'judged', as search.race.race keeps it: the
    highest rounded score of its rounds' images and, a finisher, its last, the later of equals; every
    finisher judged at the end), or as its last image ('last': the races before that, a lone finisher
    not judged). With `own_starts` N (rows with own-start traces beside them: load_traces), candidates 1 … N
    are the own-start trace's (each from draws of its own, a start like the first's, as search.race starts
    them) and the pooled ones come after them."""
    rows = [{**row, "candidates": racing(row, count, own_starts)} for row in rows]
    # the parts' median seconds over every traced candidate (robust to a busy moment of the machine)
    every = [c for row in rows for c in row["candidates"]]
    start_s = float(np.median([c["start_s"] for c in every]))
    first_s, other_s = start_s, start_s
    if pool:
        first_s = float(np.median([c["start_s"] for row in rows for c in row["candidates"][:1 + own_starts]]))
        other_s = float(np.median([c["start_s"] for row in rows for c in row["candidates"][1 + own_starts:]]
                                  or [first_s]))
    iteration_s = float(np.median([t for c in every for t in c["iteration_s"]]))
    judge_s = float(np.median([c["judge_s"] for c in every]))
    one = first_s + iterations * iteration_s + judge_s
    right, seconds = [], []
    for row in rows:
        candidates = row["candidates"][:count]
        live, judged = list(range(count)), 0
        reached, best = [iterations] * count, {}  # best: each candidate's best judged point (race.Judged)
        for until, going_on in (zip(schedule.rounds, schedule.keep) if schedule else []):
            judged += len(live)
            for k in live:  # the race's rule (Judged.better) on the traced points: no latents needed
                best[k] = traced_point(candidates[k], until).better(best.get(k))
            going = sorted(live, key=lambda k: (-candidates[k]["points"][until]["rounded"], k))[:going_on]
            for k in set(live) - set(going):
                reached[k] = until
            live = going
        if schedule and kept == "judged":
            for k in live:
                best[k] = traced_point(candidates[k], iterations).better(best.get(k))
            judged += len(live)
            at = {k: best[k].after for k in live}
        else:
            at = {k: iterations for k in live}
            judged += len(live) if len(live) > 1 else 0
        chosen = max(live, key=lambda k: (candidates[k]["points"][at[k]]["score"], -k))
        right.append(candidates[chosen]["points"][at[chosen]]["all"])
        seconds.append((1 + own_starts) * first_s + (count - 1 - own_starts) * other_s + sum(reached) * iteration_s
                       + (judged or count) * judge_s)
    return {"right": int(np.sum(right)), "prompts": len(rows), "seconds_per_sentence": float(np.mean(seconds)),
            "ratio_to_one_take": float(np.mean(seconds) / one)}


def racing(row: dict, count: int, own_starts: int = 0) -> list:
    """A traced prompt's first `count` candidates as a race with `own_starts` starts them: candidate 0,
    then candidates 1 … own_starts of the own-start trace beside it (its candidate 0 is the same search),
    then the pooled ones. The pooled candidates' searches are then the trace's candidates 1, 2, … with
    their seeds, where search.race gives them the seeds of their places (the same pool draws, other
    seeds: the same kind of search, not the same one)."""
    if own_starts and len(row.get("own", ())) <= own_starts:
        raise ValueError(f"{own_starts} own starts simulated, but the own-start trace has "
                         f"{len(row.get('own', ())) - 1} (--own)")
    own = row["own"][1:1 + own_starts] if own_starts else []
    return [row["candidates"][0], *own, *row["candidates"][1:count - own_starts]]


def traced_point(candidate: dict, after: int) -> Judged:
    """A traced candidate's point after iteration `after` as the race judges it (its image's latents are
    not in the trace: `best` is None)."""
    point = candidate["points"][after]
    return Judged(after=after, best=None, scores={"judge_similarity": point["score"]}, rounded=point["rounded"])


def run_race(prompts, generator, clip, judge_clip, seed: int, count: int, schedule: RaceSchedule, plain: int, log,
             judge_crops=JUDGE_CROPS, precision="fp32", together=None, **overrides) -> list:
    """Each prompt: `plain` plain candidates of the demo setting (searched whole and judged, as the
    pipeline's plain candidates: run_candidates), then its `count` candidates (the demo setting with
    `overrides`) started and raced by `schedule` as the pipeline races them (`search.race`), timed; the kept
    candidate (the best finisher by its kept image's judge score) read by the pixel judge. `together`: the race's
    live candidates' populations batched (None: as the pipeline does on this device)."""
    from machine_imagination.search.objective import Objective

    settings = replace(settings_for(DEMO), precision=precision, **overrides)
    rows = []
    for i, wanted in enumerate(prompts):
        # 1. the plain candidates, then the race, prompt by prompt (so that a busy moment of the machine
        #    falls on both alike)
        rows += run_candidates([wanted], generator, clip, seed + i, plain, lambda m: None, judge_clip, judge_crops,
                               precision=precision)
        text = wanted.text()
        began = time.perf_counter()
        objective = Objective(generator, clip, [(text, 1.0)], settings)
        judge = RaceJudge(generator, clip, judge_clip, [(text, 1.0)], settings, judge_crops)
        runners = start_runners([candidate_seed(seed + i, k) for k in range(count)], objective, settings,
                                log=lambda m: None, own_starts=schedule.own_starts)
        results, record, judged = race(runners, schedule, objective, settings, judge=judge, together=together,
                                       log=lambda m: None)
        # the best finisher by its kept image's judge score (the race judged it: as the keep step picks)
        kept = max(record.finishers, key=lambda k: (judge.score_of(judged[k]), -k))
        elapsed = time.perf_counter() - began
        rows[i]["race"] = {"seconds": elapsed, "kept": kept, "reached": list(record.reached),
                           "kept_at": list(record.kept),
                           "scores": [list(r) for r in record.scores],
                           "all": verdict_of(generator, results[kept], wanted, settings)}
        log(f"race: {i + 1}/{len(prompts)} {text!r}: {'right' if rows[i]['race']['all'] else 'wrong'} "
            f"({elapsed:.1f} s; plain: " + " ".join("+" if c["all"] else "-" for c in rows[i]["candidates"]) + ")")
    return rows


def summarise_race(rows, plain: int) -> dict:
    """Prompts right and seconds per sentence: the race, and the best of 1 … `plain` plain candidates."""
    out = {}
    for k in range(1, plain + 1):
        kept = [r["candidates"][Candidates.among([candidate_record(c) for c in r["candidates"][:k]]).kept]
                for r in rows]
        out[f"plain-{k}"] = {"right": int(sum(c["all"] for c in kept)),
                             "seconds_per_sentence": float(np.mean([sum(c["seconds"] for c in r["candidates"][:k])
                                                                    for r in rows]))}
    out["race"] = {"right": int(sum(r["race"]["all"] for r in rows)),
                   "seconds_per_sentence": float(np.mean([r["race"]["seconds"] for r in rows]))}
    one = out["plain-1"]["seconds_per_sentence"]
    for values in out.values():
        values["ratio_to_one_take"] = values["seconds_per_sentence"] / one
        values["prompts"] = len(rows)
    return out


def batched_populations(generator, clip, count: int, repeats: int = 5) -> dict:
    """The objective's seconds per candidate on one population and on `count` populations in one batch
    (what batching K candidates' searches together would give)."""
    import torch

    settings = settings_for(DEMO)
    objective = Objective(generator, clip, [("a red circle", 1.0)], settings)
    out = {}
    for populations in (1, count):
        x = torch.randn(settings.population * populations, generator.z_dim + generator.num_classes)
        crop_rng = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            objective(x, crop_rng)  # warm-up
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                objective(x, crop_rng)
                times.append(time.perf_counter() - start)
        out[populations] = float(np.median(times)) / populations
    return {"populations_batched": count, "seconds_one_population": out[1],
            "seconds_batched_per_population": out[count], "speedup": out[1] / out[count]}


def save_grid(results: dict, path: Path, columns: int = 16, scale: int = 1) -> None:
    """One row per setting, one column per prompt (the first `columns`): each result image framed
    green (judged right) or red (wrong)."""
    from PIL import Image

    names = list(results)
    columns = min(columns, len(results[names[0]]))
    cell = shapes.SIDE * scale + 4
    grid = Image.new("RGB", (columns * cell, len(names) * cell), (255, 255, 255))
    for i, name in enumerate(names):
        for j, row in enumerate(results[name][:columns]):
            frame = Image.new("RGB", (cell, cell), (40, 170, 60) if row["all"] else (200, 40, 40))
            frame.paste(Image.fromarray(row["image"]).resize((cell - 4, cell - 4), Image.NEAREST), (2, 2))
            grid.paste(frame, (j * cell, i * cell))
    with_row_labels(grid, names, cell).save(path, optimize=True)


def with_row_labels(grid, names, cell: int):
    """The grid with each row's setting name written to its left."""
    from PIL import Image, ImageDraw

    from machine_imagination.film.captions import load_font

    font = load_font(None, 13)
    width = 8 + max(int(ImageDraw.Draw(grid).textlength(name, font=font)) for name in names)
    labelled = Image.new("RGB", (grid.width + width, grid.height), (255, 255, 255))
    labelled.paste(grid, (width, 0))
    draw = ImageDraw.Draw(labelled)
    for i, name in enumerate(names):
        draw.text((4, i * cell + cell // 2 - 7), name, font=font, fill=(20, 20, 20))
    return labelled


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS) + [CONTROL],
                        help=f"which settings (default: all): {', '.join(list(SETTINGS) + [CONTROL])}")
    parser.add_argument("--prompts", type=int, default=48, help="how many held-out prompts (at most 48)")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (times per search are then the GPU's)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="the searches' precision")
    parser.add_argument("--generator", default=str(ROOT / GENERATOR_DIR))
    parser.add_argument("--clip", default=str(ROOT / CLIP_DIR))
    parser.add_argument("--out", default=str(ROOT / "bench/results/search_quality.json"))
    parser.add_argument("--grid", default=None, help="grid image path (default: next to --out)")
    parser.add_argument("--judge", default=None, help="with --candidates: a second CLIP directory that judges "
                                                     "(as judge.model; default: the guiding CLIP on fresh crops)")
    parser.add_argument("--judge-crops", type=int, default=JUDGE_CROPS,
                        help="with --candidates: the judge's views of each candidate (judge.crops)")
    parser.add_argument("--candidates", type=int, default=0,
                        help="K > 0: the demo setting with K candidates per prompt (default --out: "
                             "bench/results/candidates_quality.json)")
    parser.add_argument("--init-samples", type=int, default=None,
                        help="with --race or --race-trace: each candidate's initial draws (default: the demo's)")
    parser.add_argument("--race-trace", type=int, default=0, metavar="K",
                        help="trace K candidates per prompt for simulate_race (default --out: "
                             "bench/results/race_trace-seed<S>.json)")
    parser.add_argument("--trace-at", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8, 10, 12])
    parser.add_argument("--pool", nargs="?", choices=["rank", "class"], const="rank", default=None,
                        help="with --race-trace: the candidates share one pool of draws (the first one's), "
                             "candidate k starting from its (k + 1)-th best ('rank'), or from the draws "
                             "`pool_by_class` chooses ('class': another class's best, then the best class's "
                             "next); a --race shares one whenever its candidates start from draws, as "
                             "search.race does")
    parser.add_argument("--race", type=int, nargs="+", default=None, metavar="ROUND",
                        help="race --candidates K by rounds after these iterations (search.race.rounds) ...")
    parser.add_argument("--keep", type=int, nargs="+", default=None, help="... keeping these (search.race.keep)")
    parser.add_argument("--plain", type=int, default=3, help="with --race: plain candidates searched beside it")
    parser.add_argument("--together", choices=["yes", "no"], default=None,
                        help="with --race: the live candidates' populations batched through the models (yes) or "
                             "one after another (no); default: as the pipeline chooses for --device")
    parser.add_argument("--simulate", type=Path, nargs="+", default=None, metavar="TRACE",
                        help="race traces (--race-trace's files): every schedule of one or two rounds simulated, "
                             "the best within --max-ratio of one take listed")
    parser.add_argument("--max-ratio", type=float, default=2.5)
    parser.add_argument("--kept", choices=["judged", "last"], default="judged",
                        help="with --simulate: a raced candidate kept as its best judged image (as search.race keeps "
                             "it) or as its last (the races before that)")
    parser.add_argument("--count-on", type=Path, nargs="+", default=None, metavar="TRACE",
                        help="with --simulate: other seeds' traces, on which the schedules chosen on the --simulate "
                             "traces are counted")
    parser.add_argument("--own", type=Path, nargs="+", default=None, metavar="TRACE",
                        help="with --simulate: beside each of its traces (a --pool one), a --race-trace without "
                             "--pool of the same seed: races with candidates from draws of their own are "
                             "simulated too (search.race.own_starts)")
    parser.add_argument("--own-count-on", type=Path, nargs="+", default=None, metavar="TRACE",
                        help="with --count-on: its own-start traces, as --own")
    parser.add_argument("--own-starts", type=int, default=0,
                        help="with --race: candidates 1 … N start from draws of their own (search.race.own_starts)")
    parser.add_argument("--rejudge-trace", type=Path, default=None, metavar="TRACE",
                        help="a --race-trace file judged again by --judge from the images saved beside it, no "
                             "search: writes the trace that judge would have given (--out) for --simulate")
    return parser


def main(argv=None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    import torch

    if args.simulate:
        return main_simulate(args)
    if args.rejudge_trace:
        return main_rejudge_trace(args)
    if args.race_trace or args.race:
        return main_race(args)
    if args.candidates:
        return main_candidates(args)

    unknown = [s for s in args.settings if s not in SETTINGS and s != CONTROL]
    if unknown:
        parser.error(f"unknown setting(s): {', '.join(unknown)}")
    with deterministic(args.threads):  # as the search jobs run: torch on --threads, numpy's BLAS on one
        generator = load_generator(args.generator, args.device)
        clip = load_clip(args.clip, None, args.device)
        prompts = shapes.benchmark_prompts()[: args.prompts]
        results = {name: run_setting(name, prompts, generator, clip, args.seed, print, precision=args.precision)
                   for name in args.settings}
    summary = {name: summarise(rows) for name, rows in results.items()}
    searched = [r for name, rows in results.items() if name != CONTROL for r in rows]
    report = {
        "machine": {"processor": platform.processor() or platform.machine(), "threads": args.threads,
                    "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
                    "torch": torch.__version__},
        "precision": args.precision,
        "base_settings": asdict(BASE),
        "settings": {name: SETTINGS.get(name, "no search: a random class and noise") for name in args.settings},
        "summary": summary,
        "clip_predicts_judge_auc_all_searches": auc([r["clip_similarity"] for r in searched],
                                                    [r["all"] for r in searched]),
        "results": {name: [{k: v for k, v in r.items() if k != "image"} for r in rows]
                    for name, rows in results.items()},
    }
    out = write_json(args.out, report)
    save_grid(results, Path(args.grid) if args.grid else out.with_suffix(".png"))
    header = f"{'setting':34} {'all':>6} " + " ".join(f"{a:>10}" for a in shapes.Description.ATTRIBUTES) \
        + f" {'s/search':>8} {'AUC':>5}"
    print(header)
    for name, s in summary.items():
        print(f"{name:34} {s['all']:6.1%} " + " ".join(f"{s[a]:10.1%}" for a in shapes.Description.ATTRIBUTES)
              + f" {s['seconds_mean']:8.2f} {s['clip_predicts_judge_auc']:5.2f}")
    return report


def load_traces(paths, own_paths=None) -> tuple[list, int, bool]:
    """The traced prompts of every --race-trace file in `paths` (their points keyed by iteration), the
    searches' iterations, and whether the candidates shared a pool (the same for every file). With
    `own_paths` (--own: one trace without a pool per file of `paths`, of the same seed and prompts), each
    prompt's own-start candidates beside its pooled ones (row['own'])."""
    traces = [json.loads(Path(path).read_text()) for path in paths]
    rows = [row for trace in traces for row in trace["results"]]
    if own_paths:
        owns = [json.loads(Path(path).read_text()) for path in own_paths]
        if any(t.get("pool") for t in owns) or not all(t.get("pool") for t in traces) or [
                (t["seed"], t["settings"]) for t in owns] != [(t["seed"], t["settings"]) for t in traces]:
            raise SystemExit("--own: one trace without --pool per --simulate trace (a --pool one), of the same "
                             "seed and settings")
        for row, own in zip(rows, (row for trace in owns for row in trace["results"])):
            if own["prompt"] != row["prompt"] or own["candidates"][0]["seed"] != row["candidates"][0]["seed"]:
                raise SystemExit(f"--own: {own['prompt']!r} beside {row['prompt']!r}: the traces differ")
            row["own"] = own["candidates"]
    for candidate in (c for row in rows for c in [*row["candidates"], *row.get("own", ())]):  # JSON's keys: strings
        candidate["points"] = {int(t): point for t, point in candidate["points"].items()}
    pool = bool(traces[0].get("pool"))
    if any(bool(trace.get("pool")) != pool for trace in traces):
        raise SystemExit("--simulate: traces with and without --pool cannot be simulated together")
    return rows, traces[0]["settings"]["iterations"], pool


def every_schedule(rows, iterations: int, pool: bool, kept: str = "judged") -> dict:
    """Every plain K and every schedule of one or two rounds (among the traced iterations) over every K up
    to the traced count, by name ('plain-K', 'K=.. rounds=[..] keep=[..]', with own-start traces beside
    the rows also every count of own starts: '… own=N'): simulate_race's outcome, each raced candidate
    kept as `kept` says."""
    import itertools

    traced = len(rows[0]["candidates"])
    owned = len(rows[0].get("own", [None])) - 1  # own-start candidates traced after candidate 0
    points = sorted(t for t in rows[0]["candidates"][0]["points"] if t < iterations)
    found = {}
    for count in range(1, traced + 1):
        found[f"plain-{count}"] = simulate_race(rows, None, count, iterations, pool)
        for own in range(min(owned, count - 1) + 1):
            said = f" own={own}" if own else ""
            for rounds in itertools.chain(itertools.combinations(points, 1), itertools.combinations(points, 2)):
                for keep in itertools.combinations(range(count - 1, 0, -1), len(rounds)):
                    schedule = RaceSchedule(tuple(rounds), tuple(keep))
                    found[f"K={count} rounds={list(rounds)} keep={list(keep)}{said}"] = simulate_race(
                        rows, schedule, count, iterations, pool, kept, own)
    return found


def main_simulate(args) -> dict:
    """Every schedule simulated on the traces of every seed given (--simulate); the best within
    --max-ratio of one take listed, and with --count-on, what those very schedules give on other seeds'
    traces (chosen on some seeds, counted on others)."""
    # 1. every schedule on the seeds it is chosen on
    if bool(args.own) != bool(args.own_count_on) and args.count_on:
        raise SystemExit("--own and --own-count-on go together: the races with own starts are counted on both")
    rows, iterations, pool = load_traces(args.simulate, args.own)
    found = every_schedule(rows, iterations, pool, args.kept)
    # 2. the same schedules on the seeds they are counted on
    counted, held = {}, []
    if args.count_on:
        held, held_iterations, held_pool = load_traces(args.count_on, args.own_count_on)
        if (held_iterations, held_pool) != (iterations, pool):
            raise SystemExit("--count-on: its traces must be searched as the --simulate ones (iterations, pool)")
        counted = every_schedule(held, iterations, pool, args.kept)
    # 3. the best within --max-ratio where chosen, beside their count where not
    best = sorted((v["right"], -v["ratio_to_one_take"], name) for name, v in found.items()
                  if v["ratio_to_one_take"] <= args.max_ratio)[::-1]
    plain = [f"plain-{count}" for count in range(1, len(rows[0]["candidates"]) + 1)]
    for name in [name for _, _, name in best[:25]] + plain:
        line = f"{name:40} {found[name]['right']:3} of {len(rows)}  {found[name]['ratio_to_one_take']:.2f} x one take"
        if counted:
            other = counted[name]
            line += f"   counted on: {other['right']:3} of {len(held)}  {other['ratio_to_one_take']:.2f} x"
        print(line)
    return {"chosen_on": found, "counted_on": counted} if counted else found


def load_models(args):
    """The generator, the guiding CLIP and the judge CLIP (None without --judge) the arguments name."""
    generator = load_generator(args.generator, args.device)
    clip = load_clip(args.clip, None, args.device)
    return generator, clip, load_clip(args.judge, None, args.device) if args.judge else None


def main_rejudge_trace(args) -> dict:
    if args.out == str(ROOT / "bench/results/search_quality.json"):
        raise SystemExit("--rejudge-trace: say where the rejudged trace goes (--out)")
    with deterministic(args.threads):
        generator, clip, judge_clip = load_models(args)
        trace = rejudge_trace(args.rejudge_trace, generator, clip, judge_clip, print)
    trace["judge"] = args.judge
    write_json(Path(args.out), trace)
    return trace


def main_race(args) -> dict:
    import torch

    overrides = {} if args.init_samples is None else {"init_samples": args.init_samples}
    settings = replace(settings_for(DEMO), precision=args.precision, **overrides)
    schedule = None
    if args.race:
        schedule = RaceSchedule(tuple(args.race), tuple(args.keep or []), args.own_starts)
        schedule.check(args.candidates, settings.iterations, settings.init_samples, settings.init_top)
    together = batches_populations(torch.device(args.device)) if args.together is None else args.together == "yes"
    with deterministic(args.threads):
        generator, clip, judge_clip = load_models(args)
        prompts = shapes.benchmark_prompts()[: args.prompts]
        latents = None
        if schedule is None:
            rows, latents = run_race_trace(prompts, generator, clip, judge_clip, args.seed, args.race_trace,
                                           args.trace_at, print, args.judge_crops, args.pool,
                                           precision=args.precision, **overrides)
        else:
            rows = run_race(prompts, generator, clip, judge_clip, args.seed, args.candidates, schedule, args.plain,
                            print, args.judge_crops, precision=args.precision, together=together, **overrides)
    report = {
        "machine": {"processor": platform.processor() or platform.machine(), "threads": args.threads,
                    "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
                    "torch": torch.__version__},
        "setting": DEMO, "judge": args.judge, "seed": args.seed,
        "pool": bool(args.pool) if schedule is None else shares_starts(settings.init_samples),
        "pool_rule": args.pool if schedule is None else "class",  # a race chooses its pool by class (start_runners)
        "settings": {**asdict(settings), "judge_crops": args.judge_crops},  # the raced (traced) candidates'
        "race": None if schedule is None else {**asdict(schedule), "candidates": args.candidates,
                                               "together": together},
        "summary": None if schedule is None else summarise_race(rows, args.plain),
        "results": rows,
    }
    default = (f"bench/results/race_trace-seed{args.seed}.json" if schedule is None
               else f"bench/results/race_quality-seed{args.seed}.json")
    out = Path(args.out if args.out != str(ROOT / "bench/results/search_quality.json") else ROOT / default)
    write_json(out, report)
    if latents is not None:  # the traced images, for --rejudge-trace
        np.savez_compressed(out.with_suffix(".npz"), **latents)
    for name, values in (report["summary"] or {}).items():
        print(f"{name:10} {values['right']:3} of {values['prompts']}  {values['seconds_per_sentence']:6.2f} s per "
              f"sentence  {values['ratio_to_one_take']:.2f} x one take")
    return report


def main_candidates(args) -> dict:
    import torch

    with deterministic(args.threads):
        generator, clip, judge_clip = load_models(args)
        prompts = shapes.benchmark_prompts()[: args.prompts]
        rows = run_candidates(prompts, generator, clip, args.seed, args.candidates, print, judge_clip,
                              precision=args.precision, judge_crops=args.judge_crops)
        batching = batched_populations(generator, clip, args.candidates)
    table = summarise_candidates(rows, args.candidates)
    report = {
        "machine": {"processor": platform.processor() or platform.machine(), "threads": args.threads,
                    "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
                    "torch": torch.__version__},
        "precision": args.precision, "setting": DEMO, "judge": args.judge,
        "settings": {**asdict(replace(settings_for(DEMO), precision=args.precision)), "judge_crops": args.judge_crops},
        "candidates": table, "batching": batching, "results": rows,
    }
    out = Path(args.out if args.out != str(ROOT / "bench/results/search_quality.json")
               else ROOT / "bench/results/candidates_quality.json")
    write_json(out, report)
    print(f"{'K':>3} {'by judge':>9} {'by CLIP':>8} {'by loss':>8} {'any right':>9} {'s/sentence':>10}")
    for k, t in table.items():
        print(f"{k:>3} {t['all_by_judge']:9.1%} {t['all_by_guiding_clip']:8.1%} {t['all_by_loss']:8.1%} "
              f"{t['some_candidate_right']:9.1%} {t['seconds_per_sentence']:10.2f}")
    print(f"objective, s per population: {batching['seconds_one_population']:.3f} alone, "
          f"{batching['seconds_batched_per_population']:.3f} with {args.candidates} in one batch")
    return report


if __name__ == "__main__":
    main()
