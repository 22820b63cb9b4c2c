"""A rerun redoes exactly what an edit affects: for each edit of a finished project (the shapes world,
two candidates per sentence, a job per sentence), the jobs a dry run plans are exactly those whose
output the edit changes; run, the outputs that should not change are byte-identical; a dry run, --lint
and --report change nothing on disk."""
import hashlib
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import copy_project, snakemake
from machine_imagination.latents import Latents

pytestmark = pytest.mark.e2e

BLOCKS = [f"{i:04d}" for i in range(4)]
# What a keep job's outputs reach besides the film's segments: the sheets, the summary, the film joined
# again (it waits for every keep job), the review page (it shows the film), the timings table and the
# manifest.
AFTER_KEEP = {"contact_sheet", "candidates_sheet", "summarize", "assemble_film", "review_page", "tabulate_timings",
              "write_manifest"}


def every(rule: str, blocks=BLOCKS) -> set:
    return {f"{rule}:{block}" for block in blocks}


def planned(project, *args) -> set:
    """The jobs `snakemake -n` plans, as 'rule:block' (or 'rule:card', or the rule alone); never 'all'."""
    run = snakemake(project, "--configfile", "config.yaml", "--dry-run", *args)
    assert run.returncode == 0, run.stdout + run.stderr
    jobs = set()
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)*)", run.stdout, re.MULTILINE):
        wildcards = dict(re.findall(r"(\w+)=([\w.-]+)", next(iter(re.findall(r"wildcards: (.*)", body)), "")))
        label = wildcards.get("block") or wildcards.get("card")
        if rule != "all":
            jobs.add(f"{rule}:{label}" if label else rule)
    return jobs


def edit(project, change) -> None:
    config = yaml.safe_load((project / "config.yaml").read_text())
    change(config, project)
    (project / "config.yaml").write_text(yaml.safe_dump(config))


def setting(key, value):
    def change(config, project):
        section, name = key.split(".")
        config[section][name] = value
    return change


def overrides(table):
    def change(config, project):
        (project / "overrides.tsv").write_text(table)
        config["overrides"] = {"shapes": "overrides.tsv"}
    return change


def segments(*indices) -> set:
    return {f"render:{i:04d}" for i in indices}


# edit -> the jobs it must plan (and no others)
MATRIX = {
    "search.checkpoint_every": (setting("search.checkpoint_every", 3), set()),
    "search.progress_video": (setting("search.progress_video", True), every("progress") | {"write_manifest"}),
    "judge.crops": (setting("judge.crops", 2), every("judge") | every("keep") | every("render") | AFTER_KEEP),
    "judge.model": (setting("judge.model", None), every("judge") | every("keep") | every("render") | AFTER_KEEP),
    "film.credits": (setting("film.credits", "The end of the shapes"),
                     {"render_card:end", "assemble_film", "review_page", "write_manifest"}),
    "film.voice (no narration)": (setting("film.voice", "de"), set()),
    "film.crf": (setting("film.crf", 23), every("render") | {"render_card:title", "render_card:end", "assemble_film",
                                                             "review_page", "tabulate_timings", "write_manifest"}),
    "search.threads (changes bits)": (setting("search.threads", 2), every("search") | every("judge") | every("keep")
                                      | every("render") | AFTER_KEEP),
    "text.style": (setting("text.style", ", drawn"), {"split_text"} | every("search") | every("judge") | every("keep")
                   | every("render") | AFTER_KEEP),
    "a prompt override": (overrides("index\tprompt\n2\ta big blue square at the bottom right\n"),
                          {"split_text", "search:0002", "judge:0002", "keep:0002"} | segments(1, 2) | AFTER_KEEP),
    "a pick": (overrides("index\tcandidate\n2\t1\n"), {"keep:0002"} | segments(1, 2) | AFTER_KEEP),
    "iterations of one sentence": (overrides("index\titerations\n3\t4\n"),
                                   {"search:0003", "judge:0003", "keep:0003"} | segments(2, 3) | AFTER_KEEP),
    "search.race (the candidates raced)": (setting("search.race", {"rounds": [1], "keep": [1]}),
                                           every("search") | every("judge") | every("keep") | every("render")
                                           | AFTER_KEEP),
}


