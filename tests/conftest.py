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


def snakemake(workdir, *args, timeout=900):
    """Run the project's Snakefile in `workdir` with the test interpreter's snakemake."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2", "--nolock", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)


@pytest.fixture(scope="session")
def snakemake_run():
    return snakemake

