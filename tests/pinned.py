"""Pinned outputs that hold on any x86_64 CPU kind (tests/test_golden.py, tests/test_long_texts.py).

A results tree is reduced to the values a golden file stores (`values`) and compared with them
(`compare`), which lists every difference outside its tolerance, naming the file and its size:

- **exactly** (SHA-256 of dtype, shape and bytes, or the value itself), what is the same on every x86_64
  kind: the searched latents (noise, class logits) and every other array of a latents file that is not a
  score, the file list, prompts.tsv, film.srt, the film's timing as film.json says it (frames, fps,
  seconds, each caption's first and last frame), the decoded film's frame count and size, and the
  latents' provenance without its package versions (kept readable, and re-recorded alone with
  `--record-provenance`; film.json's record of the settings is not pinned: a record, like the
  provenance, that a refactor may reshape);
- **scores and histories** (every other float array of a latents file: loss, similarity, judge scores,
  the per-iteration history) with |found - pinned| <= SCORE_ATOL + SCORE_RTOL * |pinned|;
- **pixels** as thumbnails, the means of square blocks rounded to 8-bit levels (the sentence images in
  blocks of IMAGE_BLOCK pixels, each decoded film frame in blocks of FRAME_BLOCK), by the largest and
  the mean absolute difference of each image or frame (IMAGE_TOLERANCE, FRAME_TOLERANCE).

The tolerances come from the differences measured between runs of the offline config on other
rounding behaviours (bench/rounding.py: torch's kernels without AVX2, MKL and oneDNN on SSE, x264 on
another thread count; results in bench/results/rounding.json, numbers and margins in
docs/reproducibility.md). Outputs are read with numpy, Pillow and ffmpeg only, never with the package,
so that moving the package's code cannot change what is checked.
"""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

# |found - pinned| <= SCORE_ATOL + SCORE_RTOL * |pinned|: 30 times the largest difference measured
# (3.05e-7 between similarities, 3.2e-7 of the value between losses).
SCORE_ATOL = 1e-5
SCORE_RTOL = 1e-5
# The latents arrays that are scores (the rest of a latents file is pinned exactly).
EXACT_FLOATS = ("noise", "class_logits", "truncation")
IMAGE_BLOCK = 8   # a 128 px sentence image -> a 16 x 16 thumbnail
FRAME_BLOCK = 16  # a 256 px film frame -> 16 x 16


@dataclass(frozen=True)
class PixelTolerance:
    """The largest and the mean absolute difference allowed between two thumbnails (8-bit levels)."""

    max: float
    mean: float


# Measured (bench/results/rounding.json): sentence images differ by at most 1 level in a few pixels,
# so a rounded block mean flips by 1 at most; decoded frames by up to 6 levels in a block and 0.36 on
# average over a frame (x264 decides differently on rounded-differently pixels, and on its thread count).
IMAGE_TOLERANCE = PixelTolerance(max=2, mean=0.05)
FRAME_TOLERANCE = PixelTolerance(max=16, mean=1.2)
# Rendered pixels at full resolution, before any encoding (tests/test_latents.py): the landed frames
# rendered on an AVX-512 AMD EPYC and on this kind differ by at most 1 level, 8e-5 on average.
RENDER_TOLERANCE = PixelTolerance(max=2, mean=0.01)


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def rounded(array: np.ndarray) -> list | float:
    """Floats to 8 significant digits (beyond float32's precision, far inside the tolerance)."""
    return np.vectorize(lambda x: float(f"{x:.8g}"), otypes=[float])(np.asarray(array, dtype=float)).tolist()


def thumbnail(image: np.ndarray, block: int) -> np.ndarray:
    """[H, W, 3] uint8 -> the means of its block x block squares, rounded to uint8 (edges cut off)."""
    h, w = image.shape[0] // block * block, image.shape[1] // block * block
    blocks = image[:h, :w].astype(np.float64).reshape(h // block, block, w // block, block, -1)
    return np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)


def pack(arrays: np.ndarray) -> str:
    """uint8 thumbnails as text: each after the first as its difference from the one before (a held
    image repeats), compressed, base64."""
    arrays = np.asarray(arrays, dtype=np.uint8)
    delta = np.diff(arrays.astype(np.int16), axis=0, prepend=np.zeros_like(arrays[:1], dtype=np.int16))
    return base64.b64encode(zlib.compress(delta.astype(np.uint8).tobytes(), 9)).decode()


def unpack(text: str, shape) -> np.ndarray:
    delta = np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8).reshape(shape)
    return np.cumsum(delta, axis=0, dtype=np.uint8)  # uint8 arithmetic wraps exactly as the differences did


# --------------------------------------------------------------------------- reading a results tree


