"""Several candidates per sentence (search.candidates): seeds, the pick, the files, resuming a killed
job, and the artist's pick in the overrides table."""
import subprocess
import sys

import numpy as np
import pytest

from machine_imagination.latents import Candidates, Latents, Race, SearchOutcome
from machine_imagination.search.candidates import SearchFiles, candidate_seed, keep_candidate
from machine_imagination.text import TextError, read_overrides
from conftest import run_until_killed, write_search_job
from test_pipeline import tiny_config


def test_candidate_seeds_start_with_the_sentence_seed_and_do_not_depend_on_the_count():
    assert candidate_seed(1234, 0) == 1234
    seeds = [candidate_seed(1234, k) for k in range(8)]
    assert len(set(seeds)) == 8
    assert seeds[:3] == [candidate_seed(1234, k) for k in range(3)]
    assert candidate_seed(1235, 1) != candidate_seed(1234, 1)


def scored(judge, loss, judge2=None, seed=0):
    search = SearchOutcome(loss=loss, similarity=0.0, start_loss=0.0, best_iteration=0, optimizer="cma-es",
                           initial_class="random-mix", clip="c", judge_similarity=judge, judge2_similarity=judge2)
    return Latents(noise=np.zeros(4, np.float32), class_vector=np.zeros(3, np.float32), seed=seed, search=search)


def test_the_pick_is_the_best_judge_score_never_the_loss():
    candidates = [scored(0.2, loss=10, seed=5), scored(0.4, loss=90, seed=6), scored(0.3, loss=1, seed=7)]
    choice = Candidates.among(candidates)
    assert (choice.kept, choice.picked_by) == (1, "judge")
    assert choice.seeds == (5, 6, 7) and choice.scores == (0.2, 0.4, 0.3) and choice.losses == (10, 90, 1)
    # With a second CLIP (judge.model), its score decides.
    with_judge2 = [scored(0.9, 1, judge2=0.1), scored(0.1, 1, judge2=0.5)]
    assert Candidates.among(with_judge2).kept == 1
    picked = Candidates.among(candidates, pick=2)
    assert (picked.kept, picked.picked_by) == (2, "overrides")
    with pytest.raises(ValueError, match="candidate 3 does not exist"):
        Candidates.among(candidates, pick=3)
    # One candidate is kept as it is (the report's sheet of a one-candidate record); several need scores.
    alone = Candidates.among([scored(None, loss=3, seed=9)])
    assert (alone.kept, alone.seeds, alone.losses) == (0, (9,), (3,)) and np.isnan(alone.scores[0])
    with pytest.raises(ValueError, match="a candidate has no judge score"):
        Candidates.among([scored(None, 1), scored(0.5, 1)])


def test_the_candidates_sheet_captions_stay_under_their_own_image(tmp_path):
    """Ten-digit seeds (what candidate_seed gives) and scores: no caption runs into the next column."""
    from PIL import Image

    from machine_imagination.report.candidates_sheet import CandidateRow, candidates_sheet

    images = []
    for k in range(3):
        images.append(tmp_path / f"{k}.png")
        Image.new("RGB", (64, 64), (40 * k, 90, 200)).save(images[-1])
    choice = Candidates.among([scored(0.1 * k, loss=1, seed=4_000_000_000 + k) for k in range(3)])
    # a raced row below it, with the longest of the race's captions (Race.label)
    race = Race(rounds=(10, 12), scores=((0.5, 0.75, 0.625), (None, 0.75, 0.5)), reached=(10, 12, 20),
                kept=(10, 10, 12))
    assert [race.label(k) for k in range(3)] == ["stopped after 10", "stopped 12, image of 10",
                                                 "image of iteration 12"]
    candidates_sheet([CandidateRow(7, "A big green diamond on the left.", images, choice),
                      CandidateRow(8, "A small red circle.", images, choice, race)], tmp_path / "sheet.png")
    sheet = np.asarray(Image.open(tmp_path / "sheet.png").convert("L"))
    thumb, pad, frame = 160, 8, 4  # the sheet's defaults
    captions = sheet[pad + thumb + 2 * frame:]  # both rows' captions (and the second row's images)
    assert (captions < 128).any()  # the captions are there
    for k in range(1, 3):  # the gap before column k, where a too-wide caption would cross
        gap_end = pad + 2 * thumb + k * (thumb + pad + 2 * frame)
        assert (captions[:, gap_end - pad:gap_end] == 255).all(), f"a caption crosses into column {k}"


