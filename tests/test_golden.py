"""Pinned outputs: the offline config end to end, every latents array, sentence image and decoded film
frame compared by SHA-256 with values recorded from an earlier commit (tests/golden/offline.json).

A refactor must leave every value as it is. A change of behaviour on purpose updates the file in its
own commit that says what changed and why:

    .venv/bin/python tests/test_golden.py --record            # runs the offline config, rewrites the file

The values hold for the machine kind CI runs on (x86_64, 2 cores): floating-point sums and x264's
threads may round differently elsewhere. This test reads the outputs with numpy, Pillow and ffmpeg
only, never with the package, so that moving the package's code cannot change what it checks.
"""
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import REPO, pins, snakemake  # noqa: E402

pytestmark = pytest.mark.e2e

GOLDEN = REPO / "tests" / "golden" / "offline.json"
TEXT = "the-lighthouse-keeper"


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def latents_digests(path: Path) -> dict:
    """Every array of a latents file; of the provenance, everything but the package versions (which
    record the machine's installation, not the result)."""
    out = {}
    with np.load(path, allow_pickle=False) as data:
        for key in sorted(data.files):
            value = data[key]
            if key == "provenance":
                value = np.asarray(json.dumps(without_packages(json.loads(value.item())), sort_keys=True))
            out[key] = array_digest(value)
    return out


def without_packages(record):
    """A provenance record without the package versions, wherever they are (they record the machine's
    installation, not the result)."""
    if isinstance(record, dict):
        return {key: without_packages(value) for key, value in record.items() if key != "packages"}
    return record


def film_frame_digests(path: Path) -> list:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    return [array_digest(np.frombuffer(frame, np.uint8).reshape(height, width, 3)) for frame in reader]


def digests(results: Path) -> dict:
    return {
        "latents": {p.name: latents_digests(p) for p in sorted((results / "latents").glob("*.npz"))},
        "images": {p.name: array_digest(np.asarray(Image.open(p).convert("RGB")))
                   for p in sorted((results / "images").glob("*.png"))},
        "film_frames": film_frame_digests(results / "film.mp4"),
    }


def run_offline(workdir: Path) -> Path:
    for name in ("config", "texts"):
        (workdir / name).symlink_to(REPO / name)
    run = snakemake(workdir, "--configfile", "config/offline.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    return workdir / "results" / TEXT


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    return run_offline(tmp_path_factory.mktemp("golden"))


def test_offline_outputs_equal_the_pinned_values(offline):
    pinned = json.loads(pins(GOLDEN).read_text())
    found = digests(offline)
    assert sorted(found["latents"]) == sorted(pinned["latents"])
    for name, arrays in pinned["latents"].items():
        different = sorted(k for k in arrays.keys() | found["latents"][name].keys()
                           if arrays.get(k) != found["latents"][name].get(k))
        assert not different, f"latents/{name}: {', '.join(different)} differ from the pinned values"
    assert found["images"] == pinned["images"]
    assert len(found["film_frames"]) == len(pinned["film_frames"])
    different = [i for i, (a, b) in enumerate(zip(found["film_frames"], pinned["film_frames"])) if a != b]
    assert not different, f"film frames {different[:10]}{' …' if len(different) > 10 else ''} differ"


if __name__ == "__main__":
    if sys.argv[1:] not in (["--record"], ["--record-this-machine"]):
        sys.exit(__doc__)
    GOLDEN = pins(GOLDEN, recording=sys.argv[1] == "--record-this-machine")
    workdir = Path(tempfile.mkdtemp(prefix="golden-"))
    try:
        values = digests(run_offline(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"{GOLDEN}: {len(values['latents'])} latents files, {len(values['images'])} images, "
          f"{len(values['film_frames'])} film frames")
