"""What a search is asked to do: `SearchSettings`, one value per `search:` key of the config (see
config/README.md), with the workshop notebook's defaults."""
from __future__ import annotations

from dataclasses import dataclass

from ..models.classes import check_initial_class
from ..models.device import PRECISIONS

OPTIMIZERS = ("cma-es", "adam", "sgd", "cma-es-interleaved-adam", "cma-es-interleaved-sgd",
              "cma-es-terminal-adam", "cma-es-terminal-sgd")
AUGMENTATIONS = ("crops", "rich")


@dataclass(frozen=True)
class SearchSettings:
    optimizer: str = "cma-es"
    iterations: int = 50
    terminal_iterations: int = 50
    population: int = 50
    sigma0: float = 0.5
    covariance: str = "full"  # or "diagonal"
    active: bool = True
    learning_rate: float = 0.1
    momentum: float = 0.9  # SGD
    initial_class: str = "random-mix"  # a mode of INITIAL_CLASS_MODES, or an ImageNet class name/index
    class_smoothing: float = 0.1
    embedding_factor: float = 0.067  # 'random-embeddings': the generator gets the searched vector times this
    optimize_class: bool = True
    init_samples: int = 0  # FuseDream-style: score this many random draws first (0: off)
    init_top: int = 1  # ...and start from the best k of them
    crops: int = 64
    crop_min: float = 0.7
    crop_max: float = 0.98
    augmentation: str = "crops"  # or "rich": + colour jitter, shift, resize, cutout
    noise_normality: float = 0.0
    embedding_normality: float = 0.0
    class_entropy: float = 1e-4
    stochastic_truncation: bool = False
    grayscale: bool = False
    generator_batch: int = 50
    clip_batch: int = 512
    precision: str = "fp32"  # or "bf16" / "fp16": autocast the networks (see precision_warning)
    channels_last: bool = False  # NHWC convs (models.tune_for_speed)
    compile: bool = False  # torch.compile the networks (models.tune_for_speed)
    truncation: float = 1.0
    story_keep: float = 0.5  # with a previous sentence's latents: how much of them the start keeps
    judge_crops: int = 64

    @classmethod
    def from_config(cls, config: dict, overrides: dict | None = None) -> "SearchSettings":
        """Settings from a validated config; `overrides`: a sentence's own values (e.g. iterations)."""
        values = {k: v for k, v in {**config["search"], **(overrides or {})}.items() if k in cls.__dataclass_fields__}
        return cls(**values, truncation=config["generator"]["truncation"], judge_crops=config["judge"]["crops"])

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
