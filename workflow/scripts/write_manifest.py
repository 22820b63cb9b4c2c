"""Snakemake script: write results/<text>/manifest.json (after every other output of the text)."""
import sys
from pathlib import Path

from machine_imagination.pipeline import manifest_job

with open(snakemake.log[0], "w") as log:
    sys.stdout = sys.stderr = log
    manifest_job(snakemake.config, snakemake.wildcards.text, Path(snakemake.output[0]).parent)
