"""Snakemake script (rule summarize): write results/<text>/summary.tsv."""
from pathlib import Path

from machine_imagination.files import job_log
from machine_imagination.report.jobs import summary_job

root = Path("results", snakemake.wildcards.text)
with job_log(snakemake.log[0]):
    summary_job([root / "latents" / f"{i:04d}.npz" for i in range(snakemake.params.sentences)], snakemake.output[0])
