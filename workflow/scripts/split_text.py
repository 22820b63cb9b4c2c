"""Snakemake script: write results/<text>/prompts.tsv."""
import sys

from machine_imagination.pipeline import write_prompts

with open(snakemake.log[0], "w") as log:
    sys.stdout = sys.stderr = log
    prompts = write_prompts(snakemake.config, snakemake.wildcards.text, snakemake.output[0])
    print(f"{len(prompts)} prompts written to {snakemake.output[0]}")
