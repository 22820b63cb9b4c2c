"""Snakemake script: fetch one model's weights into the weights cache (machine_imagination.fetch)."""
from machine_imagination.fetch import fetch
from machine_imagination.pipeline import job_log

with job_log(snakemake.log[0]):
    fetch(snakemake.params.item)