def test_three_candidates_in_one_job_the_first_is_the_single_search_and_the_best_is_kept(tmp_path, tiny_models):
    from dataclasses import replace

    from machine_imagination.search.job import search_job
    from machine_imagination.search.judge import judge_block_job

    config = tiny_config(tiny_models)
    common = dict(text_name="t", index=1, sentence="A fox.", prompt_parts=[["a fox", 1]], seed=11,
                  log=lambda message: None)
    single = SearchFiles(tmp_path / "one.npz", tmp_path / "one.png", tmp_path / "one.tsv", tmp_path / "one-h.png")
    search_job(config, candidates=[single], **common)
    files = [SearchFiles.of_candidate(tmp_path / "candidates", k) for k in range(3)]
    found = search_job(config, candidates=files, **common)
    # Candidate 0 is the search without candidates, byte for byte; the others have their own seeds.
    for name in ("latents", "image", "history", "plot"):
        assert getattr(files[0], name).read_bytes() == getattr(single, name).read_bytes(), name
    assert [c.seed for c in found] == [candidate_seed(11, k) for k in range(3)]
    assert len({c.noise.tobytes() for c in found}) == 3
    # Judged (by the judge job), then kept: the best judge score, with every candidate's scores recorded.
    verdicts = judge_block_job(config, [[f.latents for f in files], [single.latents]], log=lambda message: None)
    kept = SearchFiles(tmp_path / "k.npz", tmp_path / "k.png", tmp_path / "k.tsv", tmp_path / "k-h.png")
    choice = keep_candidate(files, kept, log=lambda message: None)
    scores = [v.judge2_similarity for v in verdicts[0]]  # a second CLIP (judge.model) judges
    assert choice.kept == int(np.argmax(scores)) and choice.scores == tuple(scores)
    record = Latents.load(kept.latents)
    assert record.candidates == choice and record.seed == found[choice.kept].seed
    assert np.array_equal(record.noise, found[choice.kept].noise)
    assert kept.image.read_bytes() == files[choice.kept].image.read_bytes()
    # The artist's pick; and one candidate is kept as it is, byte for byte.
    other = (choice.kept + 1) % 3
    keep_candidate(files, kept, pick=other, log=lambda message: None)
    assert Latents.load(kept.latents).candidates.picked_by == "overrides"
    assert kept.image.read_bytes() == files[other].image.read_bytes()
    # One candidate is kept as it is, with its judge's scores and who judged.
    keep_candidate([single], kept, log=lambda message: None)
    alone = Latents.load(kept.latents)
    assert alone.candidates is None and alone.search.judge2_similarity == verdicts[1][0].judge2_similarity
    expected = replace(Latents.load(single.latents).with_scores(verdicts[1][0]), provenance=alone.provenance)
    arrays = alone.to_arrays()
    assert arrays.keys() == expected.to_arrays().keys()
    assert all(np.array_equal(arrays[k], v) for k, v in expected.to_arrays().items())
    assert kept.image.read_bytes() == single.image.read_bytes()


def candidate_logs(output: str) -> list[str]:
    """The job's output split at each candidate's first line."""
    return output.split("searching sentence 0")[1:]


