"""Snakemake script: fetch one model's weights into the weights cache (machine_imagination.fetch)."""
import sys

from machine_imagination.fetch import fetch

with open(snakemake.log[0], "w", buffering=1) as log:
    sys.stdout = sys.stderr = log
    fetch(snakemake.params.item)