BOOKKEEPING = ("timings", "receipts")  # what the jobs record of their running, as the manifest skips it


def latents_values(path: Path) -> tuple[dict, dict]:
    """A latents file's arrays (exact digests; scores as rounded values) and its provenance without the
    package versions (which record the machine's installation, not the result)."""
    exact, scores, provenance = {}, {}, {}
    with np.load(path, allow_pickle=False) as data:
        for key in sorted(data.files):
            value = data[key]
            if key == "provenance":
                provenance = without_packages(json.loads(value.item()))
            elif value.dtype.kind == "f" and key not in EXACT_FLOATS:
                scores[key] = rounded(value)
            else:
                exact[key] = array_digest(value)
    return {"exact": exact, "scores": scores}, provenance


def without_packages(record):
    """A provenance record without the package versions, wherever they sit in it."""
    if isinstance(record, dict):
        return {key: without_packages(value) for key, value in record.items() if key != "packages"}
    return record


def film_thumbnails(path: Path) -> tuple[list, list]:
    """A film's frame size and the thumbnail of each decoded frame (each frame once, as coded: ffmpeg's
    default would repeat frames to fit the rate it guesses for a film of a few frames)."""
    reader = imageio_ffmpeg.read_frames(str(path), output_params=["-fps_mode", "passthrough"])
    width, height = next(reader)["size"]
    return [height, width, 3], [thumbnail(np.frombuffer(f, np.uint8).reshape(height, width, 3), FRAME_BLOCK)
                                for f in reader]


def film_timing(path: Path) -> dict:
    """What film.json says of the film's timing: frames, fps, seconds, each caption's first and last frame."""
    film = json.loads(path.read_text())
    return {key: film[key] for key in ("frames", "fps", "seconds", "caption_frames")}


def latents_of(results: Path) -> dict:
    """The `latents` and `provenance` entries of `values` alone (every distinct provenance once)."""
    latents, provenances = {}, []
    for path in sorted((Path(results) / "latents").glob("*.npz")):
        latents[path.name], provenance = latents_values(path)
        if provenance not in provenances:
            provenances.append(provenance)
        latents[path.name]["provenance"] = provenances.index(provenance)
    return {"latents": latents, "provenance": provenances}


def values(results: Path) -> dict:
    """What a golden file pins of a finished results tree."""
    results = Path(results)
    images = sorted((results / "images").glob("*.png"))
    thumbs = [thumbnail(np.asarray(Image.open(p).convert("RGB")), IMAGE_BLOCK) for p in images]
    size, frames = film_thumbnails(results / "film.mp4")
    return {
        "files": sorted(p.relative_to(results).as_posix() for p in results.rglob("*")
                        if p.is_file() and p.relative_to(results).parts[0] not in BOOKKEEPING),
        "digests": {"prompts.tsv": hashlib.sha256((results / "prompts.tsv").read_bytes()).hexdigest(),
                    "film.srt": hashlib.sha256((results / "film.srt").read_bytes()).hexdigest()},
        **latents_of(results),
        "images": {"names": [p.name for p in images], "block": IMAGE_BLOCK,
                   "shape": list(np.shape(thumbs)), "thumbnails": pack(thumbs)},
        "film": {"timing": film_timing(results / "film.json"), "frames": len(frames), "size": size,
                 "block": FRAME_BLOCK, "shape": list(np.shape(frames)), "thumbnails": pack(frames)},
    }


# --------------------------------------------------------------------------- comparing


def score_problems(name: str, key: str, pinned, found) -> list[str]:
    pinned, found = np.asarray(pinned, dtype=float), np.asarray(found, dtype=float)
    if pinned.shape != found.shape:
        return [f"latents/{name}: {key} has shape {found.shape}, pinned {pinned.shape}"]
    excess = np.abs(found - pinned) - (SCORE_ATOL + SCORE_RTOL * np.abs(pinned))
    if np.isnan(found).any() != np.isnan(pinned).any() or (excess > 0).any():
        worst = int(np.nanargmax(excess)) if excess.size > 1 else 0
        difference = float(np.abs(found - pinned).flat[worst])
        where = f"[{worst}]" if pinned.ndim else ""
        return [f"latents/{name}: {key}{where} differs by {difference:.3g} ({found.flat[worst]:.8g}, pinned "
                f"{pinned.flat[worst]:.8g}; tolerance {SCORE_ATOL:g} + {SCORE_RTOL:g} x |pinned|)"]
    return []


