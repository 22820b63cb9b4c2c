import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """The tiny offline models, written once per test session (paths of the two directories)."""
    from machine_imagination.worlds.tiny import write_tiny_models

    root = tmp_path_factory.mktemp("tiny-models")
    write_tiny_models(root / "biggan-tiny", root / "clip-tiny")
    return root / "biggan-tiny", root / "clip-tiny"


@pytest.fixture(scope="session")
def generator(tiny_models):
    from machine_imagination.models.generator import load_generator

    return load_generator(str(tiny_models[0]))


@pytest.fixture(scope="session")
def clip(tiny_models):
    from machine_imagination.models.clip import load_clip

    return load_clip(str(tiny_models[1]), None)


SEARCH_JOB = """
import sys
from machine_imagination.project import validate_config
from machine_imagination.search.candidates import SearchFiles
from machine_imagination.search.job import search_job
config = validate_config({{"texts": {{"t": "t.txt"}}, "generator": {{"model": {g!r}}},
    "clip": {{"model": {c!r}, "pretrained": None}}, "judge": {{"crops": 2}},
    "search": {{"iterations": {iterations}, "population": 8, "crops": 4, "device": "cpu", "checkpoint_every": 5,
               **{search!r}}}}})
out = sys.argv[1]
files = {files}
search_job(config, text_name="t", index=0, sentence="s", prompt_parts=[["a storm at sea", 1]], seed=3,
           candidates=files, checkpoint_path=out + "/c.pkl", log=lambda m: print(m, flush=True))
"""


def write_search_job(path, tiny_models, *, iterations: int, candidates: int | None = None,
                     race: dict | None = None, init_samples: int = 0) -> Path:
    """A search job as a script of its own (`python PATH OUT` searches one sentence into OUT), for tests
    that kill a real process and resume it: one search (files l.npz, i.png, h.tsv, h.png) or, with
    `candidates`, that many (the pipeline's candidate files), raced with a `race` schedule (sharing a
    pool of draws with `init_samples`)."""
    if candidates is None:
        files = '[SearchFiles(out + "/l.npz", out + "/i.png", out + "/h.tsv", out + "/h.png")]'
    else:
        files = f"[SearchFiles.of_candidate(out, k) for k in range({candidates})]"
    search = {"candidates": candidates, "race": race, "init_samples": init_samples} if race else {}
    Path(path).write_text(SEARCH_JOB.format(g=str(tiny_models[0]), c=str(tiny_models[1]), iterations=iterations,
                                            files=files, search=search))
    return Path(path)


def run_until_killed(script: Path, out: Path, kill_when) -> str:
    """Runs a search job script (`write_search_job`) into `out` and SIGKILLs it, no warning given, at the
    first line of its output for which `kill_when(output so far, line)` holds; its output until then."""
    import signal

    job = subprocess.Popen([sys.executable, "-u", str(script), str(out)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    seen = ""
    for line in job.stdout:
        seen += line
        if kill_when(seen, line):
            job.send_signal(signal.SIGKILL)
            break
    job.stdout.read()
    assert job.wait(timeout=120) == -signal.SIGKILL, seen
    return seen


def snakemake(workdir, *args, timeout=900):
    """Run the project's Snakefile in `workdir` with the test interpreter's snakemake."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2", "--nolock", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)


@pytest.fixture(scope="session")
def snakemake_run():
    return snakemake


SHAPES_TEXT = "".join(open(REPO / "texts" / "shapes-demo.txt").readlines()[:4])


def shapes_config(**changes) -> dict:
    """The demo's models (the shapes world) on its first four sentences with two candidates each, a job
    per sentence and per segment, and as small a search and film as still exercise every stage."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["texts"], config["titles"] = {"shapes": "texts/shapes.txt"}, {}
    config["search"].update(candidates=2, iterations=3, population=8, init_samples=16, sentences_per_job=1, race=None)
    config["judge"]["crops"] = 4
    config["film"].update(fps=6, steps=2, hold_min=0.5, hold_max=0.5, size=128, segments_per_job=1,
                          preset="ultrafast", card_seconds=0.5)
    for key, value in changes.items():
        section, _, name = key.partition(".")
        config[section][name] = value
    return config


def make_shapes_project(path: Path, config: dict | None = None) -> Path:
    import yaml

    (path / "texts").mkdir(parents=True, exist_ok=True)
    (path / "texts" / "shapes.txt").write_text(SHAPES_TEXT)
    (path / "models").symlink_to(REPO / "models")
    (path / "config.yaml").write_text(yaml.safe_dump(config or shapes_config()))
    return path


@pytest.fixture(scope="session")
def shapes_project(tmp_path_factory):
    """A finished project of the shapes world with two candidates per sentence (see shapes_config), made
    once per test session: tests that change it work on a copy (`copy_project`)."""
    project = make_shapes_project(tmp_path_factory.mktemp("shapes-project"))
    run = snakemake(project, "--configfile", "config.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    return project


def copy_project(project: Path, target: Path) -> Path:
    """A copy of a finished project (its results, logs and Snakemake's records), to change and run again."""
    import shutil

    shutil.copytree(project, target, symlinks=True)
    return target
