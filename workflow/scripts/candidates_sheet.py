"""Snakemake script: write results/<text>/candidates.png."""
from machine_imagination.files import job_log
from machine_imagination.report.jobs import candidates_sheet_job

k = snakemake.config["search"]["candidates"]
images = list(snakemake.input.images)
with job_log(snakemake.log[0]):
    candidates_sheet_job(snakemake.config, list(snakemake.input.latents),
                         [images[i : i + k] for i in range(0, len(images), k)], snakemake.output[0])
