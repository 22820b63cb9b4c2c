"""The README's main job at full size, offline: config/config.yaml's pipeline (BigGAN-deep-512, CLIP
ViT-B/32) on a 2-sentence text through to film.mp4, with random weights of the real architectures laid
into weights.cache by the fetcher itself (worlds.full_size), so that the run loads them with the real
loading code and at the real sizes. Only the counts shrink (iterations, population, crops, the film's
steps, hold and fps) and the search's threads fit the machine: a shape, memory or dtype error at
512 px fails here, not on the cluster after a queue wait. bench/full_size.py measures what it costs
(docs/performance.md)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

import pinned
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from full_size import SMALL, job_benchmarks, run_pipeline, write_project  # noqa: E402  (what the benchmark measures)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_default_config_makes_a_512_px_film_from_the_full_size_models(tmp_path):
    from machine_imagination.worlds.full_size import lay_random_weights

    cache = tmp_path / "weights"
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert (config["generator"]["model"], config["clip"]["model"], config["clip"]["pretrained"]) == (
        "biggan-deep-512", "ViT-B-32", "openai")
    laid = lay_random_weights({**config, "weights": {"cache": str(cache)}}, log=lambda message: None)
    assert [p.relative_to(cache).as_posix() for p in laid] == ["biggan/biggan-deep-512", "open_clip/ViT-B-32-openai"]

    project = write_project(tmp_path / "project", cache)
    run = run_pipeline(project)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    # the weights were there, fetched and verified: nothing was fetched or downloaded again
    assert "rule fetch_" not in out and "rule download_models" not in out
    results = project / "results" / "two"
    log = (project / "logs" / "two" / "search" / "0000-0001.log").read_text()
    assert log.count("searching sentence") == 2 and ("on cpu" in log or "on cuda" in log), log[-2000:]
    # the film, at the generator's 512 px: every frame its plan has (fixed pacing: hold, walk, hold)
    size, frames = pinned.film_thumbnails(results / "film.mp4")
    hold, steps = SMALL["film"]["hold"], SMALL["film"]["steps"]
    assert size == [512, 512, 3] and len(frames) == 2 * hold + steps, (size, len(frames))
    assert json.loads((results / "film.json").read_text())["frames"] == len(frames)
    assert np.ptp(np.stack(frames)) > 20  # random weights, yet an image: not a flat or blank frame
    from machine_imagination.latents import Latents

    latents = Latents.load(results / "latents" / "0001.npz")
    assert latents.generator == f"{cache}/biggan/biggan-deep-512" and latents.search.clip.endswith("ViT-B-32-openai")
    assert np.isfinite(latents.search.loss) and latents.noise.shape == (128,) and latents.class_vector.shape == (1000,)
    verify = subprocess.run([sys.executable, "-m", "machine_imagination.cli", "verify", str(results)],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and "OK, every file matches its manifest" in verify.stdout, verify.stdout
    print(json.dumps(job_benchmarks(project), indent=1))  # the jobs' time and memory (reported, not asserted)
