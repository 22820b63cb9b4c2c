"""The held-out score of a search's image: CLIP similarity on fresh crops (a random stream the search
never saw), and with a second CLIP if one is configured, so that reported scores are not inflated by
the search overfitting its own crops."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .objective import Objective
from .settings import SearchSettings
from .state import SearchResult


def judge(generator, clip, result: SearchResult, prompt_parts, settings: SearchSettings, seed: int,
          judge_clip=None) -> dict:
    """{'judge_similarity': …} with the guiding CLIP and, with `judge_clip`, {'judge2_similarity': …}."""
    import torch

    scores = {}
    judged = replace(settings, crops=settings.judge_crops)
    x = np.concatenate([result.noise, result.class_vector])[None]
    for name, model in (("judge_similarity", clip), ("judge2_similarity", judge_clip)):
        if model is None:
            continue
        objective = Objective(generator, model, prompt_parts, judged)
        crop_rng = torch.Generator().manual_seed((seed * 7919 + 17) % 2**63)
        with torch.inference_mode():
            images = objective.images(torch.as_tensor(x, dtype=torch.float32, device=generator.device))
            scores[name] = float((objective.similarities(images, crop_rng) @ objective.weights)[0])
    return scores
