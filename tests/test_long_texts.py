"""Long texts: jobs of many sentences (search.sentences_per_job, film.segments_per_job) give the same
bits as a job per sentence, an edit reruns only its blocks, jobs killed mid-way (SIGKILL) lose nothing
they had finished, and a job that fails is retried and reported while the others finish.

The reference, a job per sentence and per segment over the 30-sentence text, is pinned like the golden
test's (tests/golden/long-text.json, compared by tests/pinned.py: the latents exactly, scores and pixels
within tolerances that hold on any x86_64 CPU kind), so that CI does not spend eight minutes on 60
one-sentence jobs; a change of behaviour on purpose records it again, from jobs of one sentence:

    .venv/bin/python tests/test_long_texts.py --record
    .venv/bin/python tests/test_long_texts.py --record-provenance   # what the latents record of their making only
"""
import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pinned  # noqa: E402
from conftest import REPO  # noqa: E402
from machine_imagination.latents import Latents  # noqa: E402

pytestmark = pytest.mark.e2e

PINS = REPO / "tests" / "golden" / "long-text.json"

SENTENCES = 30
WORDS = ["sea", "storm", "lantern", "fox", "boat", "dawn", "cliff", "gull", "rain", "harbour"]


def long_text() -> str:
    return "\n".join(f"The {WORDS[i % 10]} and the {WORDS[(3 * i + 1) % 10]} meet at hour {i}."
                     for i in range(SENTENCES))


def long_config(per_job: int) -> dict:
    """The offline models, as cheap a search and film as still exercise every stage."""
    config = yaml.safe_load((REPO / "config" / "offline.yaml").read_text())
    config["texts"] = {"long": "texts/long.txt"}
    config["search"].update(iterations=2, population=4, crops=2, checkpoint_every=1, sentences_per_job=per_job)
    config["judge"]["crops"] = 2
    config["film"].update(fps=6, steps=2, pacing="fixed", hold=2, size=128, captions="burned", title_card=False,
                          end_card=False, preset="ultrafast", segments_per_job=per_job)
    return config


def make_long_project(path: Path, per_job: int) -> Path:
    (path / "texts").mkdir(parents=True)
    (path / "texts" / "long.txt").write_text(long_text())
    (path / "config.yaml").write_text(yaml.safe_dump(long_config(per_job)))
    return path


def command(*args):
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2", "--nolock",
            "--keep-going", "--rerun-incomplete", "--configfile", "config.yaml", *args]


