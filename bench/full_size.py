"""The main job at full size on this machine: config/config.yaml's models (BigGAN-deep-512, CLIP
ViT-B/32) with random weights, laid into weights.cache by the fetcher itself (worlds.full_size).

    python bench/full_size.py --out bench/results/full_size-cpu.json
    python bench/full_size.py --population 4 16 --crops 4 16 --iterations 3

1. The pipeline as tests/test_full_size.py runs it (`write_project`: config/config.yaml with a
   2-sentence text and SMALL counts): each job's wall time and peak memory (max RSS), from Snakemake's
   benchmark files, and the whole run's wall time.
2. The search at 512 px, in a fresh process per population and crop count given, with the search
   job's own loading (`search.job.load_models`, on `--threads` threads): seconds per CMA-ES iteration,
   from searches of 1 and of `--iterations` iterations from the same seed (their difference leaves out
   the start, the best image and CLIP's prompt encoding), in wall seconds and in CPU seconds (all
   threads: on a busy machine the wall time says little), and that process's peak memory (max RSS).
Speed does not depend on the weights. Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
from bench_json import write_json  # noqa: E402
TEXT = "A lighthouse stands on a rock in the sea.\nAt night its lamp sweeps over the water.\n"
# What may shrink: how many, never how large (resolution, architectures and batches stay the config's).
SMALL = {"search": {"iterations": 1, "population": 4, "crops": 4, "threads": 2},
         "judge": {"crops": 2},
         "film": {"steps": 2, "hold": 2, "fps": 4}}


def write_project(path: Path, cache: Path, counts: dict = SMALL) -> Path:
    """A project whose config.yaml is config/config.yaml with a 2-sentence text instead of its corpus,
    `counts` instead of its counts and `cache` as weights.cache (`snakemake --configfile config.yaml`)."""
    (path / "texts").mkdir(parents=True)
    (path / "texts" / "two.txt").write_text(TEXT)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(texts={"two": "texts/two.txt"}, weights={"cache": str(cache)})
    for section, values in counts.items():
        config[section] = {**config[section], **values}
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_pipeline(project: Path, cores: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores",
                           str(cores), "--nolock", "--configfile", "config.yaml"],
                          cwd=project, capture_output=True, text=True)


def job_benchmarks(project: Path) -> dict:
    """Each job's wall time and peak memory, from Snakemake's benchmark files."""
    jobs = {}
    for path in sorted((project / "benchmarks").rglob("*.tsv")):
        header, row = path.read_text().splitlines()[:2]
        values = dict(zip(header.split("\t"), row.split("\t")))
        jobs[path.relative_to(project / "benchmarks").as_posix()] = {
            "wall_s": float(values["s"]), "cpu_s": float(values["cpu_time"]), "max_rss_mb": float(values["max_rss"])}
    return jobs


def iteration_seconds(cache: Path, population: int, crops: int, iterations: int, threads: int) -> dict:
    """Seconds per CMA-ES iteration of config/config.yaml's models (laid in `cache`) at `population` and
    `crops`, and the peak memory of the process that searches (in this process: run it in a fresh one)."""
    from machine_imagination.models.device import deterministic
    from machine_imagination.project import resolve_project
    from machine_imagination.search.job import load_models
    from machine_imagination.search.loop import search_prompt
    from machine_imagination.search.settings import SearchSettings

    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    raw.update(weights={"cache": str(cache)}, search={**raw["search"], "device": "cpu"})
    config = resolve_project(raw, models=False).config
    settings = SearchSettings.from_config(config)
    with deterministic(threads):
        start = time.perf_counter()
        generator, clip = load_models(config, settings)
        loading = time.perf_counter() - start
        times, cpu = [], []
        for n in (1, iterations):
            start, start_cpu = time.perf_counter(), time.process_time()
            search_prompt("a lighthouse in a storm", seed=1, generator=generator, clip=clip,
                          settings=replace(settings, population=population, crops=crops, iterations=n))
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return {"population": population, "crops": crops, "resolution": generator.resolution,
            "seconds_per_iteration": round((times[1] - times[0]) / (iterations - 1), 2),
            "cpu_seconds_per_iteration": round((cpu[1] - cpu[0]) / (iterations - 1), 2),
            "search_1_s": round(times[0], 2), f"search_{iterations}_s": round(times[1], 2),
            "loading_s": round(loading, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--crops", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--iterations", type=int, default=3, help="of the longer timed search (>= 2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-pipeline", action="store_true", help="time the iterations only")
    parser.add_argument("--out", help="JSON file for the results")
    parser.add_argument("--measure", nargs=3, metavar=("CACHE", "POPULATION", "CROPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # one timing, in a process of its own (its peak memory is the search's)
        cache, population, crops = args.measure
        print(json.dumps(iteration_seconds(Path(cache), int(population), int(crops), args.iterations, args.threads)))
        return {}
    from machine_imagination.worlds.full_size import lay_random_weights

    result = {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
              "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="full-size-") as tmp:
        tmp = Path(tmp)
        config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        config["weights"] = {"cache": str(tmp / "weights")}
        start = time.perf_counter()
        lay_random_weights(config, log=lambda message: None)
        result["laying_weights_s"] = round(time.perf_counter() - start, 1)
        if not args.skip_pipeline:
            project = write_project(tmp / "project", tmp / "weights")
            start = time.perf_counter()
            run = run_pipeline(project)
            if run.returncode != 0:
                sys.exit(run.stdout[-3000:] + run.stderr[-3000:])
            result["pipeline"] = {"counts": SMALL, "wall_s": round(time.perf_counter() - start, 1),
                                  "jobs": job_benchmarks(project)}
            print(json.dumps(result["pipeline"], indent=1), file=sys.stderr)
        result["iterations"] = []
        for population in args.population:
            for crops in args.crops:
                measured = subprocess.run([sys.executable, __file__, "--measure", str(tmp / "weights"), str(population),
                                           str(crops), "--iterations", str(args.iterations), "--threads",
                                           str(args.threads)], capture_output=True, text=True, check=True)
                result["iterations"].append(json.loads(measured.stdout.splitlines()[-1]))
                print(result["iterations"][-1], file=sys.stderr)
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
