"""Provenance of a results tree: `manifest.json` records what made it (the config, the seeds, the models,
the environment: every installed distribution, the pipeline's commit, the machines) and a SHA-256 of
every output; `verify_manifest` re-checks a tree against it (also as `machine-imagination verify DIR`),
and `environment_changes` / `rerun_warning` say how this environment differs from the one that made it."""
from __future__ import annotations

import json
from pathlib import Path

from ..environment import Changes, Environment, Machine, compare, machine_counts
from ..files import sha256_file as sha256, write_json
from ..latents import DAMAGED
from ..status import read_records
from ..text import read_prompts_tsv

MANIFEST = "manifest.json"
# Not results: a search's resumable state (deleted when it finishes), what each job took (status.py),
# which differs from run to run while the results are the same, and the jobs' receipts (what each made:
# bookkeeping for the workflow, machine_imagination.receipts).
SKIPPED_DIRS = ("checkpoints", "timings", "receipts")


def output_files(root: Path) -> list[Path]:
    """Every output under `root`: not the manifest, hidden files (a write in progress), a damaged file
    set aside to be made again (`<name>.damaged`), nor the skipped directories."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
                  and not p.name.endswith(DAMAGED) and p.relative_to(root).parts[0] not in SKIPPED_DIRS)


def write_manifest(root, config: dict, text_name: str) -> dict:
    """Write `<root>/manifest.json`: the config, each sentence's seed and prompt (from the text's
    prompts.tsv), the models, the environment and the SHA-256 of every file under `root`."""
    root = Path(root)
    manifest = {
        "text": text_name,
        "source": config["texts"][text_name],
        "config": {k: v for k, v in config.items() if k != "texts"},
        "sentences": [{"index": int(row["index"]), "seed": int(row["seed"]), "prompt": row["prompt"]}
                      for row in read_prompts_tsv(root / "prompts.tsv")],
        "models": {"generator": config["generator"]["model"],
                   "clip": f"{config['clip']['model']}/{config['clip']['pretrained']}"},
        "environment": Environment.here(config, jobs=job_machines(root)).to_json(),
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


def job_machines(root) -> dict[str, list[dict]]:
    """The machines the search and render jobs ran on, per stage, as their timing records say (one
    record per sentence searched or segment rendered; records from before they named it are left out)."""
    jobs = {}
    for stage in ("search", "segments"):
        machines = [Machine.from_json(record["machine"]) for record in read_records(root, stage).values()
                    if isinstance(record.get("machine"), dict)]
        if machines:
            jobs[stage] = machine_counts(machines)
    return jobs


def recorded_environment(root) -> tuple[Environment | None, dict]:
    """The environment `root`'s manifest records (None for a manifest that records none) and its config."""
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None, {}
    return Environment.from_manifest(manifest), manifest.get("config") or {}


def environment_changes(root) -> Changes | None:
    """How this environment differs from the one that made `root` (None: its manifest records none)."""
    recorded, config = recorded_environment(root)
    return None if recorded is None else compare(recorded, Environment.here(config))


def rerun_warning(config: dict, results="results") -> str | None:
    """One warning, before any job, when this run's installed versions (or, where the jobs ran where
    Snakemake runs, its CPU kind or GPU model) differ from those that made a text's existing results;
    None when nothing differs or no text has a manifest. A warning, not an error: the artist decides."""
    here, lines = None, []
    for text in config["texts"]:
        root = Path(results, text)
        recorded, _ = recorded_environment(root)
        if recorded is None:
            continue
        here = here or Environment.here(config, with_commit=False)
        changes = compare(recorded, here)
        if changes:
            lines.append(f"  {root}: {'; '.join(changes.named())}")
    if not lines:
        return None
    return ("Warning: this run's environment differs from the one that made the results below; the run goes on, "
            "and results it makes again may differ in their last bits. `machine-imagination verify "
            "results/<text>` prints the command that reinstalls what made them.\n" + "\n".join(lines))