def run(project: Path, *args):
    done = subprocess.run(command(*args), cwd=project, capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return done.returncode, done.stdout + done.stderr


def job_processes(project: Path, script: str, log: str | None = None) -> list[int]:
    """The pids of this project's running job scripts (Snakemake runs each as `python …<script>.py`);
    with `log`, only the job writing that log (a block's job: the two search blocks run side by side,
    started in an order Snakemake does not fix)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            if f"{script}.py" in cmdline and os.readlink(f"/proc/{pid}/cwd") == str(project):
                if log is None or any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(project / log)
                                      for fd in os.listdir(f"/proc/{pid}/fd")):
                    found.append(int(pid))
        except OSError:
            continue
    return found


def run_with_kills(project: Path, plan) -> tuple[int, str, list[str]]:
    """Snakemake, with a SIGKILL for each (file that must exist first or None, job script, wait[, the
    job's log]) of `plan` in turn: the first running job of that script (writing that log) killed `wait`
    seconds after the file appears. Returns its exit code, output and what was killed."""
    proc = subprocess.Popen(command(), cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    killed, deadline = [], time.monotonic() + 900
    try:
        for needed, script, wait, *log in plan:
            while proc.poll() is None and time.monotonic() < deadline:
                if job_processes(project, script, *log) and (needed is None or needed.exists()):
                    time.sleep(wait)
                    for pid in job_processes(project, script, *log)[:1]:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(f"{script} {pid}")
                    break
                time.sleep(0.05)
        out, _ = proc.communicate(timeout=max(1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out, killed


def machine_imagination(project: Path, *args):
    return subprocess.run([sys.executable, "-m", "machine_imagination.cli", *args], capture_output=True, text=True,
                          cwd=project)


def latents_bytes(results: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted((results / "latents").glob("*.npz"))}


def test_blocks_survive_kills_and_equal_a_job_per_sentence_then_an_edit_reruns_its_blocks(tmp_path):
    pins = json.loads(PINS.read_text())
    project = make_long_project(tmp_path / "blocks", 25)
    results = project / "results" / "long"
    # 1. killed at random moments (seeded: a failure can be replayed): the first search job once it has
    # finished a few sentences, and a render job mid-way; then the same command, its search job killed
    # again further on; then the same command once more
    rng = random.Random(17)
    first_block = "logs/long/search/0000-0024.log"
    first_kill = [(results / "candidates" / f"{rng.randint(2, 6):04d}" / "0.npz", "search_prompt", rng.uniform(0, 1),
                   first_block), (None, "render_segment", rng.uniform(0.5, 3))]
    code, out, killed = run_with_kills(project, first_kill)
    assert len(killed) == 2 and code != 0, (killed, out[-4000:])
    # what `machine-imagination status` says of the interrupted run: the sentences whose latents are
    # there, and a time left from the pace measured so far
    searched = sum((results / "candidates" / f"{i:04d}" / "0.npz").is_file() for i in range(SENTENCES))
    status = machine_imagination(project, "status", str(results))
    assert status.returncode == 0 and status.stdout.startswith(f"long: {searched} of 30 sentences searched, "), status
    assert re.search(r"(about \d+ (s|min) left|known once every stage has measured one)", status.stdout), status
    later = results / "candidates" / f"{rng.randint(10, 16):04d}" / "0.npz"
    second_kill = [(later, "search_prompt", rng.uniform(0, 1), first_block)]
    code, out, killed = run_with_kills(project, second_kill)
    assert len(killed) == 1 and code != 0, (killed, out[-4000:])
    code, out = run(project)
    assert code == 0, out[-6000:]
    # the search job's last run did not search again the sentences it had finished before its kills (their
    # files are there: a killed job's are not removed, each is written whole)
    log = (project / "logs" / "long" / "search" / "0000-0024.log").read_text()
    assert log.count("this search's files are there") + log.count("(a finished search)") >= 10, log[-3000:]
    # 2. every sentence once, the same bits as a job per sentence, the manifest verified
    assert sorted(latents_bytes(results)) == [f"{i:04d}.npz" for i in range(SENTENCES)]
    assert sorted(p.name for p in (results / "segments").iterdir()) == [f"{i:04d}.mp4" for i in range(SENTENCES)]
    problems = pinned.compare(pins, pinned.values(results))
    assert not problems, "\n".join(problems)
    verify = machine_imagination(project, "verify", str(results))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # what the run showed of the whole text as it went, and what it took (the report's timings table)
    assert re.search(r"^long: \d+ of 30 sentences searched, \d+ of 30 segments rendered; (about \d+ (s|min) left|"
                     r"the time left is known once)", log, re.MULTILINE), log[-3000:]
    status = machine_imagination(project, "status", str(results))
    assert status.stdout == "long: 30 of 30 sentences searched, 30 of 30 segments rendered; the film is made\n"
    table = (results / "timings" / "timings.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in table[1:]] == [str(i) for i in range(SENTENCES)] + ["total"]
    assert all(re.fullmatch(r"\d+\t\d+\.\d\d\t\d+\.\d\d", row) for row in table[1:-1]), table
    # 3. an edit of sentence 3 reruns its search block, which searches sentence 3 alone again (the others'
    # files are kept), its judge and keep blocks (which leave the others' files as they are), and the render
    # block holding segments 2 and 3, which renders those two again
    stamps = {p.relative_to(results).as_posix(): p.stat().st_mtime_ns
              for d in ("latents", "segments") for p in (results / d).iterdir()}
    text = project / "texts" / "long.txt"
    text.write_text(text.read_text().replace("meet at hour 3.", "part at hour 3."))
    code, out = run(project)
    assert code == 0, out[-6000:]
    ran = set(re.findall(r"rule (search|judge|keep|render):\n(?:.*\n)*?\s+wildcards: text=long, block=([\d-]+)", out))
    assert ran == {("search", "0000-0024"), ("judge", "0000-0024"), ("keep", "0000-0024"), ("render", "0000-0024")}, ran
    log = (project / "logs" / "long" / "search" / "0000-0024.log").read_text()
    assert re.findall(r"searching sentence (\d+)", log) == ["3"], log[-3000:]
    changed = {k for k, v in stamps.items() if (results / k).stat().st_mtime_ns != v}
    assert changed == {"latents/0003.npz", "segments/0002.mp4", "segments/0003.mp4"}, changed
    edited = pinned.latents_of(results)
    assert [name for name in edited["latents"] if pinned.latents_problems(pins, edited, name)] == ["0003.npz"]
    # 4. a job that fails for a reason of its own (a latents file damaged after its receipt was written,
    # at its size: the workflow's start cannot tell) is retried, then reported with the segment and its
    # log, while the other jobs finish (a new film.crf re-renders both blocks); the film is not assembled
    # from a partial set
    film = (results / "film.mp4").stat().st_mtime_ns
    render_logs = set((project / "logs" / "long" / "render").glob("0000-0024.*.log"))
    damaged = results / "latents" / "0026.npz"
    damaged.write_bytes(bytes(damaged.stat().st_size))
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["film"]["crf"] += 1
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    code, out = run(project, "--retries", "1")
    assert code != 0
    assert "Error in rule render" in out and "block=0025-0029" in out and "logs/long/render/0025-0029." in out, (
        out[-4000:])
    assert "Trying to restart job" in out, "retried once"
    log = max((project / "logs" / "long" / "render").glob("0025-0029.*.log"), key=lambda p: p.stat().st_mtime_ns)
    assert "latents file 'results/long/latents/0026.npz' cannot be read" in log.read_text(), log.read_text()[-3000:]
    assert (results / "film.mp4").stat().st_mtime_ns == film
    assert set((project / "logs" / "long" / "render").glob("0000-0024.*.log")) - render_logs, "the other block rendered"
    # ... and a latents file cut short (a full disk, a copy cut off), or one that is a sound archive but holds
    # no point the generator can render (NaN values), stops the next run before any job, naming it;
    # `machine-imagination repair` sets them aside, and the run after that makes them again
    truncated = results / "latents" / "0028.npz"
    truncated.write_bytes(truncated.read_bytes()[:300])
    broken = Latents.load(results / "latents" / "0027.npz")
    dataclasses.replace(broken, noise=broken.noise * float("nan")).save(results / "latents" / "0027.npz")
    code, out = run(project)
    assert code != 0 and "latents/0028.npz (listed by receipts/keep/0025-0029.json): 300 bytes" in out, out[-3000:]
    assert "machine-imagination repair results/long" in out and "Traceback" not in out
    repair = machine_imagination(project, "repair", str(results))
    assert repair.returncode == 0 and "0028.npz damaged, set aside" in repair.stdout, repair.stdout + repair.stderr
    assert "0027.npz damaged, set aside" in repair.stdout and "0026.npz damaged, set aside" in repair.stdout
    code, out = run(project)
    assert code == 0, out[-6000:]
    found = pinned.latents_of(results)
    assert not [name for name in ("0026.npz", "0027.npz", "0028.npz") if pinned.latents_problems(pins, found, name)]
    assert (results / "latents" / "0028.npz.damaged").is_file()
    verify = machine_imagination(project, "verify", str(results))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def record(provenance_only: bool = False) -> None:
    """Run the text with a job per sentence and per segment, and pin what it made (or only its
    latents' provenance, when nothing else differs)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        project = make_long_project(Path(tmp) / "one-per-job", 1)
        code, out = run(project)
        if code != 0:
            sys.exit(out[-6000:])
        found = pinned.values(project / "results" / "long")
    if provenance_only:
        found = pinned.with_provenance_of(json.loads(PINS.read_text()), found)
    pinned.write_values(PINS, found)
    print(f"recorded {PINS}")


if __name__ == "__main__" and sys.argv[1:] in (["--record"], ["--record-provenance"]):
    record(provenance_only=sys.argv[1] == "--record-provenance")
