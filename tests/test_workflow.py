"""End to end: Snakemake on the tiny offline models over a 4-sentence text, and bad input."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO
from test_walk_and_film import decode

pytestmark = pytest.mark.e2e

TEXT = (
    "The Lighthouse at Dusk\n\n"
    "A keeper climbs the spiral stairs with a lantern.\r\n"
    "The sea turns violet and a boat hurries home.\r\n\r\n"
    "At dawn a fox trots along the wet sand.\r\n"
)
SENTENCES = [
    "The Lighthouse at Dusk",
    "A keeper climbs the spiral stairs with a lantern.",
    "The sea turns violet and a boat hurries home.",
    "At dawn a fox trots along the wet sand.",
]
HOLD, STEPS, FPS, SIZE = 3, 4, 10, 128


def small_config(**changes):
    config = yaml.safe_load((REPO / "config" / "offline.yaml").read_text())
    config["texts"] = {"four": "texts/four.txt"}
    config["search"].update(iterations=3, population=4, crops=4)
    config["film"].update(hold=HOLD, steps=STEPS, fps=FPS, size=SIZE, preset="ultrafast", crf=12)
    for key, value in changes.items():
        section, _, name = key.partition(".")
        if name:
            config[section][name] = value
        else:
            config[section] = value
    return config


def make_project(path: Path, config: dict, text: bytes | None = TEXT.encode()) -> Path:
    (path / "texts").mkdir(parents=True, exist_ok=True)
    if text is not None:
        (path / "texts" / "four.txt").write_bytes(text)
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory, snakemake_run):
    workdir = make_project(tmp_path_factory.mktemp("project"), small_config())
    run = snakemake_run(workdir, "--configfile", "config.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    return workdir


def results(project):
    return project / "results" / "four"


def test_outputs_are_named_by_index_and_record_what_made_them(project):
    from machine_imagination.latents import load_latents
    from machine_imagination.text import read_prompts_tsv

    out = results(project)
    rows = read_prompts_tsv(out / "prompts.tsv")
    assert [r["sentence"] for r in rows] == SENTENCES
    assert sorted(p.name for p in (out / "latents").iterdir()) == [f"{i:04d}.npz" for i in range(4)]
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{i:04d}.png" for i in range(4)]
    for i, row in enumerate(rows):
        record = load_latents(out / "latents" / f"{i:04d}.npz")
        assert record["noise"].shape == (128,) and record["class_logits"].shape == (1000,)
        assert record["sentence"] == SENTENCES[i] and record["prompt"] == row["prompt"]
        assert record["seed"] == int(row["seed"]) and record["index"] == i
        assert record["generator"] == "resources/tiny-models/biggan-tiny"
        assert record["provenance"]["settings"]["search"]["population"] == 4
        assert record["provenance"]["packages"]["torch"]
        assert len(record["history_loss_best"]) == 3
    for name in ("make_tiny_models.log", "four/split_text.log", "four/search/0000.log", "four/segments/0003.log"):
        assert (project / "logs" / name).is_file()
    assert (project / "benchmarks" / "four" / "search" / "0002.tsv").is_file()
    from machine_imagination.history import read_history_tsv

    history = read_history_tsv(out / "history" / "0001.tsv")
    assert [row["iteration"] for row in history] == ["1", "2", "3"] and history[0]["phase"] == "cma-es"
    assert (out / "history" / "0001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "progress").exists()  # only with search.progress_video


def test_film_frames_size_and_caption_timing(project):
    from machine_imagination.latents import load_latents
    from machine_imagination.models import load_generator
    from machine_imagination.walk import render_still, render_transition

    out = results(project)
    meta, frames = decode(out / "film.mp4")
    total = 4 * HOLD + 3 * STEPS
    assert meta["fps"] == FPS and meta["size"] == (SIZE, SIZE)
    assert frames.shape == (total, SIZE, SIZE, 3)

    # The frames the film should show, without captions, rendered from the stored latents.
    generator = load_generator(str(project / "resources/tiny-models/biggan-tiny"))
    latents = [load_latents(out / "latents" / f"{i:04d}.npz") for i in range(4)]
    expected = []
    for i in range(4):
        expected += [render_still(generator, latents[i], SIZE)] * HOLD
        if i < 3:
            expected += list(np.concatenate(list(render_transition(generator, latents[i], latents[i + 1], STEPS, SIZE, 8))))
    expected = np.stack(expected).astype(int)
    assert len(expected) == total

    # Captions, from film.srt, converted to frame numbers.
    cues = re.findall(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+)\n",
                      (out / "film.srt").read_text())
    assert [c[-1] for c in cues] == SENTENCES

    def ms(h, m, s, milli):
        return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(milli)

    captioned = set()
    for i, cue in enumerate(cues):
        start, end = ms(*cue[1:5]), ms(*cue[5:9])
        shown = [f for f in range(total) if start <= f * 1000 / FPS < end]
        assert shown == list(range(i * (HOLD + STEPS), i * (HOLD + STEPS) + HOLD))
        captioned.update(shown)

    top, band = slice(0, SIZE // 2), slice(SIZE - SIZE // 5, SIZE)
    for f in range(total):
        # Above the captions, every frame is the walk's frame f (nothing lost, duplicated or reordered)...
        errors = np.abs(frames[f, top].astype(int)[None] - expected[:, top]).mean(axis=(1, 2, 3))
        assert errors[f] < 12 and errors[f] <= errors.min() + 1e-9 or np.allclose(expected[f], expected[errors.argmin()], atol=2)
        # ...and the caption band differs from the plain image exactly while a caption is due.
        band_error = np.abs(frames[f, band].astype(int) - expected[f, band]).mean()
        assert (band_error > 25) == (f in captioned), f"frame {f}: band differs by {band_error:.1f}"


def test_rerun_is_bit_identical_and_an_edit_reruns_only_what_it_touches(project, snakemake_run):
    out = results(project)
    latents = {p.name: p.read_bytes() for p in (out / "latents").iterdir()}
    images = {p.name: p.read_bytes() for p in (out / "images").iterdir()}

    rerun = snakemake_run(project, "--configfile", "config.yaml", "--forcerun", "search_prompt")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert {p.name: p.read_bytes() for p in (out / "latents").iterdir()} == latents
    assert {p.name: p.read_bytes() for p in (out / "images").iterdir()} == images

    stamps = {p.relative_to(out).as_posix(): p.stat().st_mtime_ns
              for d in ("latents", "segments") for p in (out / d).iterdir()}
    text = project / "texts" / "four.txt"
    text.write_bytes(text.read_bytes().replace(b"a boat hurries home", b"a red ship sails away"))
    edit = snakemake_run(project, "--configfile", "config.yaml")
    assert edit.returncode == 0, edit.stdout + edit.stderr
    changed = sorted(k for k, v in stamps.items() if (out / k).stat().st_mtime_ns != v)
    assert changed == ["latents/0002.npz", "segments/0001.mp4", "segments/0002.mp4"]
    assert {p.name: p.read_bytes() for p in (out / "latents").iterdir() if p.name != "0002.npz"} == {
        k: v for k, v in latents.items() if k != "0002.npz"}
    assert "a red ship sails away" in (out / "film.srt").read_text()
    assert "a red ship sails away" in (out / "prompts.tsv").read_text()

    # Re-rolling one image with the overrides table: only that sentence is searched again.
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "latents").iterdir()}
    (project / "reroll.tsv").write_text("index\tseed\n3\t12345\n")
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["overrides"] = {"four": "reroll.tsv"}
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    reroll = snakemake_run(project, "--configfile", "config.yaml")
    assert reroll.returncode == 0, reroll.stdout + reroll.stderr
    assert sorted(k for k, v in stamps.items() if (out / "latents" / k).stat().st_mtime_ns != v) == ["0003.npz"]
    from machine_imagination.latents import load_latents

    assert load_latents(out / "latents" / "0003.npz")["seed"] == 12345


def dag_edges(run_output: str) -> set:
    """(rule:index -> rule:index) edges of `snakemake --dag` output."""
    labels = {}
    for node, label in re.findall(r'^\s*(\d+)\[label = "([^"]*)"', run_output, flags=re.M):
        parts = label.split("\\n")
        index = next((p.split(": ")[1] for p in parts if p.startswith("index: ")), "")
        labels[node] = f"{parts[0]}:{index}"
    return {(labels[a], labels[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", run_output, flags=re.M)}


def test_story_option_chains_the_searches_in_the_dag(tmp_path, snakemake_run):
    searches = {f"search_prompt:{i:04d}" for i in range(4)}
    for story in (False, True):
        project = make_project(tmp_path / str(story), small_config(**{"search.story": story}))
        run = snakemake_run(project, "--configfile", "config.yaml", "--dag")
        assert run.returncode == 0, run.stderr
        chained = {(a, b) for a, b in dag_edges(run.stdout) if a in searches and b in searches}
        expected = {(f"search_prompt:{i:04d}", f"search_prompt:{i + 1:04d}") for i in range(3)}
        assert chained == (expected if story else set())


BAD_INPUT = {
    "missing text file": (small_config(), None, "texts.four: text file 'texts/four.txt' does not exist"),
    "empty text file": (small_config(), b"", "texts.four: text file 'texts/four.txt' contains no sentence"),
    "text without sentences": (small_config(), b"***\n---\n", "contains no sentence"),
    "non-UTF-8 text": (small_config(), "Caf\u00e9 noir.".encode("cp1252"), "'texts/four.txt' is not UTF-8"),
    "misspelled key": (small_config(**{"search.iteratons": 3}), TEXT.encode(), "unknown config key 'search.iteratons'"),
    "wrong type": (small_config(**{"film.fps": "thirty"}), TEXT.encode(), "config key 'film.fps': 'thirty' is not of type 'integer'"),
    "unknown generator": (small_config(**{"generator.model": "biggan-deep-1024"}), TEXT.encode(),
                          "generator.model: 'biggan-deep-1024' is neither a known BigGAN name"),
    "unknown clip model": (small_config(clip={"model": "ViT-Q-99", "pretrained": "openai"}), TEXT.encode(),
                           "clip.model: unknown open_clip model 'ViT-Q-99'"),
    "template without sentence": (small_config(**{"text.template": "a painting"}), TEXT.encode(),
                                  "text.template 'a painting' does not contain {sentence}"),
    "unknown initial class": (small_config(**{"search.initial_class": "cheeseburgr"}), TEXT.encode(),
                              "search.initial_class': unknown ImageNet class 'cheeseburgr'; did you mean: cheeseburger"),
    "missing overrides table": (small_config(overrides={"four": "nope.tsv"}), TEXT.encode(),
                                "texts.four: overrides table 'nope.tsv' does not exist"),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_stops_before_any_job_and_keeps_earlier_results(case, tmp_path, snakemake_run):
    config, text, message = BAD_INPUT[case]
    project = make_project(tmp_path, config, text)
    earlier = project / "results" / "four" / "latents" / "0000.npz"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"computed earlier")
    run = snakemake_run(project, "--configfile", "config.yaml")
    assert run.returncode != 0
    assert message in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert not (project / "resources").exists() and not (project / "logs").exists(), "no job may start"
    assert earlier.read_bytes() == b"computed earlier"
    assert sorted(p.name for p in (project / "results" / "four").rglob("*")) == ["0000.npz", "latents"]


def test_windows_line_endings_give_the_same_jobs(tmp_path, snakemake_run):
    unix = make_project(tmp_path / "unix", small_config(), TEXT.replace("\r\n", "\n").encode())
    windows = make_project(tmp_path / "windows", small_config(), TEXT.replace("\r\n", "\n").replace("\n", "\r\n").encode())
    plans = []
    for project in (unix, windows):
        run = snakemake_run(project, "--configfile", "config.yaml", "--dry-run", "--quiet", "rules")
        assert run.returncode == 0, run.stdout + run.stderr
        plans.append(re.findall(r"search_prompt\s+(\d+)", run.stdout + run.stderr))
    assert plans[0] == plans[1] and plans[0][0] == "4"
