"""The pipeline's job functions, called directly (the Snakemake scripts are thin wrappers of these)."""
import numpy as np
import pytest

from machine_imagination.latents import Latents
from machine_imagination.project import validate_config
from machine_imagination.search.candidates import SearchFiles
from machine_imagination.search.history import read_history_tsv
from test_walk_and_film import decode


def tiny_config(tiny_models, **search):
    return validate_config({
        "texts": {"t": "t.txt"},
        "generator": {"model": str(tiny_models[0])},
        "clip": {"model": str(tiny_models[1]), "pretrained": None},
        "search": {"iterations": 3, "population": 4, "crops": 2, "device": "cpu", **search},
        "judge": {"crops": 4, "model": str(tiny_models[1])},
    })


def test_search_judge_keep_and_progress_jobs_write_everything_a_search_leaves_behind(tmp_path, tiny_models):
    from machine_imagination.search.candidates import keep_candidate
    from machine_imagination.search.job import search_job
    from machine_imagination.search.judge import judge_block_job, judge_identity
    from machine_imagination.search.progress import SentenceProgress, progress_block_job

    quiet = lambda message: None  # noqa: E731
    config = tiny_config(tiny_models, optimizer="cma-es-terminal-adam", terminal_iterations=2,
                         initial_class="random-embeddings", progress_video=True, grayscale=True)
    files = SearchFiles.of_candidate(tmp_path / "candidates", 0, progress=True)
    record = search_job(config, text_name="t", index=2, sentence="A fox.", prompt_parts=[["a fox", 1], ["rain", -0.5]],
                        seed=9, candidates=[files], search_overrides={"iterations": 2}, log=quiet)[0]
    # 1. the search: its latents, history and iterations; judged afterwards, by the judge job
    stored = Latents.load(files.latents)
    with np.load(files.latents) as plain:  # the file: an embedding was searched, not logits
        assert "class_embedding" in plain.files and "class_logits" not in plain.files
    assert stored.class_mode == "embedding" and stored.grayscale
    assert stored.sentence.prompt == "a fox:1 | rain:-0.5" and stored.search.optimizer == "cma-es-terminal-adam"
    assert stored.provenance["overrides"] == {"iterations": 2} and stored.search.judge_similarity is None
    history = read_history_tsv(files.history)
    assert [row["phase"] for row in history] == ["cma-es", "cma-es", "adam", "adam"]  # 2 overridden + 2 terminal
    for row in history:  # the loss, checked from the file: 100·(1 − similarity) + 100·Σ weight·term
        loss, similarity, regularisation = (float(row[k]) for k in ("loss_best", "similarity_best", "regularisation"))
        assert loss == pytest.approx(100 * (1 - similarity) + regularisation, abs=1e-3)
        assert regularisation == pytest.approx(100 * 1e-4 * float(row["class_entropy"]), rel=1e-4, abs=1e-7)
    assert len(stored.search.history["loss_best"]) == 4
    with np.load(files.steps) as steps:  # each iteration's best latents, for the progress video
        assert steps["noise"].shape == (4, 128) and steps["class_vector"].shape == (4, 128)
    assert record.search.loss == stored.search.loss
    # 2. the judge, then the keep job: the sentence's latents carry the judge's scores and who judged
    [[verdict]] = judge_block_job(config, [[files.latents]], log=quiet)
    kept = SearchFiles.of_sentence(tmp_path, 2, progress=True)
    keep_candidate([files], kept, log=quiet)
    judged = Latents.load(kept.latents)
    assert -1 <= judged.search.judge_similarity <= 1 and -1 <= judged.search.judge2_similarity <= 1
    assert judged.search.judge_similarity == verdict.judge_similarity
    assert judged.provenance["judge"] == judge_identity(config) and judged.candidates is None
    assert [judge_block_job(config, [[files.latents]], log=quiet)[0][0]] == [verdict]  # not judged again
    # 3. the progress video, from the iterations the search kept
    progress_block_job(config, [SentenceProgress(2, [files], kept)], log=quiet)
    meta, frames = decode(kept.progress)
    assert len(frames) == 4 and meta["fps"] == 2  # the best candidate of every iteration
    assert np.abs(frames[..., 0].astype(int) - frames[..., 1]).max() < 8  # grey, up to H.264's rounding
    assert kept.progress.read_bytes() == files.progress.read_bytes()


