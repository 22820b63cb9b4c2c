"""BigGAN-deep: loading it by name or from a directory, its class names, and `Generator`, the one
interface the search and the film render through."""
from __future__ import annotations

import json
from pathlib import Path

from ..latents import LatentShape
from . import NO_NETWORK_HELP, CheckpointMismatchError, ModelUnavailableError
from .checkpoints import check_model_file, json_problem, unreadable
from .classes import imagenet_classes

BIGGAN_NAMES = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")
BIGGAN_FILES = ("config.json", "pytorch_model.bin")
# What a BigGAN config.json must say (pytorch_pretrained_biggan's BigGANConfig reads them all).
BIGGAN_CONFIG_KEYS = ("output_dim", "z_dim", "class_embed_dim", "channel_width", "num_classes", "layers",
                      "attention_layer_position")
# A generator directory may name its classes, one per line (BigGAN's own are the ImageNet classes).
CLASS_NAMES_FILE = "class_names.txt"


def generator_is_named(model: str) -> bool:
    return model in BIGGAN_NAMES


def generator_files(model: str) -> list[str]:
    """Local files a generator spec reads (empty for a named model fetched into a cache)."""
    if generator_is_named(model):
        return []
    return [str(Path(model) / name) for name in BIGGAN_FILES]


def generator_resolution(model: str) -> int:
    """Image side of a generator spec, without loading its weights."""
    if generator_is_named(model):
        return int(model.rsplit("-", 1)[1])
    check_model_file(Path(model) / "config.json", "generator.model", "config", BIGGAN_CONFIG_KEYS)
    return int(json.loads((Path(model) / "config.json").read_text())["output_dim"])


def latent_shape(model: str) -> LatentShape | None:
    """The sizes of a generator spec's latents (`latents.LatentShape`), from its config.json without
    loading its weights; None while a directory has no readable config (a model the workflow makes)."""
    if generator_is_named(model):
        return LatentShape(z_dim=128, num_classes=1000, embed_dim=128)  # every BigGAN-deep
    config_file = Path(model) / "config.json"
    if json_problem(config_file, BIGGAN_CONFIG_KEYS):
        return None
    config = json.loads(config_file.read_text())
    return LatentShape(z_dim=int(config["z_dim"]), num_classes=int(config["num_classes"]),
                       embed_dim=int(config["class_embed_dim"]))


