"""Long texts: wall time of the offline pipeline (config/offline.yaml, tiny models on the CPU) for texts
of several lengths, with a job per sentence and with blocks of sentences per job
(search.sentences_per_job, film.segments_per_job), and each sentence's cost split into the jobs'
start-up (Python, imports, loading the models), its search and its rendering.

    python bench/text_scale.py --sentences 10 50 200 --per-job 1 8 --out bench/results/text_scale.json

Each (length, per-job) case runs the whole pipeline once in a fresh directory under /tmp (the text: the
same sentence pattern at every length). The split comes from the jobs' own records: Snakemake's
benchmark file gives each job's wall time, the job's log the seconds it spent on its sentences once the
models were loaded (`... of this job done in S s`); the rest of a job is start-up. Snakemake's own main
process is watched too: the CPU seconds it used itself (scheduling, and the benchmark timers it runs for
the jobs), its children not counted. `--max-jobs-per-timespan` runs the cases under Snakemake's job rate
limits given (a case for each; 'default' is Snakemake's own): the limiter's timers are what Snakemake's
main process spends on a long text (docs/performance.md). Run it on an idle machine: the jobs run two at
a time on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["sea", "storm", "lantern", "fox", "boat", "dawn", "cliff", "gull", "rain", "harbour"]


def text_of(sentences: int) -> str:
    return "\n".join(f"The {WORDS[i % 10]} and the {WORDS[(3 * i + 1) % 10]} meet at hour {i}."
                     for i in range(sentences))


def job_costs(workdir: Path, stage: str) -> list[dict]:
    """Each job of a stage (search, render): its wall time (Snakemake's benchmark file) and the seconds
    it spent on its sentences once its models were loaded (the last progress line of its log)."""
    costs = []
    for bench in sorted((workdir / "benchmarks" / "long" / stage).glob("*.tsv")):
        wall = float(bench.read_text().splitlines()[1].split("\t")[0])
        log = (workdir / "logs" / "long" / stage / f"{bench.stem}.log").read_text()
        done = re.findall(r"(\d+) of (\d+) \w+ of this job done in (\d+(?:\.\d+)?) s", log)
        count, work = int(done[-1][1]), float(done[-1][2])
        costs.append({"job": bench.stem, "sentences": count, "wall_s": wall, "work_s": work})
    return costs


def own_cpu_seconds(pid: int) -> float | None:
    """The CPU seconds (user + system) a process has used itself, its children not counted (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_watching_cpu(command: list[str], workdir: Path) -> tuple[subprocess.CompletedProcess, float | None]:
    """Runs Snakemake, reading its main process's own CPU time every second until it ends: what the
    scheduling (and the benchmark timers it runs for the jobs) cost, the jobs' processes not counted."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=err, text=True)
        cpu = None
        while process.poll() is None:
            cpu = own_cpu_seconds(process.pid) or cpu
            time.sleep(1)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, process.returncode, out.read(), err.read()), cpu


def run_case(sentences: int, per_job: int, cores: int, rate: str | None = None) -> dict:
    # 1. a fresh project: the text, the offline config with the block size
    workdir = Path(tempfile.mkdtemp(prefix=f"mi-text-scale-{sentences}-{per_job}-"))
    (workdir / "texts").mkdir()
    (workdir / "texts" / "long.txt").write_text(text_of(sentences))
    config = yaml.safe_load((ROOT / "config" / "offline.yaml").read_text())
    config["texts"] = {"long": "texts/long.txt"}
    config["search"]["sentences_per_job"] = config["film"]["segments_per_job"] = per_job
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    # 2. the tiny models first (not part of any text's cost), then the pipeline, timed
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", str(cores),
               "--configfile", "config.yaml"]
    subprocess.run([*command[:-2], "resources/tiny-models/biggan-tiny/config.json", *command[-2:]], cwd=workdir,
                   check=True, capture_output=True)
    if rate:
        command += ["--max-jobs-per-timespan", rate]
    start = time.perf_counter()
    run, main_cpu = run_watching_cpu(command, workdir)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"snakemake failed in {workdir}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    # 3. the finished run checked against its manifest, as an artist would (`machine-imagination verify`)
    verify = subprocess.run([sys.executable, "-m", "machine_imagination.cli", "verify", "results/long"], cwd=workdir,
                            capture_output=True, text=True)
    # 4. the split, per sentence
    search, render = job_costs(workdir, "search"), job_costs(workdir, "render")
    per_sentence = {
        "wall_s": wall / sentences,
        "search_s": sum(j["work_s"] for j in search) / sentences,
        "render_s": sum(j["work_s"] for j in render) / sentences,
        "startup_s": sum(j["wall_s"] - j["work_s"] for j in search + render) / sentences,
        "job_s": sum(j["wall_s"] for j in search + render) / sentences,
    }
    return {"sentences": sentences, "per_job": per_job, "max_jobs_per_timespan": rate or "100/1s (Snakemake's default)",
            "wall_s": round(wall, 1), "search_jobs": len(search),
            "render_jobs": len(render),
            "snakemake_cpu_s": None if main_cpu is None else round(main_cpu, 1),
            "verify": "passed" if verify.returncode == 0 else verify.stdout[-2000:],
            "per_sentence": {k: round(v, 3) for k, v in per_sentence.items()},
            "workdir": str(workdir)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--per-job", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--max-jobs-per-timespan", dest="rate", nargs="+", default=[None],
                        help="Snakemake's --max-jobs-per-timespan for the runs (each value a case; 'default' for "
                             "Snakemake's own 100/1s), e.g. default 1000/10s")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    cases = []
    for sentences in args.sentences:
        for per_job in args.per_job:
            for rate in args.rate:
                cases.append(run_case(sentences, per_job, args.cores, None if rate in (None, "default") else rate))
                print(json.dumps(cases[-1]), flush=True)
    report = {"cores": args.cores, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "config": "config/offline.yaml", "cases": cases}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
