"""Latents on disk: one `.npz` per sentence, written atomically and byte-for-byte reproducibly.

Keys: noise [z_dim] and class_logits [num_classes] (float32, before clamping / softmax; searches that
search the class embedding itself store class_embedding [embed_dim] instead), truncation, grayscale,
loss, similarity, best_iteration, prompt, sentence, index, seed, generator, clip, history_* arrays and
`provenance` (JSON: config, package versions). Strings are stored as numpy unicode scalars, so the
file loads with `np.load(path)` and no pickle.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

REQUIRED_KEYS = ("noise", "truncation")  # and class_logits or class_embedding
PACKAGES = ("machine-imagination", "torch", "torchvision", "open-clip-torch", "pytorch-pretrained-biggan",
            "cma", "numpy", "pysbd", "snakemake", "imageio-ffmpeg")


class LatentsError(ValueError):
    """A latents file is unreadable or malformed; the message names the file."""


def package_versions(names=PACKAGES) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write via a temporary file and a rename, so an interrupted job never leaves a finished-looking file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_latents(path: str | Path, arrays: dict) -> None:
    """Like np.savez, but with fixed zip timestamps (identical content -> identical bytes) and atomic."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            value = arrays[key]
            if isinstance(value, (dict, list)) and not isinstance(value, np.ndarray):
                value = json.dumps(value, sort_keys=True)
            array = np.asarray(value)
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    atomic_write_bytes(path, buffer.getvalue())


def load_latents(path: str | Path) -> dict:
    """Load a latents file into plain Python/numpy values; raise LatentsError naming the file if it is bad."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            values = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise LatentsError(f"latents file '{path}' cannot be read: {err}") from None
    missing = [k for k in REQUIRED_KEYS if k not in values]
    if "class_logits" not in values and "class_embedding" not in values:
        missing.append("class_logits")
    if missing:
        raise LatentsError(f"latents file '{path}' lacks {', '.join(missing)}")
    out = {}
    for key, value in values.items():
        if value.ndim == 0:
            value = value.item()
            if key == "provenance":
                value = json.loads(value)
        out[key] = value
    return out


def _read_vector(path: Path, size: int | None, what: str) -> np.ndarray:
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=1)
    except (OSError, ValueError) as err:
        raise LatentsError(f"{what} file '{path}' cannot be read as one number per line: {err}") from None
    if values.ndim != 1 or (size is not None and len(values) != size):
        raise LatentsError(f"{what} file '{path}' holds {values.size} numbers, expected {size}")
    return values


def from_notebook(noise_txt, class_txt, *, truncation: float = 1.0, z_dim: int | None = 128,
                  num_classes: int | None = 1000) -> dict:
    """Latents from the workshop notebook's `*_noise.txt` / `*_class.txt` (one number per line).
    The class file holds the vector BigGAN was given: probabilities (non-negative, summing to 1) are
    turned into logits whose softmax gives them back; anything else is taken as logits."""
    noise = _read_vector(Path(noise_txt), z_dim, "noise")
    classes = _read_vector(Path(class_txt), num_classes, "class")
    if classes.min() >= 0 and abs(classes.sum() - 1) < 1e-3:
        classes = np.log(np.clip(classes, 1e-12, None))
    return {"noise": noise.astype(np.float32), "class_logits": classes.astype(np.float32),
            "truncation": float(truncation), "source": f"{noise_txt} + {class_txt}"}


def to_notebook(record: dict, prefix) -> tuple[Path, Path]:
    """Write `<prefix>_noise.txt` and `<prefix>_class.txt` as the notebook did (the class file holds
    the softmax probabilities BigGAN is given)."""
    if "class_logits" not in record:
        raise LatentsError("latents searched as class embeddings have no class vector for the notebook")
    logits = np.asarray(record["class_logits"], dtype=np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    noise_path, class_path = Path(f"{prefix}_noise.txt"), Path(f"{prefix}_class.txt")
    np.savetxt(noise_path, np.asarray(record["noise"], dtype=np.float64), fmt="%.9g")
    np.savetxt(class_path, probs, fmt="%.9g")
    return noise_path, class_path
