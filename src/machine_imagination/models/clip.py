"""CLIP through open_clip: by architecture name and pretrained tag, a checkpoint file, or a directory;
with its tokenizer and the image normalisation it was trained with."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import NO_NETWORK_HELP, CheckpointMismatchError, ModelError, ModelUnavailableError
from .checkpoints import check_model_file, unreadable

CLIP_DIR_FILES = ("open_clip_config.json", "open_clip_pytorch_model.bin")
# OpenAI's CLIP normalisation, used when a checkpoint does not name its own (and by the models made here).
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


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
        check_model_file(path / CLIP_DIR_FILES[0], "clip.model", "config", ("model_cfg",))
        check_model_file(path / CLIP_DIR_FILES[1], "clip.model")
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
    if pretrained is None:
        return
    if Path(pretrained).is_file():
        check_model_file(pretrained, "clip.pretrained")
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
    except Exception as err:  # noqa: BLE001 - every failure becomes one named error
        local = clip_files(model, pretrained)
        if not local and ("download" in str(err).lower() or "hub" in str(err).lower()):
            raise ModelUnavailableError(
                f"could not fetch CLIP '{model}' / '{pretrained}' ({err}). {_clip_offline_help()} {NO_NETWORK_HELP}"
            ) from None
        if isinstance(err, RuntimeError) and "state_dict" in str(err):  # tensors that do not fit the config
            raise CheckpointMismatchError(f"CLIP '{model}' / '{pretrained}': {err}") from None
        key = "clip.model" if not clip_is_named(model) else "clip.pretrained"
        raise unreadable(key, local[-1] if local else f"{model}/{pretrained}", err) from None
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

