"""Snakemake script: fetch one model's weights into the weights cache (machine_imagination.models.fetch)."""
from machine_imagination.files import job_log
from machine_imagination.models.fetch import fetch

with job_log(snakemake.log[0]):
    fetch(snakemake.params.item)
