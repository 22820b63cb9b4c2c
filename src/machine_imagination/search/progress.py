"""The notebook's search video: the best candidate of every iteration, two frames a second."""
from __future__ import annotations

import numpy as np

from ..render import render_latents
from ..video import Encoding, VideoWriter
from .settings import SearchSettings
from .state import SearchResult


def write_progress_video(generator, result: SearchResult, settings: SearchSettings, path, fps: int = 2) -> None:
    import torch

    noise = torch.as_tensor(np.stack([z for z, _ in result.progress]))
    classes = torch.as_tensor(np.stack([c for _, c in result.progress]))
    side = generator.resolution + generator.resolution % 2
    with VideoWriter(path, side, side, Encoding(fps=fps, crf=18, preset="veryfast")) as writer:
        for frames in render_latents(generator, noise, classes, settings.truncation, side, 8,
                                     settings.class_mode, settings.grayscale):
            writer.write(frames)
