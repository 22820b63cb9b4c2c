"""Snakemake script: write results/<text>/contact_sheet.png."""
import sys

from machine_imagination.pipeline import contact_sheet_job

with open(snakemake.log[0], "w") as log:
    sys.stdout = sys.stderr = log
    contact_sheet_job(snakemake.config, list(snakemake.input), snakemake.params.captions, snakemake.output[0])
