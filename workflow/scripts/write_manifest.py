"""Snakemake script: write results/<text>/manifest.json (after every other output of the text)."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.report.jobs import manifest_job

with job_log(snakemake.log[0]):
    manifest_job(snakemake.config, snakemake.wildcards.text, Path(snakemake.output[0]).parent)