def test_search_job_story_start_and_film_of_embedding_latents(tmp_path, tiny_models):
    from machine_imagination.film.captions import CaptionStyle
    from machine_imagination.film.walk import render_segment
    from machine_imagination.models.generator import load_generator
    from machine_imagination.search.job import search_job
    from machine_imagination.video import Encoding

    config = tiny_config(tiny_models)
    common = dict(text_name="t", sentence="s", seed=1, log=lambda message: None)
    [first] = search_job(config, index=0, prompt_parts=[["a fox", 1]], candidates=[
        SearchFiles(tmp_path / "0.npz", tmp_path / "0.png", tmp_path / "0.tsv", tmp_path / "0p.png")], **common)
    [second] = search_job(tiny_config(tiny_models, initial_class="random-embeddings", story_keep=1.0), index=1,
                          prompt_parts=[["a hen", 1]], candidates=[
                              SearchFiles(tmp_path / "1.npz", tmp_path / "1.png", tmp_path / "1.tsv", tmp_path / "1p.png")],
                          previous_latents=tmp_path / "0.npz", **common)
    assert first.class_mode == "logits" and second.class_mode == "embedding"
    # A walk between a logits record and an embedding record goes through class embeddings.
    generator = load_generator(str(tiny_models[0]))
    frames = render_segment(generator, Latents.load(tmp_path / "0.npz"), Latents.load(tmp_path / "1.npz"), "x",
                            tmp_path / "seg.mp4", hold=2, steps=3, size=None, batch=4, style=CaptionStyle(),
                            encoding=Encoding(fps=10, preset="ultrafast"))
    assert frames == 5


def test_job_log_keeps_the_error_in_the_log_and_restores_the_streams(tmp_path):
    import sys

    import pytest

    from machine_imagination.files import job_log
    from machine_imagination.search.checkpoint import SearchInterrupted

    stdout, stderr = sys.stdout, sys.stderr
    with pytest.raises(SearchInterrupted):
        with job_log(tmp_path / "job.log"):
            print("iteration 12")
            raise SearchInterrupted("stopped by SIGTERM after iteration 12; rerun to resume")
    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    log = (tmp_path / "job.log").read_text()
    assert "iteration 12" in log and "SearchInterrupted: stopped by SIGTERM" in log


def test_search_job_applies_the_speed_settings(tmp_path, tiny_models, monkeypatch):
    import machine_imagination.models.device as device
    from machine_imagination.search.job import search_job

    calls = []
    tune = device.tune_for_speed
    monkeypatch.setattr(device, "tune_for_speed", lambda *a, **k: calls.append(k) or tune(*a, **k))
    config = tiny_config(tiny_models, channels_last=True, iterations=2)
    search_job(config, text_name="t", index=0, sentence="A fox.", prompt_parts=[["a fox", 1]], seed=3,
               candidates=[SearchFiles(tmp_path / "l.npz", tmp_path / "i.png", tmp_path / "h.tsv", tmp_path / "h.png")],
               log=lambda message: None)
    assert calls == [{"channels_last": True, "compiled": False}]
    assert Latents.load(tmp_path / "l.npz").provenance["search"]["settings"]["channels_last"] is True


def test_a_story_block_chains_its_sentences_as_jobs_of_one_sentence_do(tmp_path, tiny_models):
    """search.story with several sentences per job: each sentence starts from the candidate the keep job
    will keep of the one before (the best judge score, or the artist's pick), exactly as a chain of
    one-sentence jobs does."""
    from machine_imagination.search.candidates import keep_candidate
    from machine_imagination.search.job import SentenceSearch, search_block_job
    from machine_imagination.search.judge import judge_block_job

    config = tiny_config(tiny_models, story=True, candidates=2)
    quiet = lambda message: None  # noqa: E731
    parts, picks = [[["a fox", 1]], [["a hen", 1]], [["a storm", 1]]], [None, 0, None]

    def sentences(out):
        return [SentenceSearch(index=i, sentence=f"s{i}", parts=parts[i], seed=10 + i, pick=picks[i],
                               candidates=[SearchFiles.of_candidate(out / f"{i}", k) for k in range(2)])
                for i in range(3)]

    # 1. one job for the three sentences
    block = sentences(tmp_path / "block")
    search_block_job(config, text_name="t", sentences=block, log=quiet)
    # 2. a job per sentence, each starting from the file the keep job made of the one before
    alone = sentences(tmp_path / "alone")
    previous = None
    for i, sentence in enumerate(alone):
        search_block_job(config, text_name="t", sentences=[sentence], previous_latents=previous, log=quiet)
        judge_block_job(config, [[files.latents for files in sentence.candidates]], log=quiet)
        kept = SearchFiles(*(tmp_path / "alone" / f"kept{i}{suffix}" for suffix in (".npz", ".png", ".tsv", "h.png")))
        keep_candidate(sentence.candidates, kept, pick=sentence.pick, log=quiet)
        previous = kept.latents
    for mine, theirs in zip(block, alone):
        for k in range(2):
            assert mine.candidates[k].latents.read_bytes() == theirs.candidates[k].latents.read_bytes()