def pixel_problems(label: str, pinned: np.ndarray, found: np.ndarray, tolerance: PixelTolerance,
                   what: str = "block means") -> list[str]:
    """The difference between two images (or thumbnails), if it is outside `tolerance`."""
    if pinned.shape != found.shape:
        return [f"{label}: of shape {found.shape}, pinned {pinned.shape}"]
    difference = np.abs(found.astype(np.int16) - pinned.astype(np.int16))
    largest, mean = int(difference.max()), float(difference.mean())
    if largest > tolerance.max or mean > tolerance.mean:
        return [f"{label}: pixels differ by up to {largest} levels, {mean:.3f} on average ({what}; "
                f"tolerance {tolerance.max:g} and {tolerance.mean:g})"]
    return []


def latents_problems(pinned: dict, found: dict, name: str, *, provenance: bool = True) -> list[str]:
    """The differences of one latents file (its entries in two `values`, or `latents_of`)."""
    mine, theirs = pinned["latents"].get(name), found["latents"].get(name)
    if mine is None or theirs is None:
        return [f"latents/{name}: {'not pinned' if mine is None else 'missing'}"]
    problems = []
    exact = sorted(k for k in mine["exact"].keys() | theirs["exact"].keys()
                   if mine["exact"].get(k) != theirs["exact"].get(k))
    if exact:
        problems.append(f"latents/{name}: {', '.join(exact)} differ from the pinned values (pinned exactly)")
    for key in sorted(mine["scores"].keys() | theirs["scores"].keys()):
        if key not in mine["scores"] or key not in theirs["scores"]:
            problems.append(f"latents/{name}: {key} is {'not pinned' if key not in mine['scores'] else 'missing'}")
        else:
            problems += score_problems(name, key, mine["scores"][key], theirs["scores"][key])
    if provenance and pinned["provenance"][mine["provenance"]] != found["provenance"][theirs["provenance"]]:
        problems.append(f"latents/{name}: its provenance differs from the pinned one (if on purpose, re-record it "
                        f"alone: --record-provenance)")
    return problems


def compare(pinned: dict, found: dict, *, provenance: bool = True) -> list[str]:
    """Every difference between pinned `values` and those of a run, outside the tolerances."""
    problems = []
    if found["files"] != pinned["files"]:
        missing = sorted(set(pinned["files"]) - set(found["files"]))
        extra = sorted(set(found["files"]) - set(pinned["files"]))
        problems.append(f"the files differ: missing {missing[:8]}, not pinned {extra[:8]}")
    problems += [f"{name}: differs from the pinned SHA-256" for name, digest in pinned["digests"].items()
                 if found["digests"].get(name) != digest]
    for name in sorted(pinned["latents"].keys() | found["latents"].keys()):
        problems += latents_problems(pinned, found, name, provenance=provenance)
    # the sentence images
    images, theirs = pinned["images"], found["images"]
    if images["names"] != theirs["names"] or images["shape"] != theirs["shape"]:
        problems.append(f"images: {theirs['names']} of thumbnails {theirs['shape']}, pinned {images['names']} "
                        f"{images['shape']}")
    else:
        mine, found_thumbs = unpack(images["thumbnails"], images["shape"]), unpack(theirs["thumbnails"],
                                                                                   theirs["shape"])
        for i, name in enumerate(images["names"]):
            problems += pixel_problems(f"images/{name}", mine[i], found_thumbs[i], IMAGE_TOLERANCE)
    # the film's timing, and its decoded frames
    film, theirs = pinned["film"], found["film"]
    problems += [f"film.json: {key} is {theirs['timing'].get(key)}, pinned {value}"
                 for key, value in film["timing"].items() if theirs["timing"].get(key) != value]
    if (film["frames"], film["size"]) != (theirs["frames"], theirs["size"]):
        problems.append(f"film.mp4: {theirs['frames']} frames of {theirs['size']}, pinned {film['frames']} of "
                        f"{film['size']}")
    else:
        mine, found_thumbs = unpack(film["thumbnails"], film["shape"]), unpack(theirs["thumbnails"], theirs["shape"])
        frames = [p for i in range(film["frames"])
                  for p in pixel_problems(f"film.mp4 frame {i}", mine[i], found_thumbs[i], FRAME_TOLERANCE)]
        problems += frames[:10] + ([f"film.mp4: {len(frames) - 10} more frames differ"] if len(frames) > 10 else [])
    return problems


def with_provenance_of(pinned: dict, found: dict) -> dict:
    """`pinned` with the provenance of `found` (a refactor that changes only what the latents record of
    their making, on purpose); refused if anything else differs."""
    problems = compare(pinned, found, provenance=False)
    if problems:
        raise SystemExit("not re-recording the provenance alone: other outputs differ too\n  " + "\n  ".join(problems))
    latents = {name: {**entry, "provenance": found["latents"][name]["provenance"]}
               for name, entry in pinned["latents"].items()}
    return {**pinned, "latents": latents, "provenance": found["provenance"]}


def write_values(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
