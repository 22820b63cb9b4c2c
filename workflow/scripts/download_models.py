"""Snakemake script: download the named models into their libraries' caches, once (machine_imagination.models.fetch)."""
from machine_imagination.files import job_log
from machine_imagination.models.fetch import download_named

with job_log(snakemake.log[0]):
    download_named(snakemake.params.models, snakemake.output[0])
