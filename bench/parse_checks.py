"""What the checks of the input cost when Snakemake reads the workflow: `resolve_project` as a job
re-reads it (models=False) and as the main process reads it (models=True: the model files looked at),
and the captions checked (film.captions.caption_warnings, the main process only), for the corpus
repeated N times (`--copies 200`: 2200 sentences). Reports the median of `--repeats` runs and writes
JSON. Run it on another checkout (PYTHONPATH=<its src>) to compare; a checkout without
caption_warnings reports none for it.

    python bench/parse_checks.py --copies 200 --out bench/results/parse_checks.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
from bench_json import write_json  # noqa: E402


def timed(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=200, help="the corpus this many times, as one text")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the results here (JSON)")
    args = parser.parse_args(argv)

    from machine_imagination.project import resolve_project
    from machine_imagination.worlds.tiny import write_tiny_models

    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "big.txt"
        corpus = (ROOT / "texts" / "the-lighthouse-keeper.txt").read_text()
        text.write_text("\n\n".join([corpus] * args.copies))
        write_tiny_models(Path(tmp) / "g", Path(tmp) / "c")
        config = yaml.safe_load((ROOT / "config" / "offline.yaml").read_text())
        config.update(texts={"big": str(text)})
        config["generator"]["model"], config["clip"]["model"] = f"{tmp}/g", f"{tmp}/c"
        project = resolve_project(config)
        result = {"sentences": len(project.prompts["big"]), "repeats": args.repeats,
                  "job_parse_s": timed(lambda: resolve_project(config, models=False), args.repeats),
                  "main_parse_s": timed(lambda: resolve_project(config, models=True), args.repeats)}
        try:
            from machine_imagination.film.captions import caption_warnings
        except ImportError:
            result["caption_warnings_s"] = None
        else:
            result["caption_warnings_s"] = timed(lambda: caption_warnings(project.config, project.prompts),
                                                 args.repeats)
    print(json.dumps(result, indent=1))
    if args.out:
        write_json(args.out, result, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
