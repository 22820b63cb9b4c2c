"""Preemption: a search stopped mid-way resumes from its checkpoint and ends with the same latents."""
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import write_search_job
from machine_imagination.search.checkpoint import Checkpointer, SearchInterrupted
from machine_imagination.search.loop import search_prompt
from machine_imagination.search.settings import SearchSettings


def interrupted_then_resumed(generator, clip, settings, path, stop_at: str):
    """Run until the log says `stop_at`, 'signal' there, then rerun from the checkpoint."""
    checkpoint = Checkpointer(path, key="k", every=1000)  # only the stop writes a checkpoint

    def log(message):
        if message.startswith(stop_at):
            checkpoint.stop_signal = "SIGTERM"

    with pytest.raises(SearchInterrupted, match="rerun to resume"):
        search_prompt("a lighthouse", seed=7, generator=generator, clip=clip, settings=settings,
                      checkpoint=checkpoint, log=log)
    assert path.is_file()
    return search_prompt("a lighthouse", seed=7, generator=generator, clip=clip, settings=settings,
                         checkpoint=Checkpointer(path, key="k", every=2))


@pytest.mark.parametrize("settings, stop_at", [
    (SearchSettings(iterations=6, population=6, crops=3), "iteration 3 (cma-es)"),
    (SearchSettings(iterations=6, population=6, crops=3, stochastic_truncation=True, init_samples=8,
                    augmentation="rich"), "iteration 2 (cma-es)"),
    (SearchSettings(optimizer="cma-es-terminal-adam", iterations=3, terminal_iterations=4, population=4, crops=3),
     "iteration 5 (adam)"),
    (SearchSettings(optimizer="cma-es-interleaved-sgd", iterations=4, population=4, crops=3),
     "iteration 2 (sgd)"),
    (SearchSettings(optimizer="adam", iterations=5, crops=3, init_samples=6, init_top=2), "iteration 3 (adam)"),
], ids=["cma-es", "cma-es-stochastic-rich", "terminal-adam", "interleaved-sgd", "adam"])
def test_resumed_search_ends_with_the_same_latents(tmp_path, generator, clip, settings, stop_at):
    plain = search_prompt("a lighthouse", seed=7, generator=generator, clip=clip, settings=settings)
    resumed = interrupted_then_resumed(generator, clip, settings, tmp_path / "c.pkl", stop_at)
    assert np.array_equal(plain.noise, resumed.noise)
    assert np.array_equal(plain.class_vector, resumed.class_vector)
    assert plain.loss == resumed.loss and plain.iteration == resumed.iteration
    assert plain.history == resumed.history
    assert plain.start_loss == resumed.start_loss


def test_checkpoint_of_another_search_is_ignored(tmp_path, generator, clip):
    settings = SearchSettings(iterations=3, population=4, crops=2)
    path = tmp_path / "c.pkl"
    search_prompt("a fox", seed=1, generator=generator, clip=clip, settings=settings,
                  checkpoint=Checkpointer(path, key="fox", every=1))
    messages = []
    other = search_prompt("a fox", seed=1, generator=generator, clip=clip, settings=settings,
                          checkpoint=Checkpointer(path, key="hen", every=1000, log=messages.append))
    assert any("belongs to another search" in m for m in messages)
    assert len(other.history) == 3
    path.write_bytes(b"damaged")
    messages.clear()
    search_prompt("a fox", seed=1, generator=generator, clip=clip, settings=settings,
                  checkpoint=Checkpointer(path, key="fox", every=1000, log=messages.append))
    assert any("unreadable checkpoint" in m for m in messages)


def test_killed_search_job_resumes_to_identical_outputs(tmp_path, tiny_models):
    """A real process, a real SIGTERM mid-search (as SLURM sends before preemption), a rerun."""
    script = write_search_job(tmp_path / "job.py", tiny_models, iterations=60)
    plain, interrupted = tmp_path / "plain", tmp_path / "interrupted"
    plain.mkdir()
    interrupted.mkdir()
    assert subprocess.run([sys.executable, str(script), str(plain)], capture_output=True).returncode == 0
    assert not (plain / "c.pkl").exists(), "a finished search removes its checkpoint"

    job = subprocess.Popen([sys.executable, "-u", str(script), str(interrupted)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in job.stdout:
        seen.append(line)
        if line.startswith("iteration 12 "):
            job.send_signal(signal.SIGTERM)
            break
    rest = job.stdout.read()
    assert job.wait(timeout=120) != 0
    assert "stopped by SIGTERM" in rest
    assert (interrupted / "c.pkl").is_file() and not (interrupted / "l.npz").exists()

    resumed = subprocess.run([sys.executable, str(script), str(interrupted)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from checkpoint" in resumed.stdout
    assert "iteration 1 " not in resumed.stdout  # it did not start over
    for name in ("l.npz", "i.png", "h.tsv", "h.png"):
        assert (plain / name).read_bytes() == (interrupted / name).read_bytes(), name
    assert not (interrupted / "c.pkl").exists()


def test_a_finished_checkpoint_goes_with_what_a_killed_writer_left_of_it(tmp_path):
    """A SIGKILL during a checkpoint's atomic write leaves its hidden temporary file; when the block is
    written the checkpoint goes, and so does that file (not another sentence's)."""
    from machine_imagination.files import remove_with_leftovers

    for name in ("0007.pkl", ".0007.tmp15771.pkl", ".0007.tmp2.pkl", ".0017.tmp3.pkl", "0017.pkl"):
        (tmp_path / name).write_bytes(b"x")
    remove_with_leftovers(tmp_path / "0007.pkl")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".0017.tmp3.pkl", "0017.pkl"]
