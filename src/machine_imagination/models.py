"""Loading the generator (BigGAN-deep) and CLIP (open_clip), by name or from local files.

This is the only module that knows where weights come from. Named models download on first use
(BigGAN into $PYTORCH_PRETRAINED_BIGGAN_CACHE, CLIP into the Hugging Face cache, $HF_HOME); a local
directory or file is loaded through the same code, which is how offline cluster nodes and the tiny
offline models work. Every failure to obtain weights becomes one `ModelUnavailableError` that says
how to pre-place the files, instead of a network traceback.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

BIGGAN_NAMES = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")
BIGGAN_FILES = ("config.json", "pytorch_model.bin")
CLIP_DIR_FILES = ("open_clip_config.json", "open_clip_pytorch_model.bin")
# A generator directory may name its classes, one per line (BigGAN's own are the ImageNet classes).
CLASS_NAMES_FILE = "class_names.txt"
# OpenAI's CLIP normalisation, used when a checkpoint does not name its own.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class ModelError(RuntimeError):
    """A model could not be loaded; the message says what to change."""


class ModelUnavailableError(ModelError):
    """Weights are not on this machine and could not be fetched."""


class CheckpointMismatchError(ModelError):
    """A checkpoint's tensors do not match the architecture its config describes."""


def select_device(name: str = "auto"):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was asked for, but torch sees no CUDA GPU on this machine")
    return torch.device(name)


# --------------------------------------------------------------------------- generator


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
    return int(json.loads((Path(model) / "config.json").read_text())["output_dim"])


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names in BigGAN's order (shipped as package data)."""
    return (Path(__file__).with_name("data") / "imagenet_classes.txt").read_text().splitlines()


