"""Would a judge CLIP that has seen the in-between shapes pick better? The shipped judge
(models/shapes/clip-judge) trained further on batches of which `--groups` groups of four are shapes
between the world's own (`worlds.shapes_training.superellipses`: diamond to circle to square), each
captioned with what the pixel judge reads from it, then: its shape words on fresh in-between shapes
(`in_between_accuracy`) beside the shipped judge's, and its picks among the candidates of earlier
`judge_scores.py --judge-views` runs, judged again from their saved latents (`judge_scores.rejudge`).

    .venv/bin/python bench/judge_boundary.py --steps 1200 --groups 12 --lr 3e-4 --model /tmp/judge-boundary \
        --rejudge bench/results/judge_candidates-seed{1000,2000,3000,4000}.json \
        --out bench/results/judge_boundary.json       # about 25 min on 2 cores, then 1 min a file

The shipped judge has had this further training (3000 steps, 12 groups, lr 3e-4: `TrainingPlan`) since
the race chose its pool by class; the runs in docs/quality.md started from the judge of its first phase
alone, which `--start` names (`machine-imagination shapes train --judge-boundary-steps 0` writes it, or
`git show ea07348:models/shapes/clip-judge/open_clip_pytorch_model.bin` with that commit's config file).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from bench_json import write_json  # noqa: E402
from judge_scores import rejudge  # noqa: E402

from machine_imagination.models.clip import load_clip  # noqa: E402
from machine_imagination.models.device import deterministic  # noqa: E402
from machine_imagination.models.generator import load_generator  # noqa: E402
from machine_imagination.worlds.shapes_training import (CLIP_DIR, GENERATOR_DIR, SHAPES_MODELS,  # noqa: E402
                                                        SHAPES_TRAINING, in_between_accuracy, train_clip)

SHIPPED_JUDGE = ROOT / SHAPES_MODELS / "clip-judge"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1200, help="further training steps (0: judge --model as it is)")
    parser.add_argument("--groups", type=int, default=12, help="groups of four in-between shapes per batch of 128")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--model", type=Path, required=True, help="where the further-trained judge is written")
    parser.add_argument("--rejudge", type=Path, nargs="*", default=[], metavar="FILE",
                        help="judge_scores.py --judge-views runs (with their latents beside them)")
    parser.add_argument("--start", type=Path, default=SHIPPED_JUDGE,
                        help="the judge trained further and compared with ('shipped' in the report; default: "
                             "the shipped one)")
    parser.add_argument("--threads", type=int, default=SHAPES_TRAINING.threads)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/judge_boundary.json")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    # 1. the further training (deterministic: the same arguments write the same bytes)
    began = time.perf_counter()
    if args.steps:
        train_clip(args.model, steps=args.steps, seed=SHAPES_TRAINING.judge_seed, threads=args.threads, lr=args.lr,
                   boundary=args.groups, start=args.start, log=print)
    trained_s = time.perf_counter() - began
    # 2. shape words on in-between shapes, and the picks among searched candidates, the shipped judge's beside
    with deterministic(args.threads):
        judges = {"shipped": load_clip(str(args.start), None, "cpu"), "trained": load_clip(str(args.model), None, "cpu")}
        words = {name: in_between_accuracy(clip) for name, clip in judges.items()}
        generator, clip = load_generator(str(ROOT / GENERATOR_DIR), "cpu"), load_clip(str(ROOT / CLIP_DIR), None, "cpu")
        picks = {name: [rejudge(path, [16], generator, clip, judge, lambda m: None)["right"][16] for path in args.rejudge]
                 for name, judge in judges.items()}
    right = {name: {k: sum(run[k] for run in runs) for k in runs[0]} for name, runs in picks.items() if runs}
    report = {"steps": args.steps, "groups": args.groups, "lr": args.lr, "threads": args.threads,
              "seconds_training": trained_s, "in_between_words": words,
              "rejudged": [str(p) for p in args.rejudge], "right_per_file": picks, "right": right}
    write_json(args.out, report)
    for name in judges:
        print(f"{name}: in-between shapes named right {words[name]['right']:.3f} "
              f"({words[name]['right_near_lines']:.3f} near the lines)"
              + (", prompts right: " + ", ".join(f"K={k} {n}" for k, n in right[name].items()) if right else ""))
    return report


if __name__ == "__main__":
    main()
