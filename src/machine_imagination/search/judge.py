"""The held-out score of a search's image: CLIP similarity on fresh crops (a random stream the search
never saw), and with a second CLIP if one is configured, so that reported scores are not inflated by
the search overfitting its own crops. An image no larger than CLIP's input has nothing to crop (the
search scores it whole, as the notebook does); its fresh views are small shifts with pixel noise
(`augment.jittered_views`), else its judge score would be the search's own similarity again."""
from __future__ import annotations

from dataclasses import replace

from .augment import jittered_views
from .objective import Objective
from .settings import SearchSettings
from .state import SearchResult


def judge(generator, clip, result: SearchResult, prompt_parts, settings: SearchSettings, seed: int,
          judge_clip=None) -> dict:
    """{'judge_similarity': …} with the guiding CLIP and, with `judge_clip`, {'judge2_similarity': …}."""
    import torch

    scores = {}
    judged = replace(settings, crops=settings.judge_crops)
    noise = torch.as_tensor(result.noise, device=generator.device)[None]
    class_vector = torch.as_tensor(result.class_vector, device=generator.device)[None]  # as the generator gets it
    models = {"judge_similarity": clip, "judge2_similarity": judge_clip}
    objectives = {name: Objective(generator, model, prompt_parts, judged)
                  for name, model in models.items() if model is not None}
    with torch.inference_mode():  # the image is the generator's alone: rendered once for every CLIP
        rendered = objectives["judge_similarity"].render(noise, class_vector)
    for name, objective in objectives.items():
        crop_rng = torch.Generator().manual_seed((seed * 7919 + 17) % 2**63)
        with torch.inference_mode():
            images = rendered
            if images.shape[-1] <= objective.clip.image_size:  # nothing to crop: shifted, noisy views
                images = jittered_views(images, settings.judge_crops, crop_rng)
            scores[name] = float((objective.similarities(images, crop_rng) @ objective.weights).mean())
    return scores