def generator_class_names(model: str) -> list[str]:
    """The class names of a generator spec, without loading its weights: its directory's
    class_names.txt if it has one, else the ImageNet classes."""
    names_file = _class_names_file(model)
    if names_file:
        return [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
    return imagenet_classes()


def _class_names_file(model: str) -> Path | None:
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
            + _biggan_offline_help(model)
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
        """[num_classes, embed_dim]: the embedding BigGAN gives each class (a softmax mix is mixed)."""
        return self.biggan.embeddings.weight.T

    def render(self, noise, class_vector, truncation: float, class_mode: str = "logits", grayscale: bool = False):
        """Images in [0, 1] for noise [N, z_dim] and class logits [N, num_classes] (or, with
        class_mode 'embedding', class embeddings [N, embed_dim])."""
        import torch

        z = noise.clamp(-2.0 * truncation, 2.0 * truncation)
        if class_mode == "embedding":
            embedding = class_vector
        else:
            embedding = self.biggan.embeddings(torch.softmax(class_vector, dim=-1))
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
    config = BigGANConfig.from_json_file(config_file)
    biggan = BigGAN(config)
    try:
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelError(f"generator.model '{model}': cannot read {weights_file}: {err}") from None
    result = biggan.load_state_dict(state, strict=False)
    # pytorch-pretrained-biggan itself loads with strict=False: refuse what it would silently accept.
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointMismatchError(
            f"generator.model '{model}': checkpoint {weights_file} does not match its config.json: "
            f"missing keys {_few(result.missing_keys)}, unexpected keys {_few(result.unexpected_keys)}"
        )
    names = generator_class_names(model)
    if len(names) != config.num_classes:
        if _class_names_file(model):
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


def tune_for_speed(generator: "Generator", clip: "Clip", *, channels_last: bool = False,
                   compiled: bool = False) -> None:
    """The optional speed settings (search.channels_last, search.compile), applied to loaded models.
    Both compute the same functions, up to the summation order of the kernels they pick (last bits):
    channels_last stores conv weights (and so activations) as NHWC, which tensor-core convs prefer;
    `compiled` hands BigGAN's generator and CLIP's image tower to torch.compile (compiled on first
    use, again for each new batch size)."""
    import torch

    if channels_last:
        generator.biggan.to(memory_format=torch.channels_last)
        clip.model.visual.to(memory_format=torch.channels_last)
    if compiled:
        generator.biggan.generator = torch.compile(generator.biggan.generator)
        clip.model.visual = torch.compile(clip.model.visual)


def _few(keys, n=5):
    keys = list(keys)
    return "[" + ", ".join(keys[:n]) + (f", … {len(keys) - n} more" if len(keys) > n else "") + "]"


# --------------------------------------------------------------------------- CLIP


def clip_is_named(model: str) -> bool:
    """A CLIP spec is an open_clip architecture name (no '/': OpenAI's 'ViT-B/32' is 'ViT-B-32' in
    open_clip) unless it is a path to a checkpoint directory."""
    return not (Path(model).is_dir() or "/" in model or os.sep in model or model.startswith("."))


def clip_files(model: str, pretrained: str | None) -> list[str]:
    """Local files a CLIP spec reads (empty when the weights come from a download cache)."""
    if not clip_is_named(model):
        return [str(Path(model) / name) for name in CLIP_DIR_FILES]
    if pretrained and (os.sep in pretrained or Path(pretrained).is_file()):
        return [pretrained]
    return []


def check_clip_spec(model: str, pretrained: str | None) -> None:
    """Cheap check, at workflow parse time, that `clip.model` / `clip.pretrained` can be resolved."""
    if not clip_is_named(model):
        path = Path(model)
        missing = [name for name in CLIP_DIR_FILES if not (path / name).is_file()]
        if missing:
            hint = ""
            if model.count("/") == 1 and model.split("/")[0] in ("ViT-B", "ViT-L", "ViT-H", "ViT-g"):
                hint = f" (for OpenAI's model write '{model.replace('/', '-')}': open_clip's spelling)"
            raise ModelUnavailableError(
                f"clip.model: '{model}' is not a directory holding {' + '.join(CLIP_DIR_FILES)} "
                f"(missing: {', '.join(missing)}){hint}. {_clip_offline_help()}"
            )
        return
    import open_clip

    names = set(open_clip.list_models())
    if model not in names:
        close = sorted(n for n in names if n.lower().startswith(model.lower()[:5]))[:8]
        raise ModelError(
            f"clip.model: unknown open_clip model '{model}'"
            + (f" (similar: {', '.join(close)})" if close else "")
            + "; or give the path of a directory holding open_clip_config.json + open_clip_pytorch_model.bin"
        )
    if pretrained is None or Path(pretrained).is_file():
        return
    if os.sep in pretrained:
        raise ModelUnavailableError(f"clip.pretrained: file '{pretrained}' does not exist. {_clip_offline_help()}")
    tags = open_clip.list_pretrained_tags_by_model(model)
    if pretrained not in tags:
        raise ModelError(
            f"clip.pretrained: '{pretrained}' is not a pretrained tag of '{model}' "
            f"(known: {', '.join(tags) or 'none'}) nor an existing file"
        )


def _clip_offline_help() -> str:
    return (
        "To run without network, either fill the Hugging Face cache once where there is network "
        "(HF_HOME pointing at shared storage, then set HF_HUB_OFFLINE=1 on the compute nodes), or set "
        "clip.pretrained to the path of a checkpoint file (e.g. OpenAI's ViT-B-32.pt or an open_clip "
        "state dict), or clip.model to a directory with open_clip_config.json + open_clip_pytorch_model.bin."
    )


def _open_clip_model_name(model: str) -> str:
    return model if clip_is_named(model) else "local-dir:" + str(Path(model))


@dataclass
class Clip:
    """An open_clip model with its tokenizer and the image normalisation it was trained with."""

    model: object
    tokenizer: object
    name: str
    image_size: int
    mean: tuple
    std: tuple

    @property
    def device(self):
        return next(self.model.parameters()).device

    def encode_text(self, texts):
        import torch.nn.functional as F

        tokens = self.tokenizer(list(texts)).to(self.device)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def encode_images(self, images):
        """`images`: [N, 3, S, S] in [0, 1], S = `image_size`. Returns unit-norm embeddings."""
        import torch
        import torch.nn.functional as F

        mean = torch.tensor(self.mean, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, 3, 1, 1)
        return F.normalize(self.model.encode_image((images - mean) / std).float(), dim=-1)


def load_tokenizer(model: str):
    """The tokenizer of a CLIP spec, without loading any weights."""
    import open_clip

    return open_clip.get_tokenizer(_open_clip_model_name(model))


def load_clip(model: str, pretrained: str | None = "openai", device="cpu") -> Clip:
    """Load CLIP through open_clip: a name + pretrained tag (downloads once), a name + checkpoint file,
    or a directory with open_clip_config.json + open_clip_pytorch_model.bin."""
    import open_clip

    check_clip_spec(model, pretrained)
    name = _open_clip_model_name(model)
    kwargs = {}
    if clip_is_named(model) and pretrained and not Path(pretrained).is_file():
        tag_cfg = open_clip.get_pretrained_cfg(model, pretrained)
        # OpenAI's weights were trained with QuickGELU; the plain 'ViT-B-32' config uses nn.GELU.
        kwargs["force_quick_gelu"] = bool(tag_cfg.get("quick_gelu", False))
    try:
        clip_model = open_clip.create_model(
            name, pretrained=None if name.startswith("local-dir:") else pretrained, device=device, **kwargs
        )
    except RuntimeError as err:
        if "download" in str(err).lower() or "hub" in str(err).lower():
            raise ModelUnavailableError(
                f"could not fetch CLIP '{model}' / '{pretrained}' ({err}). {_clip_offline_help()}"
            ) from None
        raise CheckpointMismatchError(f"CLIP '{model}' / '{pretrained}': {err}") from None
    clip_model.eval().requires_grad_(False)
    cfg = open_clip.get_model_preprocess_cfg(clip_model)
    size = cfg.get("size", clip_model.visual.image_size)
    size = size[0] if isinstance(size, (tuple, list)) else size
    return Clip(
        model=clip_model,
        tokenizer=open_clip.get_tokenizer(name),
        name=model if pretrained is None or not clip_is_named(model) else f"{model}/{pretrained}",
        image_size=int(size),
        mean=tuple(cfg.get("mean", OPENAI_MEAN)),
        std=tuple(cfg.get("std", OPENAI_STD)),
    )