def test_every_candidate_is_kept_and_each_sentence_is_its_best_judged(shapes_project):
    from PIL import Image

    out = shapes_project / "results" / "shapes"
    for i in range(4):
        names = sorted(p.name for p in (out / "candidates" / f"{i:04d}").iterdir())
        assert names == sorted(f"{k}{suffix}" for k in range(2)
                               for suffix in (".npz", ".png", ".tsv", "-history.png", "-steps.npz", "-judge.json"))
        kept = Latents.load(out / "latents" / f"{i:04d}.npz")
        candidates = [Latents.load(out / "candidates" / f"{i:04d}" / f"{k}.npz") for k in range(2)]
        scores = [json.loads((out / "candidates" / f"{i:04d}" / f"{k}-judge.json").read_text())["judge2_similarity"]
                  for k in range(2)]
        assert kept.candidates.kept == int(np.argmax(scores)) and kept.candidates.picked_by == "judge"
        assert kept.candidates.scores == tuple(scores) and kept.candidates.seeds == tuple(c.seed for c in candidates)
        assert np.array_equal(kept.noise, candidates[kept.candidates.kept].noise)
        image = (out / "images" / f"{i:04d}.png").read_bytes()
        assert image == (out / "candidates" / f"{i:04d}" / f"{kept.candidates.kept}.png").read_bytes()
    summary = [line.split("\t") for line in (out / "summary.tsv").read_text().splitlines()]
    assert summary[0][-2:] == ["candidate", "picked_by"]
    assert [row[-2:] for row in summary[1:]] == [
        [str(Latents.load(out / "latents" / f"{i:04d}.npz").candidates.kept), "judge"] for i in range(4)]
    sheet = Image.open(out / "candidates.png")
    assert sheet.width > 2 * 160 and sheet.height > 4 * 160
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"candidates.png", "candidates/0003/1.npz", "candidates/0003/1-judge.json"} <= set(manifest["files"])
    assert not [name for name in manifest["files"] if name.startswith("receipts/")]


def test_each_edit_plans_exactly_the_jobs_it_affects(shapes_project, tmp_path):
    project = copy_project(shapes_project, tmp_path / "project")
    original = (project / "config.yaml").read_text()
    assert planned(project) == set(), "the finished project has nothing left to do"
    wrong = {}
    for name, (change, expected) in MATRIX.items():
        (project / "config.yaml").write_text(original)
        edit(project, change)
        found = planned(project)
        if found != expected:
            wrong[name] = {"planned but not expected": sorted(found - expected),
                           "expected but not planned": sorted(expected - found)}
    assert not wrong, wrong


def test_in_a_raced_project_a_judge_edit_races_again(shapes_project, tmp_path):
    """Plain candidates only re-judge after a `judge:` edit (MATRIX); raced ones race again, since the judge
    decided who was searched to the end: a finished raced project plans every search after one."""
    project = copy_project(shapes_project, tmp_path / "project")
    edit(project, setting("search.race", {"rounds": [1], "keep": [1]}))
    run = snakemake(project, "--configfile", "config.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert planned(project) == set()
    for i in range(4):
        race = Latents.load(project / "results" / "shapes" / "latents" / f"{i:04d}.npz").race
        assert race is not None and race.rounds == (1,) and sorted(race.reached) == [1, 3], race
    crops = yaml.safe_load((project / "config.yaml").read_text())["judge"]["crops"]
    edit(project, setting("judge.crops", crops + 1))
    assert planned(project) == every("search") | every("judge") | every("keep") | every("render") | AFTER_KEEP
    edit(project, setting("judge.crops", crops))
    assert planned(project) == set(), "the judge as it was: nothing to do"


def digests(root, pattern) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.glob(pattern)}


