"""How much the pinned outputs move when the arithmetic rounds differently: the offline config
(config/offline.yaml, as tests/test_golden.py runs it) under several rounding behaviours of this one
machine, each pair compared the way the golden test compares (tests/pinned.py). The tolerances in
tests/pinned.py are derived from the largest differences found here (docs/reproducibility.md).

    python bench/rounding.py --out bench/results/rounding.json            # runs every variant (~1.5 min each)
    python bench/rounding.py --reuse /tmp/rounding --out ...               # compare runs left in a directory

The variants stand in for other CPU kinds (one machine cannot have another CPU): torch's kernels
without AVX2 (ATEN_CPU_CAPABILITY=default, as on a CPU torch has no vector kernels for), MKL and oneDNN
on SSE code paths (as on another vendor's or an older CPU), both, and the whole run on one core (x264
encodes with as many threads as it sees cores: another machine size). The searched latents, the text
outputs and the frame counts must come out the same in every variant; the scores and the pixels move.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from bench_json import write_json  # noqa: E402
import pinned  # noqa: E402

TEXT = "the-lighthouse-keeper"
SSE = {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"}
VARIANTS = {
    "native": ({}, []),
    "aten-default": ({"ATEN_CPU_CAPABILITY": "default"}, []),
    "mkl-onednn-sse": (SSE, []),
    "aten-default+mkl-onednn-sse": ({"ATEN_CPU_CAPABILITY": "default", **SSE}, []),
    "one-core": ({}, ["taskset", "-c", "0"]),
}


def run_variant(workdir: Path, env: dict, prefix: list) -> float:
    """The offline config in a fresh `workdir`, as the golden test runs it; its wall time."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    for name in ("config", "texts"):
        (workdir / name).symlink_to(ROOT / name)
    command = [*prefix, sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", "2",
               "--nolock", "--configfile", "config/offline.yaml"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env={**os.environ, **env})
    if done.returncode != 0:
        sys.exit(f"{workdir}: the run failed\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - start


def score_spread(a: dict, b: dict) -> dict:
    """The largest absolute difference of the scores, the largest relative one, and the largest
    difference as a share of the tolerance (1.0: at the tolerance)."""
    absolute = relative = share = 0.0
    for name, entry in a["latents"].items():
        for key, value in entry["scores"].items():
            x, y = np.asarray(value, float), np.asarray(b["latents"][name]["scores"][key], float)
            d = np.abs(x - y)
            absolute = max(absolute, float(d.max(initial=0)))
            relative = max(relative, float((d / np.maximum(np.abs(x), 1e-30)).max(initial=0)))
            share = max(share, float((d / (pinned.SCORE_ATOL + pinned.SCORE_RTOL * np.abs(x))).max(initial=0)))
    return {"max_abs": absolute, "max_rel": relative, "share_of_tolerance": share}


def pixel_spread(a: dict, b: dict, part: str) -> dict:
    """Over every image (or frame): the largest block difference, the largest mean one, how many differ."""
    x = pinned.unpack(a[part]["thumbnails"], a[part]["shape"]).astype(int)
    y = pinned.unpack(b[part]["thumbnails"], b[part]["shape"]).astype(int)
    d = np.abs(x - y).reshape(len(x), -1)
    return {"max": int(d.max()), "max_mean": round(float(d.mean(axis=1).max()), 4),
            "differ": int((d.max(axis=1) > 0).sum()), "of": len(x)}


def exact_parts_equal(a: dict, b: dict) -> bool:
    return (a["files"] == b["files"] and a["digests"] == b["digests"] and a["provenance"] == b["provenance"]
            and all(a["latents"][n]["exact"] == b["latents"][n]["exact"] for n in a["latents"])
            and (a["film"]["frames"], a["film"]["size"]) == (b["film"]["frames"], b["film"]["size"]))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/rounding", help="where the runs go (kept, for --reuse)")
    parser.add_argument("--reuse", action="store_true", help="compare the runs already in --work")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    work, seconds = Path(args.work), {}
    for name in args.variants:
        if not args.reuse:
            env, prefix = VARIANTS[name]
            seconds[name] = round(run_variant(work / name, env, prefix if shutil.which("taskset") else []), 1)
            print(f"{name}: {seconds[name]} s", file=sys.stderr)
    found = {name: pinned.values(work / name / "results" / TEXT) for name in args.variants}
    pairs = {}
    for a, b in itertools.combinations(args.variants, 2):
        pairs[f"{a} / {b}"] = {"exact_parts_equal": exact_parts_equal(found[a], found[b]),
                               "problems_at_the_tolerances": pinned.compare(found[a], found[b]),
                               "scores": score_spread(found[a], found[b]),
                               "images": pixel_spread(found[a], found[b], "images"),
                               "film_frames": pixel_spread(found[a], found[b], "film")}
    worst = {"scores_max_abs": max(p["scores"]["max_abs"] for p in pairs.values()),
             "scores_max_rel": max(p["scores"]["max_rel"] for p in pairs.values()),
             "scores_share_of_tolerance": max(p["scores"]["share_of_tolerance"] for p in pairs.values()),
             "images_max": max(p["images"]["max"] for p in pairs.values()),
             "images_max_mean": max(p["images"]["max_mean"] for p in pairs.values()),
             "frames_max": max(p["film_frames"]["max"] for p in pairs.values()),
             "frames_max_mean": max(p["film_frames"]["max_mean"] for p in pairs.values())}
    result = {"machine": f"{platform.machine()} {platform.processor()}".strip(), "cpu_count": os.cpu_count(),
              "variants": {name: {"env": VARIANTS[name][0], "prefix": VARIANTS[name][1]} for name in args.variants},
              "seconds": seconds,
              "tolerances": {"score_atol": pinned.SCORE_ATOL, "score_rtol": pinned.SCORE_RTOL,
                             "image": vars(pinned.IMAGE_TOLERANCE), "frame": vars(pinned.FRAME_TOLERANCE),
                             "image_block": pinned.IMAGE_BLOCK, "frame_block": pinned.FRAME_BLOCK},
              "worst": worst, "pairs": pairs}
    print(json.dumps(worst, indent=1))
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
