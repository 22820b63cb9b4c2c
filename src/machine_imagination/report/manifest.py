"""Provenance of a results tree: `manifest.json` records what made it and a SHA-256 of every output,
and `verify_manifest` re-checks a tree against it (also as `machine-imagination verify DIR`)."""
from __future__ import annotations

import json
from pathlib import Path

from ..files import package_versions, sha256_file as sha256, write_json
from ..latents import DAMAGED
from ..text import read_prompts_tsv

MANIFEST = "manifest.json"
# Not results: a search's resumable state (deleted when it finishes), and what each job took (status.py),
# which differs from run to run while the results are the same.
SKIPPED_DIRS = ("checkpoints", "timings")


def output_files(root: Path) -> list[Path]:
    """Every output under `root`: not the manifest, hidden files (a write in progress), a damaged file
    set aside to be made again (`<name>.damaged`), nor the skipped directories."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
                  and not p.name.endswith(DAMAGED) and p.relative_to(root).parts[0] not in SKIPPED_DIRS)


def write_manifest(root, config: dict, text_name: str) -> dict:
    """Write `<root>/manifest.json`: the config, each sentence's seed and prompt (from the text's
    prompts.tsv), the models, package versions and the SHA-256 of every file under `root`."""
    root = Path(root)
    manifest = {
        "text": text_name,
        "source": config["texts"][text_name],
        "config": {k: v for k, v in config.items() if k != "texts"},
        "sentences": [{"index": int(row["index"]), "seed": int(row["seed"]), "prompt": row["prompt"]}
                      for row in read_prompts_tsv(root / "prompts.tsv")],
        "models": {"generator": config["generator"]["model"],
                   "clip": f"{config['clip']['model']}/{config['clip']['pretrained']}"},
        "packages": package_versions(),
        "files": {p.relative_to(root).as_posix(): sha256(p) for p in output_files(root)},
    }
    write_json(root / MANIFEST, manifest)
    return manifest


def verify_manifest(root) -> list[str]:
    """Problems found comparing `root` with its manifest (an empty list: everything matches)."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        return [f"{path}: no manifest"]
    # (a manifest written before set-aside files were left out may list one: it is no output either)
    recorded = {name: digest for name, digest in json.loads(path.read_text())["files"].items()
                if not name.endswith(DAMAGED)}
    problems = []
    for name, digest in sorted(recorded.items()):
        file = root / name
        if not file.is_file():
            problems.append(f"{name}: missing")
        elif sha256(file) != digest:
            problems.append(f"{name}: changed (SHA-256 differs from the manifest)")
    for file in output_files(root):
        name = file.relative_to(root).as_posix()
        if name not in recorded:
            problems.append(f"{name}: not in the manifest")
    return problems
