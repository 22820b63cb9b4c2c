"""Snakemake script: write results/<text>/prompts.tsv."""
from machine_imagination.pipeline import job_log, write_prompts

with job_log(snakemake.log[0]):
    prompts = write_prompts(snakemake.config, snakemake.wildcards.text, snakemake.output[0])
    print(f"{len(prompts)} prompts written to {snakemake.output[0]}")
