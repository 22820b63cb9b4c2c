"""Snakemake script: encode the title or end card."""
from machine_imagination.pipeline import card_job, job_log

with job_log(snakemake.log[0]):
    card_job(snakemake.config, text=snakemake.params.text, frames=snakemake.params.frames,
             segment_path=snakemake.output[0])
