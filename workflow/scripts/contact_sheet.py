"""Snakemake script: write results/<text>/contact_sheet.png."""
from machine_imagination.files import job_log
from machine_imagination.report.jobs import contact_sheet_job

with job_log(snakemake.log[0]):
    contact_sheet_job(snakemake.config, list(snakemake.input), snakemake.params.captions, snakemake.output[0])