def test_runs_after_an_edit_change_only_what_it_affects(shapes_project, tmp_path):
    from machine_imagination.project import validate_config
    from machine_imagination.search.judge import JudgeSettings, judge
    from machine_imagination.search.load import load_judge_clip, load_models
    from machine_imagination.search.settings import SearchSettings

    project = copy_project(shapes_project, tmp_path / "project")
    out = project / "results" / "shapes"
    searched = digests(out, "candidates/*/[0-9].*")
    # 1. a pick: sentence 2 keeps its other candidate, nothing is searched or judged again, and only the
    #    two segments walking from and to it are rendered again
    other = 1 - Latents.load(out / "latents" / "0002.npz").candidates.kept
    before = digests(out, "*/*.*")
    edit(project, overrides(f"index\tcandidate\n2\t{other}\n"))
    run = snakemake(project, "--configfile", "config.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    after = digests(out, "*/*.*")
    changed = {name for name in before if before[name] != after.get(name)}
    assert {"latents/0002.npz", "images/0002.png", "segments/0001.mp4", "segments/0002.mp4"} <= changed
    assert not {n for n in changed if n.startswith(("candidates/", "latents/", "images/", "segments/"))} - {
        "latents/0002.npz", "images/0002.png", "history/0002.tsv", "history/0002.png", "segments/0001.mp4",
        "segments/0002.mp4"}, changed
    picked = Latents.load(out / "latents" / "0002.npz").candidates
    assert (picked.kept, picked.picked_by) == (other, "overrides")
    assert (out / "images" / "0002.png").read_bytes() == (out / "candidates" / "0002" / f"{other}.png").read_bytes()
    # 2. another judge: every candidate judged again, none searched; the kept latents carry the scores
    #    of a fresh judge of the same candidates, and who judged
    edit(project, setting("judge.crops", 2))
    run = snakemake(project, "--configfile", "config.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert digests(out, "candidates/*/[0-9].*") == searched
    config = validate_config(yaml.safe_load((project / "config.yaml").read_text()))
    config["generator"]["model"] = str(project / config["generator"]["model"])
    config["clip"]["model"] = str(project / config["clip"]["model"])
    config["judge"]["model"] = str(project / config["judge"]["model"])
    generator, clip = load_models(config, SearchSettings.from_config(config))
    judge_clip = load_judge_clip(config, generator.device)
    for i in range(4):
        kept = Latents.load(out / "latents" / f"{i:04d}.npz")
        fresh = []
        for k in range(2):
            candidate = Latents.load(out / "candidates" / f"{i:04d}" / f"{k}.npz")
            scores = judge(generator, clip, candidate, [tuple(p) for p in candidate.provenance["search"]["prompt"]],
                           SearchSettings.from_config(config), candidate.seed, crops=2, judge_clip=judge_clip)
            fresh.append(scores["judge2_similarity"])
        assert kept.candidates.scores == pytest.approx(tuple(fresh), abs=1e-6)
        assert kept.provenance["judge"]["crops"] == JudgeSettings.from_config(config).crops == 2
    # 3. progress videos, made from what the searches kept: nothing else changes
    before = digests(out, "*/*.*")
    edit(project, setting("search.progress_video", True))
    run = snakemake(project, "--configfile", "config.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "searching sentence" not in "".join(p.read_text() for p in (project / "logs").rglob("progress/*.log"))
    after = digests(out, "*/*.*")
    assert {n for n in after if n not in before} == {f"progress/{i:04d}.mp4" for i in range(4)}
    assert not {n for n in before if before[n] != after[n]}
    assert len(list(out.glob("candidates/*/[01].mp4"))) == 8
    verify = subprocess.run([sys.executable, "-m", "machine_imagination.cli", "verify", str(out)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout


def tree(root) -> dict:
    """Every file under `root` (names, sizes, times, bytes' digests)."""
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in root.rglob("*") if p.is_file()}


def test_a_dry_run_lint_and_report_change_nothing_on_disk(shapes_project, tmp_path):
    project = copy_project(shapes_project, tmp_path / "project")
    out = project / "results"
    # a latents file damaged at its size: only a job that reads it can tell (the run's start compares sizes)
    damaged = out / "shapes" / "latents" / "0001.npz"
    damaged.write_bytes(bytes(damaged.stat().st_size))
    edit(project, setting("film.crf", 23))  # so that the dry run plans work
    before = tree(out)
    assert planned(project)
    for args in (["--lint"], ["--report", str(tmp_path / "report.html")], ["--dry-run", "--quiet", "rules"]):
        run = snakemake(project, "--configfile", "config.yaml", *args)
        assert run.returncode == 0, run.stdout + run.stderr
        assert tree(out) == before, args
    # a file cut short stops even a dry run, naming it, and changes nothing either
    damaged.write_bytes(b"cut")
    before = tree(out)
    run = snakemake(project, "--configfile", "config.yaml", "--dry-run")
    assert run.returncode != 0 and "latents/0001.npz (listed by receipts/keep/0001.json): 3 bytes" in run.stdout
    assert tree(out) == before
