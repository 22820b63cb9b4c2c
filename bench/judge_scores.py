"""Which score picks the right candidate? The shapes world's 48 held-out prompts, each searched K times
with the demo's setting (the candidates' seeds of `candidate_seed`, as search.candidates makes them),
every candidate's image scored several ways and read by the pixel judge; then, for each K from 1 up,
how many prompts the candidate picked by each score gets fully right.

    .venv/bin/python bench/judge_scores.py --candidates 8 --judge seed1=DIR     # about 23 min on 2 cores
    .venv/bin/python bench/judge_scores.py --rescore --judge seed2=DIR2         # score the same images again
    .venv/bin/python bench/judge_scores.py --judge-views 16 32 64 128 --mixed-in FILE
        # the pipeline's judge (the judge CLIP on judge.crops jittered views) with more views: FILE is
        # search_quality.py --candidates 8's run of seed S; only its prompts whose candidates disagree are
        # searched again (the others are right or wrong whatever picks); their latents are written beside
        # --out (.npz: noise and class vectors [prompt, candidate, …]), for --rejudge
    .venv/bin/python bench/judge_scores.py --judge-views 16 --rejudge RUN.json --judge-model DIR
        # those candidates judged again by another judge CLIP, without searching (a minute a file)

Scores (higher is better), for the guiding CLIP (no prefix) and for each --judge NAME=DIR (a second
shapes CLIP, e.g. `worlds.shapes_training.train_clip(DIR, seed=1)`; prefix NAME_):
  similarity      the whole image's cosine similarity to the prompt (the pipeline's judge score at 64 px,
                  where CLIP sees the whole image and crops do not vary)
  views           the mean similarity over 16 jittered views: shifted by up to 2 px (edges repeated), with
                  Gaussian pixel noise of 0.02 (what an adversarial detail of one exact image may not survive)
  contrast        the log-probability of the prompt among all 48 held-out prompts (CLIP's softmax at its
                  own temperature): is the image recognised as its prompt rather than another, as a sentence
                  among the text's other sentences
  contrast_views  the same, averaged over the jittered views
and `loss` (minus the optimisation loss, the control); `judges_similarity` is the sum of every --judge's
similarity, and `all_similarity` adds the guiding CLIP's. Writes the JSON (--out) and beside it the
candidates' images (.npz, [prompt, candidate, 64, 64, 3] uint8), which --rescore reads instead of
searching again.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from bench_json import write_json  # noqa: E402

from search_quality import DEMO, candidate_record, settings_for, verdict_of  # noqa: E402

from machine_imagination.models.clip import load_clip  # noqa: E402
from machine_imagination.models.device import deterministic  # noqa: E402
from machine_imagination.models.generator import load_generator  # noqa: E402
from machine_imagination.latents import Candidates  # noqa: E402
from machine_imagination.search.augment import jittered_views  # noqa: E402
from machine_imagination.search.candidates import candidate_seed  # noqa: E402
from machine_imagination.search.judge import judge  # noqa: E402
from machine_imagination.search.loop import search_prompt  # noqa: E402
from machine_imagination.worlds import shapes  # noqa: E402
from machine_imagination.worlds.shapes_training import CLIP_DIR, GENERATOR_DIR  # noqa: E402

KINDS = ("similarity", "views", "contrast", "contrast_views")


def image_scores(clip, image, index: int, text, seed: int, views: int) -> dict:
    """Every kind of score of one image (uint8 [S, S, 3]) for prompt `index` of the prompts whose
    embeddings by `clip` are `text` [prompts, D]."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        scale = float(clip.model.logit_scale.exp())
        whole = clip.encode_images(tensor) @ text.T  # [1, prompts]
        views_of = jittered_views(tensor, views, torch.Generator().manual_seed(seed))  # as the pipeline's judge
        jittered = clip.encode_images(views_of) @ text.T  # [views, prompts]
    return {"similarity": float(whole[0, index]), "views": float(jittered[:, index].mean()),
            "contrast": float(torch.log_softmax(scale * whole, dim=-1)[0, index]),
            "contrast_views": float(torch.log_softmax(scale * jittered, dim=-1)[:, index].mean())}


