"""Does a bf16 (or fp16) search find the same or better images than an fp32 one, from the same seed?

    python bench/precision_check.py --device cuda                       # shapes world, 48 prompts
    python bench/precision_check.py --device cuda --precisions bf16 fp16 --real-size 3 --iterations 10

Autocast changes every score in the last bits, so a search's path (and its result) differs from
fp32's; what matters is whether it finds images as good. Two checks, each searching the same prompts
from the same seeds in fp32 and in each other precision, then scoring every result again the same
way, in fp32:

1. the shapes world (models/shapes, trained here): the benchmark's best setting (sampled-cma-es) on
   the held-out prompts; compares CLIP's fp32 similarity of each result and the pixel judge's verdict;
2. with `--real-size K`: K prompts at the notebook's settings (BigGAN-deep-512, CLIP ViT-B/32,
   population 50, 64 crops; random weights, as in bench/search_speed.py; `--case` picks another of
   its sizes), compared by the held-out judge similarity (fresh crops, fp32).

Prints a summary and writes JSON. Meant for a GPU; runs on CPU (slowly; CPUs' bf16 is emulated or slow).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from bench_json import write_json  # noqa: E402

from search_quality import run_setting  # noqa: E402

from machine_imagination.models.clip import load_clip  # noqa: E402
from machine_imagination.models.device import PRECISIONS, deterministic  # noqa: E402
from machine_imagination.models.generator import load_generator  # noqa: E402
from machine_imagination.search.judge import judge  # noqa: E402
from machine_imagination.search.loop import search_prompt  # noqa: E402
from machine_imagination.search.settings import SearchSettings  # noqa: E402
from machine_imagination.worlds import shapes  # noqa: E402
from machine_imagination.worlds.shapes_training import CLIP_DIR, GENERATOR_DIR  # noqa: E402

SETTING = "sampled-cma-es"
REAL_PROMPTS = ["a lighthouse in a storm", "a red fox in the snow", "a bowl of cherries on a table",
                "an old sailing ship at dawn", "a cat asleep on a windowsill", "a mountain lake at night"]


def compare(fp32: list[float], other: list[float], tolerance: float) -> dict:
    differences = np.asarray(other) - np.asarray(fp32)
    return {"fp32_mean": float(np.mean(fp32)), "mean": float(np.mean(other)),
            "mean_difference": float(differences.mean()), "worst_difference": float(differences.min()),
            "same_or_better": float(np.mean(differences >= -tolerance)), "tolerance": tolerance}


def shapes_check(prompts: int, precisions: list[str], device: str, seed: int, log) -> dict:
    generator = load_generator(str(ROOT / GENERATOR_DIR), device)
    clip = load_clip(str(ROOT / CLIP_DIR), None, device)
    chosen = shapes.benchmark_prompts()[:prompts]
    runs = {precision: run_setting(SETTING, chosen, generator, clip, seed, log, precision=precision)
            for precision in ["fp32", *precisions]}
    similarity = {p: [r["clip_similarity"] for r in rows] for p, rows in runs.items()}
    return {"setting": SETTING, "prompts": len(chosen),
            "similarity": {p: compare(similarity["fp32"], similarity[p], tolerance=0.005) for p in precisions},
            "judged_right": {p: float(np.mean([r["all"] for r in rows])) for p, rows in runs.items()},
            "seconds_per_search": {p: statistics.mean(r["seconds"] for r in rows) for p, rows in runs.items()},
            "results": [{"prompt": rows[0]["prompt"], "seed": rows[0]["seed"],
                         **{f"similarity_{p}": r["clip_similarity"] for p, r in zip(runs, rows)},
                         **{f"right_{p}": r["all"] for p, r in zip(runs, rows)}}
                        for rows in zip(*runs.values())]}


def real_size_check(count: int, precisions: list[str], iterations: int, case: str, device: str, seed: int,
                    log) -> dict:
    import torch
    from search_speed import CASES, engine_models, parse_variant

    generator, clip = engine_models(case, torch.device(device), parse_variant("fp32"))
    size = CASES[case]
    settings = SearchSettings(iterations=iterations, population=size["population"], crops=size["crops"])
    rows = []
    for k, prompt in enumerate(REAL_PROMPTS[:count]):
        row = {"prompt": prompt, "seed": seed + k}
        for precision in ["fp32", *precisions]:
            start = time.perf_counter()
            result = search_prompt(prompt, seed=seed + k, generator=generator, clip=clip,
                                   settings=replace(settings, precision=precision))
            row[f"seconds_{precision}"] = time.perf_counter() - start
            row[f"similarity_{precision}"] = judge(generator, clip, result, [(prompt, 1.0)], settings, seed + k,
                                                   crops=64)["judge_similarity"]  # in fp32, fresh crops
            log(f"real size, {precision}: {prompt!r}: judge similarity {row[f'similarity_{precision}']:.4f} "
                f"({row[f'seconds_{precision}']:.1f} s)")
        rows.append(row)
    return {"case": case, "settings": {**size, "iterations": iterations},
            "similarity": {p: compare([r["similarity_fp32"] for r in rows], [r[f"similarity_{p}"] for r in rows],
                                      tolerance=0.002) for p in precisions},
            "results": rows}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--prompts", type=int, default=48, help="shapes-world prompts (0: skip that check)")
    parser.add_argument("--real-size", type=int, default=0, metavar="K", help="real-size prompts (at most 6)")
    parser.add_argument("--iterations", type=int, default=10, help="CMA-ES iterations of the real-size check")
    parser.add_argument("--case", default="notebook", help="the real-size check's sizes (bench/search_speed.py's "
                                                           "cases; 'tiny' for a smoke test)")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS[1:], default=["bf16"],
                        help="compared with fp32")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "bench/results/precision_check.json"))
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    with deterministic(2 if args.device == "cpu" else None):
        return check(args, argv)


def check(args, argv) -> dict:
    import torch

    report = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "torch": torch.__version__,
              "command": "python bench/precision_check.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    if args.prompts:
        report["shapes"] = shapes_check(args.prompts, args.precisions, args.device, args.seed, print)
    if args.real_size:
        report["real_size"] = real_size_check(args.real_size, args.precisions, args.iterations, args.case,
                                              args.device, args.seed, print)
    out = write_json(args.out, report)
    for name in ("shapes", "real_size"):
        for precision, c in report.get(name, {}).get("similarity", {}).items():
            judged = report[name].get("judged_right")
            extra = f"; judged right fp32 {judged['fp32']:.1%}, {precision} {judged[precision]:.1%}" if judged else ""
            print(f"{name}: similarity fp32 {c['fp32_mean']:.4f}, {precision} {c['mean']:.4f} (worst "
                  f"{c['worst_difference']:+.4f}); {precision} same or better in {c['same_or_better']:.0%}{extra}")
    print(f"-> {out}")
    return report


if __name__ == "__main__":
    main()
