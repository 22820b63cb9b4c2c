"""The offline demo end to end: config/demo.yaml through Snakemake on the shipped shapes models, and
the film shows what its text says (judged from the pixels, no learned model)."""
import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import REPO
from machine_imagination.worlds import shapes
from test_walk_and_film import decode

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory, snakemake_run):
    workdir = tmp_path_factory.mktemp("demo")
    for name in ("config", "texts", "models"):
        (workdir / name).symlink_to(REPO / name)
    run = snakemake_run(workdir, "--configfile", "config/demo.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    return workdir / "results" / "shapes-demo"


def test_every_image_of_the_demo_shows_its_sentence(demo):
    sentences = [line for line in (REPO / "texts" / "shapes-demo.txt").read_text().splitlines() if line.strip()]
    assert len(sentences) >= 6
    verdicts = []
    for i, sentence in enumerate(sentences):
        wanted = shapes.parse_description(sentence)
        assert wanted.shape and wanted.colour, f"the demo text must use the world's words: {sentence!r}"
        image = np.asarray(Image.open(demo / "images" / f"{i:04d}.png").convert("RGB"))
        verdicts.append(shapes.judge_prompt(image, wanted)["all"])
    # The demo (four candidates raced, two of them from starts of their own, each kept as its best judged
    # image) gets 99 % of held-out prompts right on four seeds it was not chosen on (docs/quality.md, "Own
    # starts in a pooled race").
    assert sum(verdicts) >= len(sentences) - 1, verdicts  # two wrong in 9 would be over ten times the rate


def test_the_demo_film_has_every_frame_its_plan_says(demo):
    import json

    from machine_imagination.film.plan import frame_plan
    from machine_imagination.project import validate_config

    config = validate_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text()))
    film = json.loads((demo / "film.json").read_text())
    meta, frames = decode(demo / "film.mp4")
    size = config["film"]["size"]
    assert meta["size"] == (size, size) and meta["fps"] == config["film"]["fps"]
    sentences = [line for line in (REPO / "texts" / "shapes-demo.txt").read_text().splitlines() if line.strip()]
    assert len(frames) == frame_plan(config["film"], sentences).total_frames == film["frames"]
    assert (demo / "contact_sheet.png").is_file() and (demo / "manifest.json").is_file()