def search(prompts, generator, clip, seed: int, count: int, log) -> tuple[list, np.ndarray]:
    """Each prompt's `count` candidates: their seeds, seconds, loss and the pixel judge's verdict, and
    their images (uint8 [prompt, candidate, S, S, 3]), as the pipeline's files hold them."""
    import torch

    settings = settings_for(DEMO)
    rows, images = [], np.zeros((len(prompts), count, 64, 64, 3), np.uint8)
    for i, wanted in enumerate(prompts):
        candidates = []
        for k in range(count):
            k_seed = candidate_seed(seed + i, k)
            start = time.perf_counter()
            result = search_prompt(wanted.text(), seed=k_seed, generator=generator, clip=clip, settings=settings)
            noise, class_vector = torch.as_tensor(result.noise)[None], torch.as_tensor(result.class_vector)[None]
            with torch.inference_mode():
                image = generator.render(noise, class_vector, settings.truncation).float()
            images[i, k] = shapes.to_uint8(image.cpu())[0]
            verdict = shapes.judge_prompt(images[i, k], wanted)
            candidates.append({"seed": k_seed, "seconds": time.perf_counter() - start, "loss": -result.loss,
                               "all": bool(verdict["all"])})
        rows.append({"prompt": wanted.text(), "candidates": candidates})
        log(f"{i + 1}/{len(prompts)} {wanted.text()!r}: " + " ".join("+" if c["all"] else "-" for c in candidates))
    return rows, images


def score(rows, images, clips: dict, views: int) -> None:
    """Add every kind of score of every candidate, for each named CLIP ('' = the guiding one), to `rows`."""
    import torch

    with torch.inference_mode():  # every prompt's embedding, once per CLIP
        texts = {name: clip.encode_text([row["prompt"] for row in rows]) for name, clip in clips.items()}
    for i, row in enumerate(rows):
        for k, candidate in enumerate(row["candidates"]):
            for name, clip in clips.items():
                prefix = f"{name}_" if name else ""
                candidate.update({prefix + kind: value for kind, value in
                                  image_scores(clip, images[i, k], i, texts[name], candidate["seed"], views).items()})
        judges = [name for name in clips if name]
        for candidate in row["candidates"]:
            if judges:
                candidate["judges_similarity"] = sum(candidate[f"{name}_similarity"] for name in judges)
                candidate["all_similarity"] = candidate["judges_similarity"] + candidate["similarity"]


def summarise(rows) -> dict:
    """For K = 1 … the candidates' count: how many prompts the candidate with the best of each score
    gets right ('oracle': some candidate is right)."""
    scores = [name for name in rows[0]["candidates"][0] if name not in ("seed", "seconds", "all")]
    table = {}
    for k in range(1, len(rows[0]["candidates"]) + 1):
        picked = {name: sum(row["candidates"][int(np.argmax([c[name] for c in row["candidates"][:k]]))]["all"]
                            for row in rows) for name in scores}
        table[k] = {"oracle": sum(any(c["all"] for c in row["candidates"][:k]) for row in rows), **picked}
    return table


def judged_on_views(generator, clip, judge_clip, found, prompt: str, seed: int, counts: list[int]) -> dict:
    """The pipeline's judge (`search.judge.judge`) of one candidate on each of `counts` views:
    {'views': {n: the judge CLIP's score}, 'guide_views': {n: the guiding CLIP's}}."""
    scores = {n: judge(generator, clip, found, [(prompt, 1.0)], settings_for(DEMO), seed, crops=n, judge_clip=judge_clip)
              for n in counts}
    return {"views": {n: s["judge2_similarity"] for n, s in scores.items()},
            "guide_views": {n: s["judge_similarity"] for n, s in scores.items()}}


