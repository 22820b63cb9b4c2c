"""Snakemake script: write results/<text>/summary.tsv."""
from machine_imagination.pipeline import job_log, summary_job

with job_log(snakemake.log[0]):
    summary_job(list(snakemake.input), snakemake.output[0])
