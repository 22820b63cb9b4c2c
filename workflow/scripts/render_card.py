"""Snakemake script: encode the title or end card."""
from machine_imagination.files import job_log
from machine_imagination.film.jobs import card_job

with job_log(snakemake.log[0]):
    card_job(snakemake.config, text=snakemake.params.text, frames=snakemake.params.frames,
             segment_path=snakemake.output[0])
