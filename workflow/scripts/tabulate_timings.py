"""Snakemake script: the report's table of what each sentence's search and segment took."""
from machine_imagination.files import job_log
from machine_imagination.status import timings_table

with job_log(snakemake.log[0]):
    print(timings_table(snakemake.params.results, snakemake.output[0]).describe())
