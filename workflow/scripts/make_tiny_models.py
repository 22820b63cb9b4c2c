"""Snakemake script: write the tiny offline models (see machine_imagination.tiny_models)."""
from pathlib import Path

from machine_imagination.pipeline import job_log, tiny_models_job

with job_log(snakemake.log[0]):
    tiny_models_job(Path(snakemake.output.generator[0]).parent, Path(snakemake.output.clip[0]).parent,
                    seed=snakemake.params.seed)
