"""Snakemake script: write the tiny offline models (see machine_imagination.worlds.tiny)."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.worlds.tiny import write_tiny_models

with job_log(snakemake.log[0]):
    write_tiny_models(Path(snakemake.output.generator[0]).parent, Path(snakemake.output.clip[0]).parent,
                    seed=snakemake.params.seed)