def judge_views(mixed_in: Path, counts: list[int], generator, clip, judge_clip, log) -> dict:
    """The prompts of a `search_quality.py --candidates K` run (`mixed_in`, one seed) whose K candidates
    disagree, searched again (the same seeds), each candidate judged by the pipeline's judge
    (`search.judge.judge`, the judge CLIP) on each of `counts` jittered views; for each count and each
    K' <= K, the prompts whose pick (`Candidates.among`, as the keep step) is right, counting the prompts
    where every candidate was right in `mixed_in`; and whether every verdict is the file's. The seed is
    the file's (its first candidate's: `candidate_seed(S, 0)` is S)."""
    earlier = json.loads(mixed_in.read_text())
    seed, settings = earlier["results"][0]["candidates"][0]["seed"], settings_for(DEMO)
    prompts = shapes.benchmark_prompts()
    rows, always, latents = [], 0, {"noise": [], "class_vector": []}
    for i, row in enumerate(earlier["results"]):
        verdicts = [c["all"] for c in row["candidates"]]
        if all(verdicts) or not any(verdicts):
            always += all(verdicts)
            continue
        wanted, candidates = prompts[i], []
        assert wanted.text() == row["prompt"], (i, row["prompt"])
        for k, before in enumerate(row["candidates"]):
            k_seed = candidate_seed(seed + i, k)
            result = search_prompt(row["prompt"], seed=k_seed, generator=generator, clip=clip, settings=settings)
            latents["noise"].append(result.noise)
            latents["class_vector"].append(result.class_vector)
            candidates.append({"seed": k_seed, "loss": result.loss, "all": verdict_of(generator, result, wanted, settings),
                               "all_before": before["all"],
                               **judged_on_views(generator, clip, judge_clip, result, row["prompt"], k_seed, counts)})
        rows.append({"index": i, "prompt": row["prompt"], "candidates": candidates})
        log(f"{i + 1}/{len(earlier['results'])} {row['prompt']!r}: " + " ".join("+" if c["all"] else "-" for c in candidates))
    right = views_right(rows, counts, always, len(earlier["results"][0]["candidates"]))
    count = len(earlier["results"][0]["candidates"])
    found = {name: np.asarray(arrays).reshape(len(rows), count, -1) for name, arrays in latents.items()}
    return found, {"seed": seed, "mixed_in": str(mixed_in), "prompts": len(earlier["results"]), "searched": len(rows),
            "always_right": always, "right": right,
            "verdicts_as_before": all(c["all"] == c["all_before"] for r in rows for c in r["candidates"]),
            "results": rows}


def rejudge(earlier_path: Path, counts: list[int], generator, clip, judge_clip, log) -> dict:
    """A `--judge-views` run's candidates (`earlier_path` and the latents beside it) judged again, by
    `judge_clip` on each of `counts` views, without searching: what another judge CLIP would pick."""
    from types import SimpleNamespace

    earlier = json.loads(earlier_path.read_text())
    with np.load(earlier_path.with_suffix(".npz")) as arrays:  # each read of a member decompresses it: once
        noise, class_vector = arrays["noise"], arrays["class_vector"]
    rows = []
    for r, row in enumerate(earlier["results"]):
        candidates = []
        for k, before in enumerate(row["candidates"]):
            latents = SimpleNamespace(noise=noise[r, k], class_vector=class_vector[r, k])
            candidates.append({"seed": before["seed"], "loss": before["loss"], "all": before["all"],
                               **judged_on_views(generator, clip, judge_clip, latents, row["prompt"], before["seed"],
                                                 counts)})
        rows.append({"index": row["index"], "prompt": row["prompt"], "candidates": candidates})
        log(f"{r + 1}/{len(earlier['results'])} {row['prompt']!r}")
    count = len(earlier["results"][0]["candidates"]) if rows else 0
    return {"seed": earlier["seed"], "rejudged": str(earlier_path), "prompts": earlier["prompts"],
            "searched": len(rows), "always_right": earlier["always_right"],
            "right": views_right(rows, counts, earlier["always_right"], count), "results": rows}


