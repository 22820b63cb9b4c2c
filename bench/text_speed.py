"""A whole text's search time, model loading included: one search job per sentence, as the pipeline runs them.

    python bench/text_speed.py --device cuda --precision bf16      # 12 sentences at the notebook's settings
    python bench/text_speed.py --case tiny --sentences 2           # the tiny offline models (a smoke test)

Writes random-weight checkpoints of the real architectures in their real on-disk formats
(BigGAN-deep-512: config.json + pytorch_model.bin; CLIP ViT-B/32: an open_clip local-dir), a config
at the notebook's settings (50 CMA-ES iterations of 50 candidates, 64 crops each) and a 12-sentence
text, then runs `machine-imagination search` once per sentence, each in a fresh process, as a
Snakemake job would (start-up, imports, loading both models, the search, the held-out judge, writing
latents, image and history). Reports each job's wall time and the total: on one GPU the jobs run one
after another, so the total is the text's GPU time. Writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from search_speed import CASES, TINY_DIR, biggan_deep_config, random_biggan, write_tiny_models  # noqa: E402

from machine_imagination.models.clip import OPENAI_MEAN, OPENAI_STD  # noqa: E402
from machine_imagination.models.device import PRECISIONS  # noqa: E402

SENTENCES = [
    "The lighthouse stood alone at the end of the world.",
    "Every night the keeper climbed the hundred steps.",
    "A storm came in from the north, black and loud.",
    "Waves broke over the rocks like white horses.",
    "Far out, a small ship fought the sea.",
    "The keeper turned the great lamp toward it.",
    "Its beam swept across the water, again and again.",
    "The ship found the harbour in the dark.",
    "At dawn the sea lay quiet and grey.",
    "Gulls circled the tower, crying.",
    "The keeper slept while the sun rose over the cliffs.",
    "And the lamp waited for the night.",
]


def write_models(case: str, directory: Path) -> tuple[Path, Path]:
    """Random-weight checkpoints in the real formats (tiny case: the tiny offline models)."""
    import open_clip
    import torch

    from machine_imagination.worlds.tiny import save_clip_dir, save_generator_dir

    if case == "tiny":
        write_tiny_models()
        return TINY_DIR / "g", TINY_DIR / "c"
    resolution = CASES[case]["resolution"]
    generator = save_generator_dir(directory / f"biggan-deep-{resolution}", random_biggan(resolution),
                                   biggan_deep_config(resolution))
    torch.manual_seed(0)
    clip = save_clip_dir(directory / "clip-vit-b-32", open_clip.create_model("ViT-B-32", pretrained=None),
                         {"model_cfg": open_clip.get_model_config("ViT-B-32"),
                          "preprocess_cfg": {"mean": list(OPENAI_MEAN), "std": list(OPENAI_STD)}})
    return generator, clip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=CASES, default="notebook", help="sizes (bench/search_speed.py's cases)")
    parser.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    parser.add_argument("--precision", choices=PRECISIONS, default="bf16")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--sentences", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--out", help="JSON file (default: bench/results/text_speed-<case>-<device>.json)")
    return parser


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    size = CASES[args.case]
    sentences = SENTENCES[: args.sentences]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        generator, clip = write_models(args.case, tmp / "models")
        writing_models = time.perf_counter() - start
        (tmp / "text.txt").write_text("\n\n".join(sentences) + "\n")
        config = {
            "texts": {"bench": str(tmp / "text.txt")},
            "generator": {"model": str(generator)},
            "clip": {"model": str(clip), "pretrained": None},
            "search": {"iterations": args.iterations, "population": size["population"], "crops": size["crops"],
                       "precision": args.precision, "channels_last": args.channels_last, "compile": args.compile,
                       "device": args.device, "threads": 2 if args.device == "cpu" else 4},
            "judge": {"crops": size["crops"]},
        }
        (tmp / "config.yaml").write_text(yaml.safe_dump(config))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
        jobs = []
        for index, sentence in enumerate(sentences):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "machine_imagination.cli", "search", sentence,
                                   "--config", str(tmp / "config.yaml"), "--seed", str(index + 1),
                                   "--out", str(tmp / "out" / str(index)), "--no-video"],
                                  capture_output=True, text=True, env=env)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"sentence {index}'s search failed:\n{done.stderr[-3000:]}")
            similarity = re.search(r"similarity ([0-9.-]+)", done.stdout)
            jobs.append({"index": index, "sentence": sentence, "seconds": seconds,
                         "similarity": float(similarity.group(1)) if similarity else None})
            print(f"sentence {index}: {seconds:.1f} s", flush=True)

    import torch

    total = sum(job["seconds"] for job in jobs)
    result = {
        "case": args.case, **size, "iterations": args.iterations, "sentences": len(sentences),
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "torch": torch.__version__,
        "precision": args.precision, "channels_last": args.channels_last, "compile": args.compile,
        "command": "python bench/text_speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "writing_random_checkpoints_s": writing_models,
        "total_s": total, "per_sentence_s": total / len(jobs), "jobs": jobs,
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"text_speed-{args.case}-{args.device}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(jobs)} sentences at {size['resolution']} px, population {size['population']}, {size['crops']} crops, "
          f"{args.iterations} iterations ({args.precision}) on {result['device']}: {total:.1f} s in all, "
          f"{total / len(jobs):.1f} s per sentence, model loading included -> {out}")
    return result


if __name__ == "__main__":
    main()
