"""Snakemake script: write results/<text>/summary.tsv."""
import sys

from machine_imagination.pipeline import summary_job

with open(snakemake.log[0], "w") as log:
    sys.stdout = sys.stderr = log
    summary_job(list(snakemake.input), snakemake.output[0])
