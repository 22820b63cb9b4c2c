"""End to end: Snakemake on the tiny offline models over a 4-sentence text, and bad input."""
import re
import shutil
import subprocess
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, snakemake
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
STEPS, FPS, SIZE = 4, 10, 128
# Reading pacing at 600 words per minute between 0.3 and 0.8 s: holds of 4, 8, 8 and 8 frames.
FILM = dict(steps=STEPS, fps=FPS, size=SIZE, preset="ultrafast", crf=12, pacing="reading", words_per_minute=600,
            hold_min=0.3, hold_max=0.8, easing="ease-in-out", title_card=True, end_card=True, card_seconds=0.3,
            captions="both", credits="The End")


def small_config(**changes):
    config = yaml.safe_load((REPO / "config" / "offline.yaml").read_text())
    config["texts"] = {"four": "texts/four.txt"}
    config["search"].update(iterations=3, population=4, crops=4)
    config["film"].update(FILM)
    # A job per sentence and per segment: these tests follow each sentence's own jobs (blocks of several
    # are tests/test_long_texts.py's).
    config["search"]["sentences_per_job"] = config["film"]["segments_per_job"] = 1
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
    from machine_imagination.latents import Latents
    from machine_imagination.text import read_prompts_tsv

    out = results(project)
    rows = read_prompts_tsv(out / "prompts.tsv")
    assert [r["sentence"] for r in rows] == SENTENCES
    assert sorted(p.name for p in (out / "latents").iterdir()) == [f"{i:04d}.npz" for i in range(4)]
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{i:04d}.png" for i in range(4)]
    for i, row in enumerate(rows):
        record = Latents.load(out / "latents" / f"{i:04d}.npz")
        assert record.noise.shape == (128,) and record.class_mode == "logits" and record.class_vector.shape == (1000,)
        assert record.sentence.sentence == SENTENCES[i] and record.sentence.prompt == row["prompt"]
        assert record.seed == int(row["seed"]) and record.sentence.index == i
        assert record.generator == "resources/tiny-models/biggan-tiny"
        assert record.provenance["search"]["settings"]["population"] == 4
        assert record.provenance["search"]["packages"]["torch"] and record.provenance["judge"]["crops"] == 8
        assert len(record.search.history["loss_best"]) == 3
    for name in ("make_tiny_models.log", "four/split_text.log", "four/search/0000.log", "four/judge/0001.log",
                 "four/keep/0002.log", "four/render/0003.*.log"):
        assert list((project / "logs").glob(name)), name
    assert (project / "benchmarks" / "four" / "search" / "0002.tsv").is_file()
    from machine_imagination.search.history import read_history_tsv

    history = read_history_tsv(out / "history" / "0001.tsv")
    assert [row["iteration"] for row in history] == ["1", "2", "3"] and history[0]["phase"] == "cma-es"
    assert (out / "history" / "0001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "progress").exists()  # only with search.progress_video


def test_film_frames_size_cards_pacing_and_caption_timing(project):
    import subprocess

    from machine_imagination.film.captions import CaptionStyle, render_card
    from machine_imagination.film.plan import frame_plan
    from machine_imagination.film.walk import render_transition
    from machine_imagination.latents import Latents
    from machine_imagination.models.generator import load_generator
    from machine_imagination.render import render_still
    from machine_imagination.video import ffmpeg_exe

    out = results(project)
    config = yaml.safe_load((project / "config.yaml").read_text())
    from machine_imagination.project import validate_config

    film = validate_config(config)["film"]
    plan = frame_plan(film, SENTENCES)
    assert plan.holds == (4, 8, 8, 8) and plan.title == plan.end == 3
    meta, frames = decode(out / "film.mp4")
    total = plan.total_frames
    assert total == 3 + 4 + 8 + 8 + 8 + 3 * STEPS + 3
    assert meta["fps"] == FPS and meta["size"] == (SIZE, SIZE)
    assert frames.shape == (total, SIZE, SIZE, 3)
    streams = subprocess.run([ffmpeg_exe(), "-i", str(out / "film.mp4")], capture_output=True, text=True).stderr
    assert "Subtitle: mov_text" in streams  # captions: both -> burned in and a soft track

    # The frames the film should show, without captions: the cards, then the eased walk.
    generator = load_generator(str(project / "resources/tiny-models/biggan-tiny"))
    latents = [Latents.load(out / "latents" / f"{i:04d}.npz") for i in range(4)]
    style = CaptionStyle.from_config({"film": film})
    expected = [render_card("Four", SIZE, SIZE, style)] * plan.title
    for i in range(4):
        expected += [render_still(generator, latents[i], SIZE)] * plan.holds[i]
        if i < 3:
            walk = render_transition(generator, latents[i], latents[i + 1], STEPS, SIZE, 8, "ease-in-out")
            expected += list(np.concatenate(list(walk)))
    expected += [render_card("The End", SIZE, SIZE, style)] * plan.end
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
        assert shown == list(plan.caption_frames(i))
        captioned.update(shown)

    top, band = slice(0, SIZE // 2), slice(SIZE - SIZE // 5, SIZE)
    for f in range(total):
        # Above the captions, every frame is the walk's frame f (nothing lost, duplicated or reordered)...
        errors = np.abs(frames[f, top].astype(int)[None] - expected[:, top]).mean(axis=(1, 2, 3))
        assert errors[f] < 20 and (errors[f] <= errors.min() + 1e-9
                                   or np.allclose(expected[f], expected[errors.argmin()], atol=2)), f"frame {f}"
        # ...and the caption band differs from the plain image exactly while a caption is due.
        band_error = np.abs(frames[f, band].astype(int) - expected[f, band]).mean()
        assert (band_error > 25) == (f in captioned), f"frame {f}: band differs by {band_error:.1f}"


def test_contact_sheet_summary_manifest_and_report(project, snakemake_run):
    import subprocess
    import sys

    from PIL import Image

    out = results(project)
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.width > 4 * 256 and sheet.height > 256
    summary = (out / "summary.tsv").read_text().splitlines()
    assert summary[0].startswith("index\tsentence\tprompt\tseed") and len(summary) == 5
    assert summary[3].split("\t")[1] == SENTENCES[2]

    manifest = __import__("json").loads((out / "manifest.json").read_text())
    assert {"latents/0000.npz", "film.mp4", "contact_sheet.png", "segments/title.mp4"} <= set(manifest["files"])
    assert [s["seed"] for s in manifest["sentences"]] == [int(r.split("\t")[3]) for r in summary[1:]]
    assert manifest["environment"]["distributions"]["torch"] and manifest["models"]["generator"].endswith("biggan-tiny")

    verify = [sys.executable, "-m", "machine_imagination.cli", "verify", str(out)]
    ok = subprocess.run(verify, capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout

    report = snakemake_run(project, "--configfile", "config.yaml", "--report", "report.html")
    assert report.returncode == 0, report.stdout + report.stderr
    html = (project / "report.html").read_text()
    assert "contact_sheet.png" in html and "film.mp4" in html and "summary.tsv" in html


def test_tampered_results_fail_the_manifest_check(project, tmp_path):
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "four"
    shutil.copytree(results(project), copy)
    image = copy / "images" / "0001.png"
    image.write_bytes(image.read_bytes() + b"\0")
    (copy / "segments" / "0003.mp4").unlink()
    (copy / "extra.txt").write_text("x")
    run = subprocess.run([sys.executable, "-m", "machine_imagination.cli", "verify", str(copy)],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert "images/0001.png: changed" in run.stdout
    assert "segments/0003.mp4: missing" in run.stdout
    assert "extra.txt: not in the manifest" in run.stdout


def test_a_rerun_in_another_environment_warns_once_and_verify_says_how_to_reinstall(project, tmp_path,
                                                                                   snakemake_run):
    import json
    import shutil
    import subprocess
    import sys

    from machine_imagination.environment import read_lock

    copy = tmp_path / "copy"
    shutil.copytree(project, copy, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    path = results(copy) / "manifest.json"
    manifest = json.loads(path.read_text())
    environment = manifest["environment"]
    # what made the film: every installed package, the commit, the machine of Snakemake and of the jobs
    assert environment["distributions"]["torch"] and environment["distributions"]["snakemake"]
    assert re.fullmatch(r"[0-9a-f]{40}", environment["pipeline"]["commit"]) and environment["pipeline"]["dirty"] in (
        True, False)
    machine = environment["machine"]
    assert machine["cpu"].startswith(("x86_64 ", "aarch64 ")) and machine["gpu"] is None  # device: cpu
    assert environment["jobs"] == {"search": [{**machine, "count": 4}], "segments": [{**machine, "count": 4}]}

    def dry_run():
        run = snakemake_run(copy, "--configfile", "config.yaml", "-n")
        assert run.returncode == 0, run.stdout + run.stderr
        return [line for line in run.stderr.splitlines() if line.startswith("Warning: this run's environment")], run

    def verify():
        run = subprocess.run([sys.executable, "-m", "machine_imagination.cli", "verify", str(results(copy))],
                             capture_output=True, text=True)
        assert run.returncode == 0 and "OK, every file matches its manifest" in run.stdout, run.stdout + run.stderr
        return run.stdout

    # 1. the same environment: no warning, nothing to reinstall
    assert dry_run()[0] == [] and "to reinstall" not in verify()
    # 2. one locked version changed in the manifest: one warning before any job, naming it; verify too
    name = "numpy"
    installed = environment["distributions"][name]
    assert read_lock(REPO / "requirements.lock")[name] == installed
    environment["distributions"][name] = "1.0.0"
    path.write_text(json.dumps(manifest))
    warnings, run = dry_run()
    assert len(warnings) == 1, run.stderr
    assert f"results/four: {name} {installed} (the film: 1.0.0)" in run.stderr and "CPU kind" not in run.stderr
    report = verify()
    assert f"made in another environment than this one: {name} {installed} (the film: 1.0.0)" in report
    assert f"-m pip install --no-deps {name}==1.0.0" in report.split("to reinstall what made it:")[1]
    # 3. the film made on another kind of machine: the warning names the CPU kind
    environment["distributions"][name] = installed
    # (a kind unlike this machine's, whichever it is: CI's own CPU may be any of them)
    kind = "aarch64 ARM sve" if machine["cpu"].startswith("x86_64 ") else "x86_64 GenuineIntel avx512"
    other = {**machine, "cpu": kind}
    environment.update(machine=other, jobs={"search": [{**other, "count": 4}]})
    path.write_text(json.dumps(manifest))
    warnings, run = dry_run()
    assert len(warnings) == 1 and f"CPU kind {machine['cpu']} (the film: {kind})" in run.stderr
    assert "CPU kind" in verify()


def searched_bytes(out: Path) -> dict:
    """Every search's latents and image (candidate 0 of each sentence), as bytes."""
    files = (out / "candidates").glob("*/0.*")
    return {p.relative_to(out): p.read_bytes() for p in files if p.suffix in (".npz", ".png")}


def test_rerun_is_bit_identical_and_an_edit_reruns_only_what_it_touches(project, snakemake_run):
    out = results(project)
    latents = {p.name: p.read_bytes() for p in (out / "latents").iterdir()}

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
    from machine_imagination.latents import Latents

    assert Latents.load(out / "latents" / "0003.npz").seed == 12345

    # Every search run again gives the same bytes (the searches alone, forced: nothing downstream).
    # A latents file removed (else the job keeps them: the same search's files) stops the next run before
    # any job, naming it; `machine-imagination repair` removes the receipts that list them.
    before = searched_bytes(out)
    for latents in (out / "candidates").glob("*/0.npz"):
        latents.unlink()
    stopped = snakemake_run(project, "--configfile", "config.yaml", "-n")
    said = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0 and "candidates/0002/0.npz (listed by receipts/search/0002.json): missing" in said
    assert "machine-imagination repair results/four" in said and "Traceback" not in said, said
    repair = subprocess.run([sys.executable, "-m", "machine_imagination.cli", "repair", str(out)], capture_output=True,
                            text=True)
    assert repair.returncode == 0 and "4 job(s) to run again" in repair.stdout, repair.stdout + repair.stderr
    rerun = snakemake_run(project, *[f"results/four/receipts/search/{i:04d}.json" for i in range(4)],
                          "--configfile", "config.yaml")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert len(re.findall(r"rule search:", rerun.stdout + rerun.stderr)) == 4
    assert len(before) == 8 and searched_bytes(out) == before


def dag_graph(run_output: str) -> tuple[dict, set]:
    """The nodes (id -> 'rule:block') and the edges (id -> id) of `snakemake --dag` output."""
    labels = {}
    for node, label in re.findall(r'^\s*(\d+)\[label = "([^"]*)"', run_output, flags=re.M):
        parts = label.split("\\n")
        block = next((p.split(": ")[1] for p in parts if p.startswith("block: ")), "")
        labels[node] = f"{parts[0]}:{block}"
    return labels, set(re.findall(r"^\s*(\d+) -> (\d+)", run_output, flags=re.M))


def test_story_option_chains_the_searches_in_the_dag(tmp_path, snakemake_run):
    # Sentence i+1's search starts from sentence i's kept candidate: search i -> judge i -> keep i -> search i+1.
    for story in (False, True):
        project = make_project(tmp_path / str(story), small_config(**{"search.story": story}))
        run = snakemake_run(project, "--configfile", "config.yaml", "--dag")
        assert run.returncode == 0, run.stderr
        nodes, edges = dag_graph(run.stdout)  # (Snakemake leaves some jobs' wildcards out of their labels)
        searches = {node: label for node, label in nodes.items() if label.startswith("search:")}
        assert sorted(searches.values()) == [f"search:{i:04d}" for i in range(4)]
        after = {a: {b for x, b in edges if x == a} for a in nodes}
        chained = {(searches[a], searches[d]) for a in searches for b in after[a] if nodes[b].startswith("judge:")
                   for c in after[b] if nodes[c].startswith("keep:") for d in after[c] if d in searches}
        expected = {(f"search:{i:04d}", f"search:{i + 1:04d}") for i in range(3)}
        assert chained == (expected if story else set())


@dataclass(frozen=True)
class Hostile:
    """A careless or hostile input: the project's config, its text (None: no file), more files (a path
    relative to the project -> bytes, or a function of the project and the tiny models that makes them),
    and what the run and `machine-imagination check` both say: an error that stops them before any job
    (`fails`), or else a warning or note, the input being handled. `snakemake`: also run the workflow on
    it (for the others `check`, which calls what the workflow calls at parse time, stands for it)."""

    config: dict
    message: str
    text: bytes | None = TEXT.encode()
    files: dict = field(default_factory=dict)
    fails: bool = True
    snakemake: bool = False


def overrides(table: str) -> dict:
    return {"overrides.tsv": table.encode()}


def reading_with(labels: str) -> dict:
    """A recorded reading (4 s of silence, which ffmpeg decodes) and its Audacity label track."""
    def write(project, tiny_models):
        with wave.open(str(project / "reading.wav"), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(bytes(2 * 16000 * 4))
    return {"reading.wav": write, "labels.txt": labels.encode()}


def damaged_model(kind: str, name: str, damage) -> dict:
    """A copy of a tiny model (the generator or CLIP) in models/<kind>, one of its files damaged."""
    def write(project, tiny_models):
        source = tiny_models[0] if kind == "generator" else tiny_models[1]
        shutil.copytree(source, project / "models" / kind)
        target = project / "models" / kind / name
        target.write_bytes(damage(target.read_bytes()))
    return {f"models/{kind}": write}


def alias_bomb(levels: int = 6) -> list:
    value = ["lol"] * 10
    for _ in range(levels - 1):
        value = [value] * 10  # the same list: YAML writes it once, with an anchor, and aliases to it
    return value


def some_latents(path: Path, noise=None) -> Path:
    from machine_imagination.latents import Latents

    rng = np.random.default_rng(0)
    Latents(noise=rng.normal(size=128).astype(np.float32) if noise is None else noise,
            class_vector=rng.normal(size=1000).astype(np.float32), truncation=1.0).save(path)
    return path


def nan_latents(project, tiny_models):
    some_latents(project / "results" / "four" / "latents" / "0001.npz", np.full(128, np.nan, np.float32))


TABLE = "index\tseed\tprompt\n"
AUDIO = dict(audio={"four": {"reading": "reading.wav", "timing": "labels.txt"}}, **{"film.pacing": "audio"})
HOSTILE = {
    # files that are not a text
    "missing text file": Hostile(small_config(), "texts.four: text file 'texts/four.txt' does not exist", text=None,
                                 snakemake=True),
    "empty text file": Hostile(small_config(), "texts.four: text file 'texts/four.txt' contains no sentence", b"",
                               snakemake=True),
    "text without sentences": Hostile(small_config(), "contains no sentence", b"***\n---\n", snakemake=True),
    "non-UTF-8 text": Hostile(small_config(), "'texts/four.txt' is not UTF-8", "Caf\u00e9 noir.".encode("cp1252"),
                              snakemake=True),
    "UTF-16 text": Hostile(small_config(), "'texts/four.txt' is UTF-16 (it starts with a UTF-16 byte-order mark), "
                           "not UTF-8; convert it: `iconv -f utf-16 -t utf-8 ", TEXT.encode("utf-16")),
    "text path is a directory": Hostile(small_config(texts={"four": "texts"}),
                                        "texts.four: text file 'texts' is a directory, not a file"),
    "NUL in a text": Hostile(small_config(), "texts.four: text file 'texts/four.txt', line 3: control character "
                             "U+0000 (NUL)", TEXT.replace("spiral", "spi\0ral").encode(), snakemake=True),
    "a sentence of 20000 characters": Hostile(small_config(), "texts.four: text file 'texts/four.txt': sentence 1 "
                                              "has 20001 characters, more than the 10000",
                                              b"A fox.\n\n" + b"x" * 20000 + b"."),
    # the config
    "misspelled key": Hostile(small_config(**{"search.iteratons": 3}), "unknown config key 'search.iteratons'",
                              snakemake=True),
    "wrong type": Hostile(small_config(**{"film.fps": "thirty"}),
                          "config key 'film.fps': 'thirty' is not of type 'integer'", snakemake=True),
    "1e-4 is text to YAML": Hostile(small_config(**{"search.class_entropy": "1e-4"}),
                                    "config key 'search.class_entropy': '1e-4' is not of type 'number' (YAML reads "
                                    "1e-4 as text, not as a number: write 1.0e-4, with a dot)"),
    "infinite card_seconds": Hostile(small_config(**{"film.card_seconds": float("inf")}),
                                     "config key 'film.card_seconds': inf is not a finite number", snakemake=True),
    "NaN hold_max": Hostile(small_config(**{"film.hold_max": float("nan")}),
                            "config key 'film.hold_max': nan is not a finite number"),
    "a population that never finishes": Hostile(small_config(**{"search.population": 10**9}),
                                                "config key 'search.population': 1000000000 is greater than the "
                                                "maximum of 10000 (every generation renders and scores each "
                                                "candidate"),
    "a film.size that never finishes": Hostile(small_config(**{"film.size": 100000}),
                                               "config key 'film.size': 100000 is greater than the maximum of 8192"),
    "a YAML alias bomb": Hostile(small_config(**{"text.style": alias_bomb()}),
                                 "the config holds more than 100000 values or is nested deeper than 20 levels",
                                 snakemake=True),
    "a control character in credits": Hostile(small_config(**{"film.credits": "The\x1b[2J End"}),
                                              "config key 'film.credits': control character U+001B (ESCAPE)"),
    "a prompt weight of NaN": Hostile(small_config(**{"text.template": "{sentence}:nan"}),
                                      "text.template '{sentence}:nan': the weight of '{sentence}' is 'nan'",
                                      snakemake=True),
    "template without sentence": Hostile(small_config(**{"text.template": "a painting"}),
                                         "text.template 'a painting' does not contain {sentence}", snakemake=True),
    "unknown initial class": Hostile(small_config(**{"search.initial_class": "cheeseburgr"}),
                                     "search.initial_class': unknown ImageNet class 'cheeseburgr'; did you mean: "
                                     "cheeseburger", snakemake=True),
    "odd film size": Hostile(small_config(**{"film.size": 127}), "config key 'film.size': 127 is odd", snakemake=True),
    "bad caption colour": Hostile(small_config(**{"film.caption": {"color": "reddish"}}),
                                  "config key 'film.caption.color': 'reddish' is not a colour", snakemake=True),
    "a caption font that does not load": Hostile(small_config(**{"film.caption": {"font": "no-such-font.ttf"}}),
                                                 "film.caption.font: cannot load font 'no-such-font.ttf'"),
    # models
    "unknown generator": Hostile(small_config(**{"generator.model": "biggan-deep-1024"}),
                                 "generator.model: 'biggan-deep-1024' is neither a known BigGAN name", snakemake=True),
    "unknown clip model": Hostile(small_config(clip={"model": "ViT-Q-99", "pretrained": "openai"}),
                                  "clip.model: unknown open_clip model 'ViT-Q-99'", snakemake=True),
    "a CLIP checkpoint cut short": Hostile(
        small_config(clip={"model": "models/clip", "pretrained": None}),
        "clip.model: the checkpoint file 'models/clip/open_clip_pytorch_model.bin' is cut short",
        files=damaged_model("clip", "open_clip_pytorch_model.bin", lambda b: b[: len(b) // 2]), snakemake=True),
    "a generator config.json cut short": Hostile(
        small_config(**{"generator.model": "models/generator"}),
        "generator.model: the config file 'models/generator/config.json' is not valid JSON",
        files=damaged_model("generator", "config.json", lambda b: b[:40])),
    # overrides tables
    "missing overrides table": Hostile(small_config(overrides={"four": "nope.tsv"}),
                                       "texts.four: overrides table 'nope.tsv' does not exist", snakemake=True),
    "an overrides seed of 2**64": Hostile(small_config(overrides={"four": "overrides.tsv"}),
                                          "overrides table 'overrides.tsv', line 2: seed 18446744073709551616 is out "
                                          "of range: give 0 to 9223372036854775807",
                                          files=overrides(TABLE + f"1\t{2**64}\t\n"), snakemake=True),
    "an overrides seed of 2**63": Hostile(small_config(overrides={"four": "overrides.tsv"}),
                                          "overrides table 'overrides.tsv', line 2: seed 9223372036854775808 is out",
                                          files=overrides(TABLE + f"1\t{2**63}\t\n")),
    "an overrides prompt with a brace": Hostile(small_config(overrides={"four": "overrides.tsv"}),
                                                "overrides table 'overrides.tsv', line 3: prompt 'a {weird} fox' is "
                                                "not a valid template",
                                                files=overrides(TABLE + "0\t5\t\n2\t\ta {weird} fox\n")),
    "an overrides prompt weight of NaN": Hostile(small_config(overrides={"four": "overrides.tsv"}),
                                                 "overrides table 'overrides.tsv', line 2: prompt 'a fox:nan | a "
                                                 "bird:1': the weight of 'a fox' is 'nan'",
                                                 files=overrides(TABLE + "1\t\ta fox:nan | a bird:1\n")),
    "an overrides row with extra cells": Hostile(small_config(overrides={"four": "overrides.tsv"}),
                                                 "overrides table 'overrides.tsv', line 2: 4 cells, but the header "
                                                 "names 3 columns", files=overrides(TABLE + "1\t7\ta fox\tblurry\n")),
    "NUL in an overrides table": Hostile(small_config(overrides={"four": "overrides.tsv"}),
                                         "overrides table 'overrides.tsv', line 2: control character U+0000 (NUL)",
                                         files=overrides(TABLE + "1\t7\ta f\0x\n")),
    # sound
    "Audacity labels with negative times": Hostile(
        small_config(**AUDIO), "config key 'audio.four': labels.txt, line 1: the label's times '-1.0' and '-0.5' "
        "must be finite seconds", files=reading_with("-1.0\t-0.5\tone\n0.5\t1\ttwo\n1.5\t2\tthree\n"
                                                     "2.5\t3\tfour\n"), snakemake=True),
    "Audacity labels at NaN": Hostile(
        small_config(**AUDIO), "config key 'audio.four': labels.txt, line 2: the label's times 'nan' and 'nan'",
        files=reading_with("0\t0.4\tone\nnan\tnan\ttwo\n1.5\t2\tthree\n2.5\t3\tfour\n")),
    # handled: the run goes on, and says what it does about it
    "a sentence the caption font cannot draw": Hostile(
        small_config(), "texts.four: the caption font (", TEXT.replace("spiral", "螺旋").encode(), fails=False,
        snakemake=True),
    "a caption too long for the frame": Hostile(
        small_config(), "texts.four: the burned captions of sentence 1 (9000 characters) need more lines than fit",
        b"A fox.\n\n" + b"word " * 1799 + b"word.", fails=False),
    "latents that hold NaN": Hostile(
        small_config(), "latents file 'results/four/latents/0001.npz' holds noise with NaN or infinite values",
        files={"results/four/latents/0001.npz": nan_latents}, fails=False),  # no receipt lists it: a run
    # writes the kept latents over it (tests/test_long_texts.py: one that a receipt lists stops the run)
}


def make_hostile(path: Path, case: Hostile, tiny_models) -> Path:
    project = make_project(path, case.config, case.text)
    for name, content in case.files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        content(project, tiny_models) if callable(content) else (project / name).write_bytes(content)
    return project


def tree(project: Path) -> dict:
    return {p.relative_to(project).as_posix(): p.read_bytes() if p.is_file() else None for p in project.rglob("*")}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_careless_and_hostile_input_is_refused_before_any_job_or_handled(case, tmp_path, tiny_models, monkeypatch,
                                                                         capsys):
    """Each input stops `machine-imagination check` and (where `snakemake`) the workflow before any job,
    with the same message naming the file, line or key, and leaves what was computed before as it was;
    or it is handled, and both say how. `check` writes nothing."""
    from machine_imagination.cli import main

    hostile = HOSTILE[case]
    project = make_hostile(tmp_path, hostile, tiny_models)
    earlier = project / "results" / "four" / "latents" / "0000.npz"
    earlier.parent.mkdir(parents=True, exist_ok=True)
    computed = some_latents(earlier).read_bytes()
    before = tree(project)
    # 1. machine-imagination check
    monkeypatch.chdir(project)
    code = main(["check", "--configfile", "config.yaml"])
    said = capsys.readouterr()
    assert (code != 0) == hostile.fails, said.out + said.err
    assert hostile.message in (said.err if hostile.fails else said.out), said.out + said.err
    assert "Traceback" not in said.err and all(len(line) < 1000 for line in said.err.splitlines())
    assert tree(project) == before, "check writes nothing"
    if not hostile.snakemake:
        return
    # 2. the workflow: a dry run where the input is handled (its jobs would run)
    run = snakemake(project, "--configfile", "config.yaml", *(() if hostile.fails else ("--dry-run",)))
    output = run.stdout + run.stderr
    assert (run.returncode != 0) == hostile.fails, output[-3000:]
    assert hostile.message in output and "Traceback" not in output, output[-3000:]
    assert not (project / "resources").exists() and not (project / "logs").exists(), "no job may start"
    assert earlier.read_bytes() == computed
    if hostile.fails:
        assert sorted(p.relative_to(project / "results").as_posix() for p in (project / "results").rglob("*")) == \
            sorted(name.removeprefix("results/") for name in before if name.startswith("results/"))


def test_weights_that_cannot_be_fetched_stop_the_run_once_saying_what_to_do(tmp_path, snakemake_run, monkeypatch):
    """A named model on a machine that cannot reach it (here: the Hugging Face hub offline, an empty
    cache): one job fails, before any search, and its message says how to place the weights and how
    to try the pipeline offline."""
    project = make_project(tmp_path, small_config(clip={"model": "ViT-B-32", "pretrained": "openai"}))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    run = snakemake_run(project, "--configfile", "config.yaml")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "could not fetch CLIP 'ViT-B-32' / 'openai'" in output
    assert "weights.cache" in output and "--configfile config/demo.yaml" in output
    assert output.count("Error in rule") == 1 and "Error in rule download_models" in output
    assert not (project / "logs" / "four" / "search").exists(), "no search job may start"


def test_windows_line_endings_give_the_same_jobs(tmp_path, snakemake_run):
    unix = make_project(tmp_path / "unix", small_config(), TEXT.replace("\r\n", "\n").encode())
    windows = make_project(tmp_path / "windows", small_config(), TEXT.replace("\r\n", "\n").replace("\n", "\r\n").encode())
    plans = []
    for project in (unix, windows):
        run = snakemake_run(project, "--configfile", "config.yaml", "--dry-run", "--quiet", "rules")
        assert run.returncode == 0, run.stdout + run.stderr
        plans.append(dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout + run.stderr, re.MULTILINE)))
    assert plans[0] == plans[1] and plans[0]["search"] == plans[0]["render"] == "4"
