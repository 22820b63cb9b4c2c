"""Snakemake script: write results/<text>/summary.tsv."""
from machine_imagination.files import job_log
from machine_imagination.report.jobs import summary_job

with job_log(snakemake.log[0]):
    summary_job(list(snakemake.input), snakemake.output[0])
