"""Where every benchmark writes its numbers: one JSON file, its folder made if need be."""
from __future__ import annotations

import json
from pathlib import Path


def write_json(path, data, *, indent: int = 1, sort_keys: bool = False) -> Path:
    """`data` as indented JSON with a final newline at `path` (its folders made); the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")
    return path
