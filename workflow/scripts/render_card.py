"""Snakemake script: encode the title or end card."""
import sys

from machine_imagination.pipeline import card_job

with open(snakemake.log[0], "w") as log:
    sys.stdout = sys.stderr = log
    card_job(snakemake.config, text=snakemake.params.text, frames=snakemake.params.frames,
             segment_path=snakemake.output[0])
