"""Snakemake script: write results/<text>/prompts.tsv."""
from machine_imagination.files import job_log
from machine_imagination.text import write_prompts

with job_log(snakemake.log[0]):
    write_prompts(snakemake.params.prompts, snakemake.params.clip, snakemake.output[0])
    print(f"{len(snakemake.params.prompts)} prompts written to {snakemake.output[0]}")