def test_a_job_killed_in_candidate_2_resumes_without_searching_0_and_1_again(tmp_path, tiny_models):
    script = write_search_job(tmp_path / "job.py", tiny_models, iterations=40, candidates=3)
    plain, killed = tmp_path / "plain", tmp_path / "killed"
    plain.mkdir()
    killed.mkdir()
    assert subprocess.run([sys.executable, str(script), str(plain)], capture_output=True).returncode == 0

    # no warning: the process is gone mid-iteration
    run_until_killed(script, killed,
                     lambda seen, line: "(candidate 2 of 3" in seen and line.startswith("iteration 7 "))
    assert (killed / "c.pkl").is_file() and (killed / "c-1.pkl").is_file() and (killed / "c-2.pkl").is_file()

    resumed = subprocess.run([sys.executable, str(script), str(killed)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    # Candidates 0 and 1 are not searched again: their files are there, from this very search (in the
    # pipeline, where Snakemake removes a failed job's files, their finished checkpoints serve instead:
    # tests/test_long_texts.py).
    assert resumed.stdout.count("this search's files are there, kept as they are") == 2, resumed.stdout
    [third] = candidate_logs(resumed.stdout)
    assert "(candidate 2 of 3" in third
    # Candidate 2 resumes from its last checkpoint (iteration 5 or later: the job may have run on a
    # little after the line that triggered the kill), not from the start.
    assert "resuming from checkpoint" in third and "(after iteration " in third and "\niteration 1 " not in third
    for name in ("0.npz", "1.npz", "2.npz", "0.png", "1.png", "2.png", "2.tsv", "2-history.png"):
        assert (plain / name).read_bytes() == (killed / name).read_bytes(), name
    assert not list(killed.glob("c*.pkl")), "a finished job leaves no checkpoint"


def test_a_pick_in_the_overrides_table_is_checked_against_the_candidates(tmp_path):
    table = tmp_path / "picks.tsv"
    table.write_text("index\tcandidate\n1\t2\n")
    assert read_overrides(table, sentences=4, candidates=3) == {1: {"candidate": 2}}
    cases = {
        "index\tcandidate\n1\t3\n": r"picks.tsv', line 2: candidate 3 is out of range: sentence 1 has 3 candidates "
                                    r"\(search.candidates\), so a pick is 0 to 2",
        "index\tcandidate\n1\t-1\n": "line 2: candidate -1 is out of range",
        "index\tcandidate\n0\t1\n2\tbest\n": r"picks.tsv', line 3: candidate 'best' is not a whole number",
        "index\tcandidate\n7\t1\n": r"picks.tsv', line 2: index 7 is out of range \(the text has 4 sentences\)",
    }
    for content, message in cases.items():
        table.write_text(content)
        with pytest.raises(TextError, match=message):
            read_overrides(table, sentences=4, candidates=3)
    table.write_text("index\tcandidate\n1\t1\n")
    with pytest.raises(TextError, match=r"so a pick is 0 \(search.candidates is 1\)"):
        read_overrides(table, sentences=4)


@pytest.mark.e2e
@pytest.mark.parametrize("table, message", [
    ("index\tcandidate\n2\t3\n", "overrides table 'picks.tsv', line 2: candidate 3 is out of range"),
    ("index\tcandidate\n2\tlast\n", "overrides table 'picks.tsv', line 2: candidate 'last' is not a whole number"),
    ("index\tcandidate\n9\t1\n", "overrides table 'picks.tsv', line 2: index 9 is out of range"),
], ids=["out of range", "not a number", "no such sentence"])
def test_a_bad_pick_stops_the_run_before_any_job(table, message, tmp_path, snakemake_run):
    from test_workflow import make_project, small_config

    project = make_project(tmp_path, small_config(**{"search.candidates": 3}, overrides={"four": "picks.tsv"}))
    (project / "picks.tsv").write_text(table)
    run = snakemake_run(project, "--configfile", "config.yaml")
    assert run.returncode != 0
    assert message in run.stdout + run.stderr and "Traceback" not in run.stderr
    assert not (project / "results").exists()