def generator_class_names(model: str) -> list[str]:
    """The class names of a generator spec, without loading its weights: its directory's
    class_names.txt if it has one, else the ImageNet classes."""
    names_file = class_names_file(model)
    if names_file:
        return [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
    return imagenet_classes()


def class_names_file(model: str) -> Path | None:
    """A generator directory's class_names.txt, if it has one."""
    names_file = Path(model) / CLASS_NAMES_FILE
    return names_file if not generator_is_named(model) and names_file.is_file() else None


def check_generator_spec(model: str) -> None:
    """Cheap check, at workflow parse time, that `generator.model` can be resolved."""
    if generator_is_named(model):
        return
    path = Path(model)
    if not path.is_dir():
        raise ModelUnavailableError(
            f"generator.model: '{model}' is neither a known BigGAN name ({', '.join(BIGGAN_NAMES)}) "
            f"nor an existing directory. {_biggan_offline_help(model)}"
        )
    missing = [name for name in BIGGAN_FILES if not (path / name).is_file()]
    if missing:
        raise ModelUnavailableError(
            f"generator.model: directory '{model}' lacks {', '.join(missing)}. {_biggan_offline_help(model)}"
        )
    check_model_file(path / "config.json", "generator.model", "config", BIGGAN_CONFIG_KEYS)
    check_model_file(path / "pytorch_model.bin", "generator.model")


def _biggan_offline_help(model: str) -> str:
    return (
        "To run without network, place a directory holding BigGAN's config.json and "
        "pytorch_model.bin (for biggan-deep-512: the files biggan-deep-512-config.json and "
        "biggan-deep-512-pytorch_model.bin from the pytorch-pretrained-biggan release, renamed) "
        "and set generator.model to that directory's path."
    )


def _resolve_biggan(model: str) -> tuple[str, str]:
    if not generator_is_named(model):
        check_generator_spec(model)
        return str(Path(model) / "config.json"), str(Path(model) / "pytorch_model.bin")
    from pytorch_pretrained_biggan.file_utils import cached_path
    from pytorch_pretrained_biggan.model import PRETRAINED_CONFIG_ARCHIVE_MAP, PRETRAINED_MODEL_ARCHIVE_MAP

    try:
        config_file = cached_path(PRETRAINED_CONFIG_ARCHIVE_MAP[model])
        weights_file = cached_path(PRETRAINED_MODEL_ARCHIVE_MAP[model])
    except Exception as err:  # network errors come in many types; all mean the same to the user
        raise ModelUnavailableError(
            f"could not fetch the weights of generator '{model}' ({type(err).__name__}: {err}). "
            + _biggan_offline_help(model) + " " + NO_NETWORK_HELP
        ) from None
    return config_file, weights_file


class Generator:
    """BigGAN behind the interface the search and the film use.

    `render` applies the workshop's conventions in one place: the noise is clamped to
    ±2·truncation, the class logits go through a softmax, and pixels come back in [0, 1].
    """

    def __init__(self, biggan, name: str, class_names=None):
        self.biggan = biggan
        self.name = name
        self.z_dim = biggan.config.z_dim
        self.num_classes = biggan.config.num_classes
        self.resolution = biggan.config.output_dim
        self.class_names = list(class_names) if class_names else [f"class {i}" for i in range(self.num_classes)]

    @property
    def device(self):
        return next(self.biggan.parameters()).device

    def class_embeddings(self):
        """[num_classes, embed_dim]: the embedding BigGAN gives each class."""
        return self.biggan.embeddings.weight.T

    def embed(self, probabilities):
        """Class embeddings [N, embed_dim] of class probabilities [N, num_classes]: a mix of classes is
        the same mix of their embeddings."""
        return self.biggan.embeddings(probabilities)

    def embed_logits(self, logits):
        """Class embeddings [N, embed_dim] of class logits [N, num_classes] (through their softmax)."""
        import torch

        return self.embed(torch.softmax(logits, dim=-1))

    def render(self, noise, class_vector, truncation: float, class_mode: str = "logits", grayscale: bool = False):
        """Images in [0, 1] for noise [N, z_dim] and class logits [N, num_classes] (or, with
        class_mode 'embedding', class embeddings [N, embed_dim])."""
        import torch

        z = noise.clamp(-2.0 * truncation, 2.0 * truncation)
        embedding = class_vector if class_mode == "embedding" else self.embed_logits(class_vector)
        images = self.biggan.generator(torch.cat([z, embedding.to(z.dtype)], dim=1), truncation)
        images = ((images + 1.0) / 2.0).clamp(0.0, 1.0)
        if grayscale:  # the notebook's "color off": the channel mean
            images = images.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        return images


def load_generator(model: str, device="cpu") -> Generator:
    """Load BigGAN-deep by name (downloads once) or from a directory with config.json + pytorch_model.bin."""
    import torch
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    config_file, weights_file = _resolve_biggan(model)
    try:
        config = BigGANConfig.from_json_file(config_file)
        biggan = BigGAN(config)
    except Exception as err:  # a config.json that parses but describes no BigGAN
        raise unreadable("generator.model", config_file, err) from None
    try:
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise unreadable("generator.model", weights_file, err) from None
    result = biggan.load_state_dict(state, strict=False)
    # pytorch-pretrained-biggan itself loads with strict=False: refuse what it would silently accept.
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointMismatchError(
            f"generator.model '{model}': checkpoint {weights_file} does not match its config.json: "
            f"missing keys {_few(result.missing_keys)}, unexpected keys {_few(result.unexpected_keys)}"
        )
    names = generator_class_names(model)
    if len(names) != config.num_classes:
        if class_names_file(model):
            raise CheckpointMismatchError(f"generator.model '{model}': {CLASS_NAMES_FILE} names {len(names)} "
                                          f"classes, config.json has {config.num_classes}")
        names = None  # a directory without names, of other than the 1000 ImageNet classes
    return Generator(prepare_for_inference(biggan).to(device), name=model, class_names=names)


def prepare_for_inference(biggan):
    """What loading does to a BigGAN: eval mode, spectral norm folded, the 3-channel last conv, no
    gradients for its weights (the search differentiates with respect to latents only)."""
    biggan.eval()
    fold_spectral_norm(biggan)
    keep_rgb_channels_only(biggan)
    return biggan.requires_grad_(False)


def fold_spectral_norm(biggan) -> None:
    """BigGAN's layers are spectrally normalised: in eval mode every call divides each weight by the
    same stored estimate of its largest singular value (a matrix-vector product, a dot product and a
    division per layer: hundreds of small kernel launches per call). Divide once, at load: the very
    same weights, without the launches. (A loaded generator is never trained.)"""
    from torch.nn.utils import remove_spectral_norm
    from torch.nn.utils.spectral_norm import SpectralNorm

    for module in biggan.modules():
        if any(isinstance(hook, SpectralNorm) for hook in module._forward_pre_hooks.values()):
            remove_spectral_norm(module)  # computes the eval-mode weight, without a power iteration


def keep_rgb_channels_only(biggan) -> None:
    """BigGAN's last conv computes 128 channels and keeps 3 of them; at 512 px that conv is half of all
    the generator's FLOPs. Replace it by a plain conv computing only the 3 kept channels (after
    `fold_spectral_norm`, its weight is the one eval mode uses): the same image for half the work."""
    import torch

    conv = biggan.generator.conv_to_rgb
    with torch.no_grad():
        rgb = torch.nn.Conv2d(conv.in_channels, 3, conv.kernel_size, padding=conv.padding,
                              bias=conv.bias is not None)
        rgb.weight.copy_(conv.weight[:3])
        if conv.bias is not None:
            rgb.bias.copy_(conv.bias[:3])
    biggan.generator.conv_to_rgb = rgb.requires_grad_(False).to(conv.weight.device)


def _few(keys, n=5):
    keys = list(keys)
    return "[" + ", ".join(keys[:n]) + (f", … {len(keys) - n} more" if len(keys) > n else "") + "]"

