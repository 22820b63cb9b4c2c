"""The film stage's speed: seconds of film made per wall-clock second, for a project whose searches are
done. Runs the whole pipeline once (searches included, untimed) in a working directory, then times
Snakemake re-making only the film: the reading (narration or decoded recording), every segment, the
cards, the subtitles and the joined film with its sound.

    python bench/film_speed.py --configfile config/demo.yaml                        # the square, silent demo
    python bench/film_speed.py --configfile config/demo.yaml config/narrated.yaml   # narrated, 1280x720

The working directory (default: a fresh one under /tmp) gets a copy of texts/ and models/; run it on an
idle machine. Writes JSON (--out) with the wall time, the film's length, frames and size, and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
from bench_json import write_json  # noqa: E402
FILM_RULES = ["prepare_reading", "render_card", "write_subtitles", "assemble_film"]  # and every render block's


def film_files(workdir: Path) -> list[str]:
    """The segments the first run made: forcing them re-runs every render job (one rule per block)."""
    return sorted(str(p.relative_to(workdir)) for p in workdir.glob("results/*/segments/*.mp4"))


def snakemake(workdir: Path, configfiles: list[str], cores: int, *extra: str) -> float:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", str(cores),
           "--configfile", *[str(Path(c).resolve()) for c in configfiles], *extra]
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"snakemake failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", nargs="+", required=True)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    # 1. A working directory with the project's inputs; the searches run there once, untimed.
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mi-film-speed-"))
    for folder in ("texts", "models"):
        if not (workdir / folder).exists():
            shutil.copytree(ROOT / folder, workdir / folder)
    snakemake(workdir, args.configfile, args.cores)

    # 2. The film again, timed: every film job re-run, nothing else.
    wall = snakemake(workdir, args.configfile, args.cores, "--forcerun", *FILM_RULES, *film_files(workdir))

    # 3. What was made.
    config = {}
    for path in args.configfile:
        for key, value in yaml.safe_load(Path(path).read_text()).items():
            config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    results = []
    for text in config["texts"]:
        record = json.loads((workdir / "results" / text / "film.json").read_text())
        results.append({"text": text, "film_seconds": record["seconds"], "frames": record["frames"],
                        "frame": record["film"]["frame"] or record["film"]["size"],
                        "pacing": record["film"]["pacing"], "narration": record["film"]["narration"],
                        "sound": "audio" in record})
    film_seconds = sum(r["film_seconds"] for r in results)
    machine = platform.processor() or platform.machine()
    report = {"configfiles": args.configfile, "cores": args.cores, "machine": machine,
              "cpus": os.cpu_count(), "wall_seconds": round(wall, 2), "film_seconds": round(film_seconds, 2),
              "film_seconds_per_wall_second": round(film_seconds / wall, 3), "films": results}
    print(json.dumps(report, indent=1))
    if args.out:
        write_json(args.out, report)


if __name__ == "__main__":
    main()
