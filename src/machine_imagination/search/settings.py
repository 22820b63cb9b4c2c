"""What a search is asked to do (`SearchSettings`, one value per `search:` key the engine reads, with the
schema's defaults: the workshop notebook's) and what its result depends on (`search_identity`): the one
place the search rule's params, the search job's reuse check and checkpoints, and the provenance its
latents record all read."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..models.classes import check_initial_class
from ..models.device import PRECISIONS
from ..schema import defaults

OPTIMIZERS = ("cma-es", "adam", "sgd", "cma-es-interleaved-adam", "cma-es-interleaved-sgd",
              "cma-es-terminal-adam", "cma-es-terminal-sgd")
AUGMENTATIONS = ("crops", "rich")


# The `search:` keys that change no searched bit: they are not `SearchSettings` fields and not part of a
# search's identity, so changing one searches nothing again (config/README.md, "What a rerun redoes").
SPEED_ONLY = {
    "checkpoint_every": "how often the state is saved; a resumed search ends with the same bits",
    "sentences_per_job": "how sentences are shared out among jobs; each is searched as a job of its own would",
    "progress_video": "the search videos are made afterwards from each search's stored iterations",
    "candidates": "how many searches a sentence gets; candidate k's result does not depend on how many there are "
                  "(unless they race: search.race, where the count is part of each candidate's identity)",
}
# The `search:` keys that are neither: `story` chains the searches (the start is part of the identity),
# `race` makes the judge decide what is searched (search.race.race_identity), and `device` and `threads`
# change bits (recorded in `search_identity`, not settings of the engine).
ENGINE_EXTRA = ("story", "race", "device", "threads")

_DEFAULTS = defaults("search")


@dataclass(frozen=True)
class SearchSettings:
    """What one search is asked to do: the `search:` keys that the engine uses (config/README.md), the
    generator's truncation and, in story mode, how much of the previous sentence the start keeps. Every
    field may change a searched bit; the defaults are the schema's (the workshop notebook's)."""

    optimizer: str = _DEFAULTS["optimizer"]
    iterations: int = _DEFAULTS["iterations"]
    terminal_iterations: int = _DEFAULTS["terminal_iterations"]
    population: int = _DEFAULTS["population"]
    sigma0: float = _DEFAULTS["sigma0"]
    covariance: str = _DEFAULTS["covariance"]  # full or diagonal
    active: bool = _DEFAULTS["active"]
    learning_rate: float = _DEFAULTS["learning_rate"]
    momentum: float = _DEFAULTS["momentum"]  # SGD
    initial_class: str = _DEFAULTS["initial_class"]  # a mode of INITIAL_CLASS_MODES, or a class name/index
    class_smoothing: float = _DEFAULTS["class_smoothing"]
    embedding_factor: float = _DEFAULTS["embedding_factor"]  # 'random-embeddings': the searched vector times this
    optimize_class: bool = _DEFAULTS["optimize_class"]
    init_samples: int = _DEFAULTS["init_samples"]  # FuseDream-style: score this many random draws first (0: off)
    init_top: int = _DEFAULTS["init_top"]  # ...and start from the best k of them
    crops: int = _DEFAULTS["crops"]
    crop_min: float = _DEFAULTS["crop_min"]
    crop_max: float = _DEFAULTS["crop_max"]
    augmentation: str = _DEFAULTS["augmentation"]  # or "rich": + colour jitter, shift, resize, cutout
    noise_normality: float = _DEFAULTS["noise_normality"]
    embedding_normality: float = _DEFAULTS["embedding_normality"]
    class_entropy: float = _DEFAULTS["class_entropy"]
    stochastic_truncation: bool = _DEFAULTS["stochastic_truncation"]
    grayscale: bool = _DEFAULTS["grayscale"]
    generator_batch: int = _DEFAULTS["generator_batch"]  # changes bits: BigGAN's sums differ by batch size
    clip_batch: int = _DEFAULTS["clip_batch"]  # the same bits on a CPU (tests), not promised on a GPU
    precision: str = _DEFAULTS["precision"]  # or "bf16" / "fp16": autocast the networks (see precision_warning)
    channels_last: bool = _DEFAULTS["channels_last"]  # NHWC convs (models.tune_for_speed)
    compile: bool = _DEFAULTS["compile"]  # torch.compile the networks (models.tune_for_speed)
    truncation: float = defaults("generator")["truncation"]
    story_keep: float = _DEFAULTS["story_keep"]  # with a previous sentence's latents: how much of them the start keeps

    @classmethod
    def from_config(cls, config: dict, overrides: dict | None = None) -> "SearchSettings":
        """Settings from a validated config; `overrides`: a sentence's own values (e.g. iterations)."""
        values = {k: v for k, v in {**config["search"], **(overrides or {})}.items() if k in cls.__dataclass_fields__}
        return cls(**values, truncation=config["generator"]["truncation"])

    def identity(self, story: bool = False) -> dict:
        """The fields that can change this search's result: all of them, less those its optimizer and
        start never read (so that, say, a learning rate changed for a CMA-ES search searches nothing
        again)."""
        unused = set() if story else {"story_keep"}
        if not self.uses_cma:
            unused |= {"sigma0", "covariance", "active"}
        if self.gradient is None:
            unused |= {"learning_rate", "momentum"}
        elif self.gradient == "adam":
            unused.add("momentum")
        if not (self.uses_cma and self.gradient and not self.interleaved):
            unused.add("terminal_iterations")
        if self.init_samples == 0:
            unused.add("init_top")
        if self.class_mode != "embedding":
            unused.add("embedding_factor")
        return {k: v for k, v in asdict(self).items() if k not in unused}

    @property
    def uses_cma(self) -> bool:
        return self.optimizer.startswith("cma-es")

    @property
    def gradient(self) -> str | None:
        """The gradient optimizer (adam or sgd), alone or with CMA-ES; None for CMA-ES alone."""
        return None if self.optimizer == "cma-es" else self.optimizer.rsplit("-", 1)[-1]

    @property
    def interleaved(self) -> bool:
        """CMA-ES with one gradient step on its mean after every generation."""
        return "interleaved" in self.optimizer

    @property
    def gradient_iterations(self) -> int:
        """Gradient steps: after CMA-ES (terminal), or the whole search (Adam or SGD alone)."""
        return self.terminal_iterations if self.uses_cma else self.iterations

    @property
    def first_gradient_iteration(self) -> int:
        """The iteration number (0-based) of the first gradient step that follows CMA-ES, if any."""
        return self.iterations if self.uses_cma else 0

    @property
    def class_mode(self) -> str:
        """'embedding' when the 128-dim class embedding is searched, else 'logits'."""
        return "embedding" if self.initial_class == "random-embeddings" else "logits"

    def generator_class(self, searched):
        """The class vector the generator is given for a searched one (numpy or torch): a searched
        embedding times embedding_factor (the notebook's emb_factor), logits as they are."""
        return searched * self.embedding_factor if self.class_mode == "embedding" else searched

    def searched_class(self, given):
        """The inverse of `generator_class`: the searched vector of a class vector the generator is given."""
        return given / self.embedding_factor if self.class_mode == "embedding" else given

    def check(self, class_names=None) -> None:
        """Raise ValueError naming the `search.` key whose value no search can use."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"search.optimizer: unknown optimizer {self.optimizer!r} (known: {', '.join(OPTIMIZERS)})")
        check_initial_class(self.initial_class, class_names)
        if self.precision not in PRECISIONS:
            raise ValueError(f"search.precision: unknown precision {self.precision!r} (known: {', '.join(PRECISIONS)})")
        if self.population < 2 and self.uses_cma:
            raise ValueError("search.population must be at least 2 for CMA-ES")


def search_identity(config: dict, parts, seed: int, overrides: dict | None = None, start: str | None = None) -> dict:
    """Everything one search's result depends on: the prompt's weighted parts, the seed, the engine's
    settings (with a sentence's `overrides`), the models, the device and thread count asked for, the
    package versions and, in story mode, the identity of the latents it starts from (`start`, the
    previous sentence's kept identity). Two searches with equal identities give the same bits."""
    from ..files import package_versions

    settings = SearchSettings.from_config(config, overrides)
    return {"prompt": [[text, float(weight)] for text, weight in parts], "seed": int(seed),
            "settings": settings.identity(story=start is not None), "start": start,
            "generator": config["generator"]["model"], "clip": [config["clip"]["model"], config["clip"]["pretrained"]],
            "device": config["search"]["device"], "threads": config["search"]["threads"],
            "packages": package_versions()}
