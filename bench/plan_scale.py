"""A novel in one run: how long Snakemake takes to plan a text of N sentences (`snakemake -n`), and how
long a search job takes to start as a cluster runs it (its own parse of the workflow, from process
start to its first search), on the offline config (tiny models, blocks of 25 sentences).

    python bench/plan_scale.py --sentences 1000 10000 --out bench/results/plan_scale.json

The text is made from texts/ by repetition with distinct sentences (each corpus sentence again with
the round it comes from), in paragraphs of ten. For each length, in a fresh directory under /tmp:
1. `snakemake -n` from nothing (the text split in the main process): wall and CPU seconds;
2. the text job and the tiny models (`split_text`, `make_tiny_models`), then `snakemake -n` again: the
   main process reads the text job's sentences (receipts/sentences.json) instead of splitting again;
3. the first search job as SLURM's job step runs it (`--mode remote --target-jobs`): seconds from its
   process start to the first "searching sentence" line of its log, then it is stopped.
Run it on an idle machine: every figure is one process's wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
from bench_json import write_json  # noqa: E402
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--nolock"]


def corpus_sentences() -> list[str]:
    from machine_imagination.text import read_text, split_text

    sentences = []
    for path in sorted((ROOT / "texts").glob("*.txt")):
        sentences += split_text(read_text(path))
    return sentences


def novel(count: int) -> str:
    """`count` distinct sentences: the corpus's, round after round, each with its round; ten a paragraph."""
    corpus = corpus_sentences()
    lines = []
    for n in range(count):
        sentence = corpus[n % len(corpus)].rstrip(".!?")
        lines.append(f"{sentence}, round {n // len(corpus) + 1}.")
    return "\n\n".join(" ".join(lines[i:i + 10]) for i in range(0, count, 10)) + "\n"


def timed(cmd, cwd) -> dict:
    """Wall and CPU seconds (user + system, the child's) of a command, and its output's job count."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode:
        sys.exit(run.stdout[-3000:] + run.stderr[-3000:])
    total = re.search(r"^total\s+(\d+)$", run.stdout + run.stderr, re.MULTILINE)
    return {"wall_s": round(wall, 2), "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime
                                                     - before.ru_stime, 2),
            "jobs": int(total.group(1)) if total else None}


def job_start(workdir: Path, text: str) -> float:
    """Seconds from a remote-mode search job's start to its first search (the job is then stopped)."""
    log = workdir / "logs" / text / "search" / "0000-0024.log"
    log.unlink(missing_ok=True)
    cmd = SNAKEMAKE + ["--configfiles", "config.yaml", "--target-jobs", f"search:text={text},block=0000-0024",
                       "--allowed-rules", "search", "--cores", "1", "--attempt", "1", "--force-use-threads",
                       "--force", "--mode", "remote"]
    start = time.perf_counter()
    job = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        while time.perf_counter() - start < 600:
            if log.is_file() and "searching sentence" in log.read_text():
                return round(time.perf_counter() - start, 2)
            if job.poll() is not None:
                sys.exit(f"the search job ended before it searched (exit {job.returncode})")
            time.sleep(0.05)
        sys.exit("the search job did not search within 600 s")
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()


def run_case(sentences: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"mi-plan-scale-{sentences}-"))
    (workdir / "texts").mkdir()
    (workdir / "texts" / "novel.txt").write_text(novel(sentences))
    config = yaml.safe_load((ROOT / "config" / "offline.yaml").read_text())
    config["texts"] = {"novel": "texts/novel.txt"}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    plan = SNAKEMAKE + ["--configfile", "config.yaml", "--cores", "2", "--dry-run", "--quiet", "rules"]
    # 1. the plan from nothing
    cold = timed(plan, workdir)
    # 2. with the text job's sentences (and the tiny models, for step 3)
    subprocess.run(SNAKEMAKE + ["--configfile", "config.yaml", "--cores", "2", "results/novel/prompts.tsv",
                                "resources/tiny-models/biggan-tiny/config.json"],
                   cwd=workdir, capture_output=True, check=True)
    warm = timed(plan, workdir)
    # 3. a search job's own start
    start = job_start(workdir, "novel")
    return {"sentences": sentences, "plan_from_nothing": cold, "plan_with_the_text_jobs_sentences": warm,
            "search_job_start_to_first_search_s": start, "workdir": str(workdir)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    cases = []
    for count in args.sentences:
        cases.append(run_case(count))
        print(json.dumps(cases[-1]), flush=True)
    report = {"machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
              "cases": cases}
    if args.out:
        write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
