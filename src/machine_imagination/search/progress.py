"""The notebook's search video: the best candidate of every iteration, two frames a second.

Every search keeps its iterations (`<k>-steps.npz`: each iteration's best latents), so the videos are
made afterwards, by the progress job (workflow/rules/search.smk, rule `progress`, with
`search.progress_video: true`): turning the setting on makes them without searching again. A candidate
searched before iterations were kept is searched again (the same search: the same latents), and the
job says so."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import atomic_copy
from ..latents import Latents, save_arrays
from ..render import render_latents
from ..video import Encoding, VideoWriter
from .candidates import SearchFiles
from .settings import SearchSettings

PROGRESS_FPS = 2


def write_progress_video(generator, noise, classes, latents: Latents, path, fps: int = PROGRESS_FPS) -> None:
    """The video of a search's iterations (`noise` [n, z], `classes` [n, c] as the generator gets them),
    rendered as `latents` (its truncation, class mode and grayscale) are."""
    import torch

    side = generator.resolution + generator.resolution % 2
    with VideoWriter(path, side, side, Encoding(fps=fps, crf=18, preset="veryfast")) as writer:
        for frames in render_latents(generator, torch.as_tensor(noise), torch.as_tensor(classes), latents.truncation,
                                     side, 8, latents.class_mode, latents.grayscale):
            writer.write(frames)


@dataclass(frozen=True)
class SentenceProgress:
    """One sentence of a progress job: its candidates' files (with their videos) and its own."""

    index: int
    candidates: list[SearchFiles]
    kept: SearchFiles


def progress_block_job(config: dict, sentences: list[SentenceProgress], *, threads: int = 1, text_dir=None,
                       receipt=None, log=print) -> None:
    """Each candidate's progress video, from its stored iterations (made again only when they are newer
    than the video), and each sentence's, the kept candidate's."""
    from ..models.device import deterministic
    from .load import load_models

    models = None
    with deterministic(threads):
        for sentence in sentences:
            for k, files in enumerate(sentence.candidates):
                video, steps = Path(files.progress), Path(files.steps)
                if video.is_file() and steps.is_file() and video.stat().st_mtime >= steps.stat().st_mtime:
                    continue
                if models is None:
                    models = load_models(config, SearchSettings.from_config(config))
                latents = Latents.load(files.latents)
                if not steps.is_file():
                    log(f"sentence {sentence.index}, candidate {k}: searched before each search kept its "
                        "iterations; searching it again (the same search) for its progress video")
                    search_again(config, latents, files, sentence.index, text_dir, *models, log)
                with np.load(steps) as stored:
                    write_progress_video(models[0], stored["noise"], stored["class_vector"], latents, video)
                log(f"sentence {sentence.index}, candidate {k}: progress video {video}")
            kept = Latents.load(sentence.kept.latents)
            atomic_copy(sentence.candidates[kept.candidates.kept if kept.candidates else 0].progress,
                        sentence.kept.progress)
    if receipt is not None:
        receipt.write(text_dir, [Path(f.progress) for s in sentences for f in [*s.candidates, s.kept]])


def search_again(config: dict, latents: Latents, files: SearchFiles, index: int, text_dir, generator, clip,
                 log) -> None:
    """A candidate's search run again, as its provenance records it, to keep its iterations; a result
    that differs from the stored latents is said (another machine, other package versions)."""
    from .loop import search_prompt

    search = latents.provenance["search"]
    settings = SearchSettings.from_config(config, latents.provenance.get("overrides"))
    start = Latents.load(Path(text_dir) / "latents" / f"{index - 1:04d}.npz") if search.get("start") else None
    result = search_prompt([tuple(p) for p in search["prompt"]], seed=int(latents.seed), generator=generator,
                           clip=clip, settings=settings, start=start, log=lambda message: None)
    if not (np.array_equal(result.noise, latents.noise) and np.array_equal(result.class_vector, latents.class_vector)):
        log(f"sentence {index}: the search run again found other latents than those stored in {files.latents} "
            "(another machine or other package versions); its progress video shows the new run")
    save_steps(files.steps, result)


def save_steps(path, result) -> None:
    """A search's iterations (each one's best latents, as the generator gets them) for its video."""
    save_arrays(path, {"noise": np.stack([z for z, _ in result.progress]),
                       "class_vector": np.stack([c for _, c in result.progress])})
