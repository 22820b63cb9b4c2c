"""Judging: the held-out score of each candidate's image, a step of its own after the searches.

A candidate is scored by CLIP similarity on fresh crops (a random stream the search never saw) with the
guiding CLIP and, when `judge.model` names one, with a second CLIP, so that reported scores are not
inflated by the search overfitting its own crops; the keep step then keeps the best. An image no larger
than CLIP's input has nothing to crop (the search scores it whole, as the notebook does); its fresh
views are small shifts with pixel noise (`augment.jittered_views`), else its judge score would be the
search's own similarity again.

The judge job (`judge_block_job`, workflow/rules/search.smk) judges the candidates a search job wrote,
each rendered once, and writes each candidate's scores next to it (`candidates/<i>/<k>-judge.json`)
with the judge's identity and the SHA-256 of the latents it judged: a change of `judge:` judges the
saved candidates again and searches nothing; a candidate judged before by the same judge is not
judged again."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..files import package_versions, sha256_file, write_json
from ..schema import defaults
from .augment import jittered_views
from .objective import Objective
from .settings import SearchSettings

_DEFAULTS = defaults("judge")


@dataclass(frozen=True)
class JudgeSettings:
    """The `judge:` keys: how many fresh views each candidate is scored on, and the second CLIP."""

    crops: int = _DEFAULTS["crops"]
    model: str | None = _DEFAULTS["model"]
    pretrained: str | None = _DEFAULTS["pretrained"]

    @classmethod
    def from_config(cls, config: dict) -> "JudgeSettings":
        return cls(**{k: config["judge"][k] for k in cls.__dataclass_fields__})


def judge_identity(config: dict) -> dict:
    """Everything a candidate's judge scores depend on besides the candidate itself: the judge's
    settings, the guiding CLIP (it scores too), the generator (it renders), where and with how many
    threads it runs (the search's device and threads) and the package versions."""
    return {**asdict(JudgeSettings.from_config(config)),
            "clip": [config["clip"]["model"], config["clip"]["pretrained"]], "generator": config["generator"]["model"],
            "device": config["search"]["device"], "threads": config["search"]["threads"],
            "packages": package_versions()}


def judge(generator, clip, found, prompt_parts, settings: SearchSettings, seed: int, *, crops: int,
          judge_clip=None) -> dict:
    """{'judge_similarity': …} with the guiding CLIP and, with `judge_clip`, {'judge2_similarity': …}, of
    the image `found` (a search's result or a `Latents` record: its noise and class vector as the
    generator gets them) on `crops` fresh views, drawn from a stream of `seed`."""
    import torch

    scores = {}
    judged = replace(settings, crops=crops)
    noise = torch.as_tensor(found.noise, device=generator.device)[None]
    class_vector = torch.as_tensor(found.class_vector, device=generator.device)[None]
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
                images = jittered_views(images, crops, crop_rng)
            scores[name] = float((objective.similarities(images, crop_rng) @ objective.weights).mean())
    return scores


def judge_file(latents_path) -> Path:
    """Where a candidate's judge scores go: `<k>-judge.json` beside its `<k>.npz`."""
    path = Path(latents_path)
    return path.with_name(f"{path.stem}-judge.json")


@dataclass(frozen=True)
class Verdict:
    """A candidate's judge scores, by which judge, of which latents file."""

    judge: dict  # judge_identity
    latents_sha256: str
    judge_similarity: float
    judge2_similarity: float | None = None

    def save(self, path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path) -> "Verdict | None":
        """The verdict saved at `path`, or None (none there, or unreadable: it is judged again)."""
        try:
            return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    @property
    def scores(self) -> dict:
        return {"judge_similarity": self.judge_similarity, "judge2_similarity": self.judge2_similarity}


def judged_before(latents_path, identity: dict) -> Verdict | None:
    """The candidate's verdict if the same judge judged these very latents, else None."""
    verdict = Verdict.load(judge_file(latents_path))
    if verdict is None or json.dumps(verdict.judge, sort_keys=True) != json.dumps(identity, sort_keys=True):
        return None
    return verdict if verdict.latents_sha256 == sha256_file(latents_path) else None


def judge_candidate(config: dict, latents, path, identity: dict, generator, clip, judge_clip, crops: int) -> Verdict:
    """Score one candidate (its `Latents` record, read from `path`) as its search scored it (its own
    prompt parts and settings, as its provenance records them) and save the verdict beside it."""
    search = latents.provenance["search"]
    settings = SearchSettings.from_config(config, latents.provenance.get("overrides"))
    scores = judge(generator, clip, latents, [tuple(p) for p in search["prompt"]], settings, int(latents.seed),
                   crops=crops, judge_clip=judge_clip)
    verdict = Verdict(judge=identity, latents_sha256=sha256_file(path), **scores)
    verdict.save(judge_file(path))
    return verdict


def judge_block_job(config: dict, candidates: list[list[Path]], *, threads: int = 1, text_dir=None, receipt=None,
                    log=print) -> list[list[Verdict]]:
    """The judge job (workflow/rules/search.smk, rule `judge`): every candidate of a block's sentences
    (each sentence's candidates' latents files) scored by the configured judge, rendered once; a
    candidate this judge judged before is not judged again, and nothing is loaded when none needs it."""
    from ..latents import Latents
    from ..models.device import deterministic
    from .load import load_judge_clip, load_models

    identity, crops = judge_identity(config), JudgeSettings.from_config(config).crops
    verdicts, models = [], None
    with deterministic(threads):
        for files in candidates:
            found = []
            for path in map(Path, files):
                # 1. a verdict of this judge on these very latents is kept as it is
                verdict = judged_before(path, identity)
                if verdict is None:
                    # 2. else the candidate is judged (the networks loaded for the first that needs it)
                    if models is None:
                        generator, clip = load_models(config, SearchSettings.from_config(config))
                        models = generator, clip, load_judge_clip(config, generator.device)
                    verdict = judge_candidate(config, Latents.load(path), path, identity, *models, crops)
                    log(f"judged {path}: " + ", ".join(f"{k} {v:.4f}" for k, v in verdict.scores.items()
                                                       if v is not None))
                found.append(verdict)
            verdicts.append(found)
    if receipt is not None:
        receipt.write(text_dir, [judge_file(path) for files in candidates for path in files])
    return verdicts
