"""Tiny, randomly initialised models in the real on-disk formats, for running anywhere offline.

They keep the real interfaces (BigGAN: 128-dim noise, 1000 classes; CLIP: the stock BPE tokenizer and
a 77-token context) and are written exactly as real checkpoints are stored, so the pipeline loads them
through the same code as real weights. Their images are abstract patterns, not pictures.
Creation is deterministic: the same seed gives the same tensors.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..models.clip import OPENAI_MEAN, OPENAI_STD
from ..models.device import deterministic

TINY_MODELS_DIR = "resources/tiny-models"
TINY_GENERATOR = f"{TINY_MODELS_DIR}/biggan-tiny"
TINY_CLIP = f"{TINY_MODELS_DIR}/clip-tiny"

# A BigGAN-deep config at 128 px with channel width 8 (about 1 M parameters). Each block's
# output has the same or half its input channels; resolution = 4 * 2**(upsampling blocks).
TINY_BIGGAN_CONFIG = {
    "output_dim": 128,
    "z_dim": 128,
    "class_embed_dim": 128,
    "channel_width": 8,
    "num_classes": 1000,
    "layers": [[True, 16, 8], [True, 8, 4], [True, 4, 2], [True, 2, 1], [True, 1, 1]],
    "attention_layer_position": 3,
    "eps": 1e-4,
    "n_stats": 51,
}

# A small ViT CLIP at 64 px in open_clip's local-dir format.
TINY_CLIP_CONFIG = {
    "model_cfg": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    },
    "preprocess_cfg": {"mean": list(OPENAI_MEAN), "std": list(OPENAI_STD)},
}


def write_tiny_generator(directory: str | Path, seed: int = 0) -> Path:
    """Write `config.json` + `pytorch_model.bin` of a random BigGAN-deep that makes well-scaled images."""
    import torch
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    torch.manual_seed(seed)
    config = BigGANConfig.from_dict(TINY_BIGGAN_CONFIG)
    model = BigGAN(config)
    with torch.no_grad():
        # The class embedding's default init is too weak next to the noise; the final batch norm's
        # affine parameters are allocated uninitialised; attention starts switched off (gamma 0).
        model.embeddings.weight.normal_(0.0, 1.0)
        model.generator.bn.weight.fill_(4.0)  # more contrast after tanh
        model.generator.bn.bias.zero_()
        for module in model.modules():
            if hasattr(module, "gamma"):
                module.gamma.fill_(0.5)
        z = torch.randn(32, config.z_dim)
        classes = torch.softmax(torch.randn(32, config.num_classes) * 3.0, dim=-1)
        # Spectral norm only runs its power iteration in train mode: warm it up so sigma is right.
        model.train()
        for _ in range(20):
            model(z, classes, 1.0)
        model.eval()
        calibrate_batchnorms(model, z, classes)
    return save_generator_dir(directory, model, TINY_BIGGAN_CONFIG)


def calibrate_batchnorms(biggan, z, classes) -> None:
    """Set every batch norm's running statistics to those of its real input for this batch, layer by
    layer, as BigGAN's own statistics were measured (the same for every truncation here)."""
    import torch
    from pytorch_pretrained_biggan.model import BigGANBatchNorm

    def calibrate(module, args):
        x = args[0]
        module.running_means.copy_(x.mean(dim=(0, 2, 3)).expand_as(module.running_means))
        module.running_vars.copy_(x.var(dim=(0, 2, 3)).expand_as(module.running_vars))

    hooks = [m.register_forward_pre_hook(calibrate) for m in biggan.modules() if isinstance(m, BigGANBatchNorm)]
    try:
        with torch.no_grad():
            biggan(z, classes, 1.0)
    finally:
        for hook in hooks:
            hook.remove()


def save_generator_dir(directory: str | Path, biggan, config: dict) -> Path:
    """BigGAN's on-disk format: `config.json` + `pytorch_model.bin` (what `models.generator.load_generator` reads)."""
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    torch.save(biggan.state_dict(), directory / "pytorch_model.bin")
    return directory


def save_clip_dir(directory: str | Path, model, config: dict) -> Path:
    """open_clip's local-dir format: `open_clip_config.json` ({"model_cfg", "preprocess_cfg"}) +
    `open_clip_pytorch_model.bin` (what `models.clip.load_clip` reads)."""
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    torch.save(model.state_dict(), directory / "open_clip_pytorch_model.bin")
    return directory


def write_tiny_clip(directory: str | Path, seed: int = 0) -> Path:
    """Write `open_clip_config.json` + `open_clip_pytorch_model.bin` of a random small ViT CLIP."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP_CONFIG["model_cfg"])
    return save_clip_dir(directory, model, TINY_CLIP_CONFIG)


def write_tiny_models(generator_dir, clip_dir, seed: int = 0) -> None:
    """Both tiny models (rule make_tiny_models; the tests' fixtures), on one thread, deterministically."""
    with deterministic(1):
        write_tiny_generator(generator_dir, seed)
        write_tiny_clip(clip_dir, seed)
