"""Snakemake script: write the tiny offline models (see machine_imagination.tiny_models)."""
import sys
from pathlib import Path

from machine_imagination.pipeline import tiny_models_job

with open(snakemake.log[0], "w") as log:
    sys.stdout = sys.stderr = log
    tiny_models_job(Path(snakemake.output.generator[0]).parent, Path(snakemake.output.clip[0]).parent,
                    seed=snakemake.params.seed)