def views_right(rows, counts: list[int], always: int, count: int) -> dict:
    """{views: {K: prompts right}}: each row's pick among its first K candidates by the keep step
    (`Candidates.among`) on the judge CLIP's score over that many views, plus `always` prompts right
    whatever is picked."""
    def pick(candidates, n):
        return Candidates.among([candidate_record({**c, "judge_similarity": c["guide_views"][n],
                                                   "judge2_similarity": c["views"][n]}) for c in candidates]).kept

    return {n: {k: always + sum(r["candidates"][pick(r["candidates"][:k], n)]["all"] for r in rows)
                for k in range(1, count + 1)} for n in counts}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--views", type=int, default=16, help="jittered views per image")
    parser.add_argument("--seed", type=int, default=1000, help="prompt i's candidate 0 is searched from seed + i")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--judge", action="append", default=[], metavar="NAME=DIR", help="another CLIP to score with")
    parser.add_argument("--rescore", action="store_true", help="score the images of an earlier run (--out) again")
    parser.add_argument("--judge-views", type=int, nargs="+", default=None, metavar="N",
                        help="with --mixed-in: the pipeline's judge on N views (judge.crops) of each candidate")
    parser.add_argument("--mixed-in", type=Path, default=None, metavar="FILE",
                        help="a search_quality.py --candidates run whose disagreeing prompts are searched again")
    parser.add_argument("--rejudge", type=Path, default=None, metavar="FILE",
                        help="with --judge-views: judge the candidates of an earlier --judge-views run (its --out) "
                             "again with --judge-model, from the latents saved beside it, without searching")
    parser.add_argument("--judge-model", default=str(ROOT / "models/shapes/clip-judge"),
                        help="with --judge-views: the judge CLIP (judge.model)")
    parser.add_argument("--out", default=str(ROOT / "bench/results/judge_scores.json"))
    args = parser.parse_args(argv)
    if args.judge_views:
        with deterministic(args.threads):
            generator = load_generator(str(ROOT / GENERATOR_DIR), "cpu")
            clip, judge_clip = load_clip(str(ROOT / CLIP_DIR), None, "cpu"), load_clip(args.judge_model, None, "cpu")
            if args.rejudge:
                report = rejudge(args.rejudge, args.judge_views, generator, clip, judge_clip, print)
            else:
                found, report = judge_views(args.mixed_in, args.judge_views, generator, clip, judge_clip, print)
                np.savez_compressed(Path(args.out).with_suffix(".npz"), **found)
        report["judge_model"] = args.judge_model
        write_json(args.out, report)
        for n, right in report["right"].items():
            print(f"{n} views: " + ", ".join(f"K={k} {r}" for k, r in right.items()) + f" (of {report['prompts']})")
        if "verdicts_as_before" in report:
            print("verdicts as in --mixed-in:", report["verdicts_as_before"])
        return report
    out, images_file = Path(args.out), Path(args.out).with_suffix(".npz")
    judges = dict(spec.split("=", 1) for spec in args.judge)  # name -> CLIP directory
    with deterministic(args.threads):
        clip = load_clip(str(ROOT / CLIP_DIR), None, "cpu")
        clips = {"": clip, **{name: load_clip(path, None, "cpu") for name, path in judges.items()}}
        # 1. the candidates: searched, or an earlier run's
        if args.rescore:
            report = json.loads(out.read_text())
            rows, images = report["results"], np.load(images_file)["images"]
        else:
            generator = load_generator(str(ROOT / GENERATOR_DIR), "cpu")
            rows, images = search(shapes.benchmark_prompts()[: args.prompts], generator, clip, args.seed,
                                  args.candidates, print)
            report = {"setting": DEMO, "seed": args.seed, "views": args.views, "judges": {}}
        # 2. their scores, and what each score picks
        score(rows, images, clips, args.views)
    report["judges"].update(judges)
    report.update(prompts=len(rows), picked=summarise(rows), results=rows)
    write_json(out, report)
    np.savez_compressed(images_file, images=images)
    for k, counts in report["picked"].items():
        print(f"K={k}: " + ", ".join(f"{name} {n}" for name, n in counts.items()) + f" (of {len(rows)})")
    return report


if __name__ == "__main__":
    main()
