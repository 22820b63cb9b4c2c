"""Model files on this machine checked before any job loads them: a checkpoint that is damaged (cut
short, garbled) or a model's JSON config that does not parse is named, with what to do, at parse time;
a checkpoint that still fails to load when a job (or `machine-imagination check`) loads it is named
the same way.

What these messages never say: PyTorch's own advice to load such a file with `weights_only=False`.
That runs whatever code the file holds; a checkpoint the pipeline loads is plain tensors, and one that
a safe load refuses is damaged or not what it claims to be.
"""
from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from ..inputs import file_problem, one_line
from . import ModelError

REFETCH = "fetch or copy it again (compare its SHA-256 with the source's)"


def checkpoint_problem(path) -> str | None:
    """What a cheap look finds wrong with a PyTorch checkpoint (a zip archive written by torch.save,
    or a legacy pickle), or a .safetensors file, without loading its tensors: the archive's
    directory, its record of objects (data.pkl, CRC-checked) and that every member lies within the
    file. None when nothing is seen wrong."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        return problem
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
    if path.suffix == ".safetensors":
        return _safetensors_problem(path, head, size)
    if head[:2] == b"\x80\x02" or head[:1] == b"\x80":  # a legacy (pre-zip) torch.save pickle
        return None
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK"):
            return f"is cut short ({size} bytes: a zip archive whose end is missing, as when a copy stops early)"
        return f"is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle; it starts {head!r})"
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            records = [m for m in members if m.filename.endswith("/data.pkl") or m.filename == "data.pkl"]
            if len(records) != 1:
                return "is a zip archive but not one torch.save writes (it has no data.pkl)"
            archive.read(records[0])  # checks its CRC
            if any(m.header_offset + m.compress_size > size for m in members):
                return "is cut short (a member of the archive runs past the end of the file)"
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        return f"is damaged ({one_line(str(err), 120)})"
    return None


def _safetensors_problem(path: Path, head: bytes, size: int) -> str | None:
    if len(head) < 8:
        return "is cut short (no safetensors header)"
    length = struct.unpack("<Q", head)[0]
    if length > size - 8:
        return "is cut short (its safetensors header runs past the end of the file)"
    try:
        with open(path, "rb") as handle:
            handle.seek(8)
            header = json.loads(handle.read(length))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        return f"has a damaged safetensors header ({one_line(str(err), 120)})"
    return "is cut short (its tensors run past the end of the file)" if 8 + length + end > size else None


def json_problem(path, required: tuple = ()) -> str | None:
    """What is wrong with a model's JSON config (cut short, not JSON, lacking a key), or None."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        return problem
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        return f"is not valid JSON (cut short or garbled? {one_line(str(err), 120)})"
    if not isinstance(value, dict):
        return "is not a JSON object"
    missing = [key for key in required if key not in value]
    return f"lacks {', '.join(missing)}" if missing else None


def check_model_file(path, key: str, kind: str = "checkpoint", required: tuple = ()) -> None:
    """Raise ModelError naming config key `key` and the file when a cheap look finds it damaged."""
    problem = checkpoint_problem(path) if kind == "checkpoint" else json_problem(path, required)
    if problem:
        raise ModelError(f"{key}: the {kind} file '{path}' {problem}; {REFETCH}")


def unreadable(key: str, path, err: BaseException) -> ModelError:
    """The error for a model file that failed to load: the file named, what failed in a line, and what
    to do; never PyTorch's advice to load it unsafely."""
    message = str(err)
    if "weights_only" in message or "Unpickl" in type(err).__name__:
        reason = ("it holds something other than plain tensors, which a safe load refuses: it is damaged, or "
                  "not a checkpoint of tensors (never load such a file unsafely: that runs the code it holds)")
    else:
        reason = one_line(message.split(". ")[0], 160) or type(err).__name__
    return ModelError(f"{key}: cannot load the file '{path}': {reason}; {REFETCH}")
