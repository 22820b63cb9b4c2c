"""The networks a search-stage job loads once for its block: the generator and the guiding CLIP on the
search's device with the speed settings applied, and the judge's second CLIP."""
from __future__ import annotations

from ..models.device import select_device
from .settings import SearchSettings


def load_models(config: dict, settings: SearchSettings):
    """The generator and the guiding CLIP on the search's device, with the speed settings applied."""
    from ..models.clip import load_clip
    from ..models.device import tune_for_speed
    from ..models.generator import load_generator

    device = select_device(config["search"]["device"])
    generator = load_generator(config["generator"]["model"], device)
    clip = load_clip(config["clip"]["model"], config["clip"]["pretrained"], device)
    tune_for_speed(generator, clip, channels_last=settings.channels_last, compiled=settings.compile)
    return generator, clip


def load_judge_clip(config: dict, device):
    """The second CLIP that judges the image (judge.model), or None."""
    from ..models.clip import load_clip

    judge_config = config["judge"]
    return load_clip(judge_config["model"], judge_config["pretrained"], device) if judge_config["model"] else None
