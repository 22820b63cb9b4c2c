"""Files every stage writes the same way: atomically (a killed job never leaves a finished-looking
file), reproducibly (the same content gives the same bytes), with the job's log and the package
versions that made them."""
from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import io
import json
import os
import sys
import traceback
from pathlib import Path

# The packages whose versions every output records.
PACKAGES = ("machine-imagination", "torch", "torchvision", "open-clip-torch", "pytorch-pretrained-biggan",
            "cma", "numpy", "pysbd", "snakemake", "imageio-ffmpeg")


class AtomicFile:
    """A temporary file next to `path` that becomes `path` on `commit()` and disappears on `discard()`;
    as a context manager (`with AtomicFile(path) as tmp:`) it commits when the block ends and
    discards on an error. The temporary file is hidden (a results tree's manifest skips it) and keeps
    the suffix (ffmpeg infers the format from it); `tmp_name` names it instead, for writers that record
    their file's name in the file (torch.save names its archive after it)."""

    def __init__(self, path: str | Path, tmp_name: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(tmp_name or f".{self.path.stem}.tmp{os.getpid()}{self.path.suffix}")

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, kind, value, tb) -> None:
        self.discard() if kind else self.commit()


def remove_with_leftovers(path: str | Path) -> None:
    """`path` removed, with the temporary files that AtomicFiles writing it left when their process was
    killed mid-write (SIGKILL runs no cleanup)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    for leftover in path.parent.glob(f".{glob.escape(path.stem)}.tmp*{path.suffix}"):
        leftover.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes, if_changed: bool = False) -> None:
    """`data` written to `path` atomically; with `if_changed`, a file that holds them already is left
    as it is (its time too, so that what depends on it is not thought out of date)."""
    if if_changed and same_bytes(path, data):
        return
    with AtomicFile(path) as tmp:
        tmp.write_bytes(data)


def same_bytes(path: str | Path, data: bytes) -> bool:
    path = Path(path)
    return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data


def atomic_copy(source: str | Path, target: str | Path, if_changed: bool = False) -> None:
    """A file's bytes copied to `target`, atomically (with `if_changed`: not over the same bytes)."""
    import shutil

    if if_changed and Path(target).is_file() and sha256_file(source) == sha256_file(target):
        return
    with AtomicFile(target) as tmp, open(source, "rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str | Path, value) -> None:
    """Indented, keys sorted, a final newline: a diff-friendly and reproducible JSON file."""
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def write_png(path: str | Path, image_hwc) -> None:
    """A [H, W, 3] uint8 array as a PNG file (Pillow writes no date in it)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image_hwc).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def digest(value) -> str:
    """A short SHA-256 of a JSON-able value (an identity: what determines an output), keys sorted."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _versions(names: tuple) -> tuple:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in names:
        try:
            found.append((name, version(name)))
        except PackageNotFoundError:
            found.append((name, None))
    return tuple(found)


def package_versions(names=PACKAGES) -> dict:
    """name -> installed version (None: not installed), looked up once per process."""
    return dict(_versions(tuple(names)))


@contextlib.contextmanager
def job_log(path):
    """Send a job's output, warnings and any traceback to its log file, and put the streams back
    afterwards. A job that fails also says why in one line on its own stderr, which Snakemake shows,
    so an error (a model that cannot be fetched, an interrupted search) is read without opening the log."""
    stdout, stderr = sys.stdout, sys.stderr
    with open(path, "w", buffering=1) as log:
        sys.stdout = sys.stderr = log
        try:
            yield log
        except BaseException as err:
            traceback.print_exc(file=log)
            print(f"{type(err).__name__}: {err} (the traceback is in {path})", file=stderr)
            raise
        finally:
            sys.stdout, sys.stderr = stdout, stderr
