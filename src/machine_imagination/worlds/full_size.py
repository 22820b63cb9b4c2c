"""Random-weight stand-ins for the real models at their real architectures and sizes (BigGAN-deep at
128/256/512 px, open_clip ViTs such as ViT-B/32), for running the default config's main job where its
weights cannot be downloaded: the full-size test (tests/test_full_size.py) and the benchmarks.

`lay_random_weights` puts them into `weights.cache` through the fetcher itself (`models.fetch.fetch`,
with a source that hands it local files instead of downloading): the same directories and files, the
same size and SHA-256 checks, the same load before anything is put in place, the same SHA256SUMS. A
run then finds its weights fetched and loads them as it would load the real ones. Creation is
deterministic (seed 0); the images are finite, well-spread patterns, not pictures.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from ..models.device import deterministic
from ..models.fetch import Announced, Fetch, clip_dir_config, fetch, weights_plan
from .tiny import calibrate_batchnorms

# BigGAN-deep: two blocks per resolution (the second upsamples); 10/12/14 blocks at 128/256/512 px.
CHANNELS = {128: [16, 16, 8, 4, 2, 1], 256: [16, 16, 8, 8, 4, 2, 1], 512: [16, 16, 8, 8, 4, 2, 1, 1]}


def biggan_deep_config(resolution: int) -> dict:
    """The published BigGAN-deep config (config.json) at 128, 256 or 512 px."""
    widths = CHANNELS[resolution]
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [(False, a, a), (True, a, b)]
    return {"output_dim": resolution, "z_dim": 128, "class_embed_dim": 128, "channel_width": 128,
            "num_classes": 1000, "layers": layers, "attention_layer_position": 8, "eps": 1e-4, "n_stats": 51}


def random_biggan(resolution: int):
    """The library's BigGAN-deep with seeded random weights, in eval mode, as published (spectral-norm
    hooks, the 128-channel last conv), scaled so that its images are finite: straight from the
    constructor the final batch norm is uninitialised, spectral norm's singular-vector estimates are
    random and the batch norms' statistics are placeholders, and activations overflow within 4 blocks.
    A fresh copy on each call (made once: calibrating takes seconds at 512 px)."""
    return copy.deepcopy(_calibrated_biggan(resolution))


@functools.lru_cache(maxsize=None)
def _calibrated_biggan(resolution: int):
    import torch
    import torch.nn.functional as F
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig
    from torch.nn.utils.spectral_norm import SpectralNorm

    torch.manual_seed(0)
    biggan = BigGAN(BigGANConfig.from_dict(biggan_deep_config(resolution))).eval()
    with torch.no_grad():
        biggan.generator.bn.weight.fill_(1.0)
        biggan.generator.bn.bias.zero_()
        # Power iterations on each weight alone (what training's forwards would do, one per call).
        for module in biggan.modules():
            for norm in [h for h in module._forward_pre_hooks.values() if isinstance(h, SpectralNorm)]:
                matrix = norm.reshape_weight_to_matrix(getattr(module, norm.name + "_orig"))
                u, v = getattr(module, norm.name + "_u"), getattr(module, norm.name + "_v")
                for _ in range(30):
                    v.copy_(F.normalize(matrix.t() @ u, dim=0, eps=norm.eps))
                    u.copy_(F.normalize(matrix @ v, dim=0, eps=norm.eps))
    calibrate_batchnorms(biggan, torch.randn(2, 128) * 0.5, torch.softmax(torch.randn(2, 1000) * 3.0, dim=-1))
    return biggan.requires_grad_(False)


def random_clip_model(model: str):
    """An open_clip architecture (e.g. ViT-B-32) with seeded random weights."""
    import open_clip
    import torch

    torch.manual_seed(0)
    return open_clip.create_model(model, pretrained=None).eval().requires_grad_(False)


def random_sources(item: Fetch, directory: Path) -> dict[str, Path]:
    """What the fetcher would download for `item`, made here with random weights: BigGAN's
    pytorch_model.bin and config.json, or an open_clip state dict (the fetcher writes its config)."""
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    if item.kind == "generator":
        resolution = int(item.model.rsplit("-", 1)[1])
        (directory / "config.json").write_text(json.dumps(biggan_deep_config(resolution), indent=2) + "\n")
        torch.save(random_biggan(resolution).state_dict(), directory / "pytorch_model.bin")
        return {"config.json": directory / "config.json", "pytorch_model.bin": directory / "pytorch_model.bin"}
    clip_dir_config(item.model, item.pretrained)  # an unknown model or tag fails here, as a real fetch would
    torch.save(random_clip_model(item.model).state_dict(), directory / "open_clip_pytorch_model.bin")
    return {"open_clip_pytorch_model.bin": directory / "open_clip_pytorch_model.bin"}


def local_source(files: dict[str, Path]):
    """A `download(url, dest)` for the fetcher that copies the local file of the destination's name and
    announces its size and SHA-256, as the Hugging Face hub announces a real file's."""

    def download(url: str, dest: Path) -> Announced:
        shutil.copyfile(files[Path(dest).name], dest)
        return Announced(Path(dest).stat().st_size, hashlib.sha256(Path(dest).read_bytes()).hexdigest())

    return download


def lay_random_weights(config: dict, log=print) -> list[Path]:
    """Random-weight checkpoints of every model `config` fetches into `weights.cache`, laid there by the
    fetcher (already fetched ones are verified and kept). Returns the directories."""
    laid = []
    with deterministic(2), tempfile.TemporaryDirectory(prefix="random-weights-") as tmp:
        for number, item in enumerate(weights_plan(config)):
            files = random_sources(item, Path(tmp) / str(number))
            laid.append(fetch(item, log=log, source=local_source(files)))
    return laid
